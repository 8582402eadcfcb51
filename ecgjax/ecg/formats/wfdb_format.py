"""WFDB records: PTB-XL and MIMIC-IV-ECG (format 16), format 212, and the
PhysioNet/CinC MATLAB v4 records (`.mat` with `16+24`: format 16 after a
24-byte MATLAB header).

Physical value = (digital - baseline) / gain, in the header's units (mV or µV).
Single-segment records with one signal file in format 16 or 212 take a fast
path: a small header parser plus `numpy.frombuffer`. `wfdb.rdheader` spends
~6 ms per 12-lead header in pandas indexing, capping a core near 190 ECG/s
(benchmarks/format_readers.py), against the 500 ECG/s per core a 1.6-million
record build needs. Everything else (multi-segment records, other formats)
goes through `wfdb.rdrecord`, and a test holds the fast path to wfdb's values
on every real record in ../shared/data.
"""

import dataclasses
import os
import re

import numpy as np

from ecgjax.ecg import leads as leads_lib, record as record_lib
from ecgjax.ecg.formats.errors import RecordFormatError

MIN_SAMPLING_RATE = 50.0      # below this a QRS (~100 ms) is a few samples
MAX_SAMPLING_RATE = 20_000.0
_INVALID = {"16": -32768, "212": -2048}
_UNIT_TO_MICROVOLT = {"mv": 1000.0, "uv": 1.0, "µv": 1.0, "v": 1e6, "nu": None}
# filename format[xN][:skew][+offset] gain[(baseline)][/units] adcres adczero init checksum blocksize desc
_SIGNAL_LINE = re.compile(
    r"^(?P<file>\S+)\s+(?P<fmt>\d+)(?:x\d+)?(?::\d+)?(?:\+(?P<offset>\d+))?"
    r"(?:\s+(?P<gain>[-+0-9.eE]+)(?:\((?P<baseline>-?\d+)\))?(?:/(?P<units>\S+))?"
    r"(?:\s+(?P<adcres>-?\d+)(?:\s+(?P<adczero>-?\d+)(?:\s+(?P<init>-?\d+)"
    r"(?:\s+(?P<checksum>-?\d+)(?:\s+(?P<block>-?\d+)(?:\s+(?P<name>.+))?)?)?)?)?)?)?\s*$")


@dataclasses.dataclass
class Signal:
  file: str
  fmt: str
  offset: int
  gain: float
  baseline: int
  units: str
  checksum: int | None
  name: str


@dataclasses.dataclass
class Header:
  record_name: str
  sampling_rate: float
  num_samples: int | None
  signals: list[Signal]
  comments: list[str]
  segmented: bool


def parse_header(text: str, path: str) -> Header:
  lines = [ln.strip() for ln in text.splitlines()]
  comments = [ln[1:].strip() for ln in lines if ln.startswith("#")]
  body = [ln for ln in lines if ln and not ln.startswith("#")]
  if not body:
    raise RecordFormatError(path, "empty WFDB header")
  fields = body[0].split()
  if len(fields) < 2:
    raise RecordFormatError(path, f"bad WFDB record line {body[0]!r}")
  name, segmented = fields[0], "/" in fields[0]
  try:
    nsig = int(fields[1])
    fs = float(fields[2].split("/")[0]) if len(fields) > 2 else 250.0
    nsamp = int(fields[3]) if len(fields) > 3 else None
  except ValueError as e:
    raise RecordFormatError(path, f"bad WFDB record line {body[0]!r}") from e
  signals = []
  if not segmented:
    if len(body) - 1 < nsig:
      raise RecordFormatError(path, f"header declares {nsig} signals but lists {len(body) - 1}")
    for line in body[1:1 + nsig]:
      m = _SIGNAL_LINE.match(line)
      if not m:
        raise RecordFormatError(path, f"bad WFDB signal line {line!r}")
      try:   # the pattern admits digit runs such as '1000.1000.0' that are no number
        gain = float(m["gain"]) if m["gain"] else 200.0
        adczero = int(m["adczero"] or 0)
        signals.append(Signal(
            file=m["file"], fmt=m["fmt"], offset=int(m["offset"] or 0),
            gain=gain if gain != 0 else 200.0,
            baseline=int(m["baseline"]) if m["baseline"] is not None else adczero,
            units=(m["units"] or "mV"), checksum=int(m["checksum"]) if m["checksum"] else None,
            name=(m["name"] or "").strip()))
      except ValueError as e:
        raise RecordFormatError(path, f"bad WFDB signal line {line!r}") from e
  return Header(name, fs, nsamp, signals, comments, segmented)


def read_header(path: str) -> Header:
  """Parses NAME.hea (`path` with or without the extension)."""
  hea = path if path.endswith(".hea") else path + ".hea"
  try:
    with open(hea, encoding="latin-1") as f:
      return parse_header(f.read(), hea)
  except OSError as e:
    raise RecordFormatError(hea, f"cannot read header: {e.strerror or e}") from e


def _decode_212(raw: bytes, count: int) -> np.ndarray:
  """Format 212: pairs of 12-bit two's-complement samples packed in 3 bytes."""
  b = np.frombuffer(raw[:(count + 1) // 2 * 3], dtype=np.uint8).reshape(-1, 3).astype(np.int16)
  first = b[:, 0] | ((b[:, 1] & 0x0F) << 8)
  second = b[:, 2] | ((b[:, 1] & 0xF0) << 4)
  out = np.stack([first, second], axis=1).reshape(-1)[:count]
  return np.where(out > 2047, out - 4096, out).astype(np.int16)


def _fast_path_applies(h: Header) -> bool:
  return (not h.segmented and h.signals and h.num_samples is not None
          and len({s.file for s in h.signals}) == 1
          and len({(s.fmt, s.offset) for s in h.signals}) == 1
          and h.signals[0].fmt in _INVALID)


def _read_digital_fast(h: Header, directory: str, path: str) -> np.ndarray:
  sig0 = h.signals[0]
  data_path = os.path.join(directory, sig0.file)
  try:
    with open(data_path, "rb") as f:
      raw = f.read()
  except OSError as e:
    raise RecordFormatError(data_path, f"cannot read signal file: {e.strerror or e}") from e
  nsig, count = len(h.signals), h.num_samples * len(h.signals)
  raw = raw[sig0.offset:]
  need = count * 2 if sig0.fmt == "16" else (count + 1) // 2 * 3
  if len(raw) < need:
    raise RecordFormatError(data_path, f"truncated: {len(raw)} bytes of signal data, the "
                            f"header's {h.num_samples} samples x {nsig} leads need {need}")
  if sig0.fmt == "16":
    digital = np.frombuffer(raw, dtype="<i2", count=count)
  else:
    digital = _decode_212(raw, count)
  return digital.reshape(h.num_samples, nsig)


def _read_digital_wfdb(record_path: str, h: Header) -> np.ndarray:
  try:
    import wfdb  # the general path: any format, multi-segment records
  except ImportError:
    raise RecordFormatError(
        record_path, f"a WFDB record the built-in reader does not read (format "
        f"{', '.join(sorted({s.fmt for s in h.signals})) or 'multi-segment'}) needs the wfdb "
        "library: pip install 'ecgjax[wfdb]' (in a checkout: pip install -e '.[wfdb]')"
    ) from None
  try:
    rec = wfdb.rdrecord(record_path, physical=False, return_res=32)
  except Exception as e:   # wfdb raises many types for malformed input
    raise RecordFormatError(record_path, f"unreadable WFDB record: {e}") from e
  if rec.d_signal is None:
    raise RecordFormatError(record_path, "multi-segment record with no signal")
  return rec.d_signal


def read_wfdb(record_path: str, *, verify_checksum: bool = True,
              fill_missing_leads: bool = False,
              naming: leads_lib.LeadNaming = leads_lib.LeadNaming()
              ) -> record_lib.EcgRecord:
  """A WFDB record (`record_path` without extension) as an EcgRecord in µV.

  `fill_missing_leads`: standard leads the record lacks are zeros (named in
  `filled_leads`) instead of an error. `naming` renames signals whose header name
  is not a lead name (CinC 2017's one lead, `ECG`, is lead I), named in
  `renamed_leads`.

  Header comments are kept in `diagnoses` only by the PhysioNet reader, which
  knows what they mean; here they are ignored.
  """
  record_path = record_path[:-4] if record_path.endswith(".hea") else record_path
  h = read_header(record_path)
  if not (MIN_SAMPLING_RATE <= h.sampling_rate <= MAX_SAMPLING_RATE):
    raise RecordFormatError(record_path, f"unsupported sampling rate {h.sampling_rate:g} Hz "
                            f"(supported {MIN_SAMPLING_RATE:g}-{MAX_SAMPLING_RATE:g} Hz)")
  if _fast_path_applies(h):
    digital = _read_digital_fast(h, os.path.dirname(record_path), record_path)
  else:
    digital = _read_digital_wfdb(record_path, h)
  if digital.shape[0] == 0:
    raise RecordFormatError(record_path, "no samples")
  if h.signals and digital.shape[1] != len(h.signals):
    raise RecordFormatError(record_path, f"{digital.shape[1]} signals read, header lists "
                            f"{len(h.signals)}")
  invalid = _INVALID.get(h.signals[0].fmt) if h.signals else None
  if invalid is not None and np.any(digital == invalid):
    bad = sorted({h.signals[j].name for j in np.nonzero(np.any(digital == invalid, axis=0))[0]})
    raise RecordFormatError(record_path, f"invalid (missing, NaN) samples in leads {bad}")
  if verify_checksum:
    # A checksum of 0 is taken as not recorded: writers that do not compute it
    # (the PhysioNet/CinC 2017 MATLAB writer) put 0 there. A corrupt record whose
    # header says 0 then goes unnoticed, but only one in 65,536 sums to 0 anyway.
    sums = digital.astype(np.int64).sum(axis=0) % 65536
    for j, s in enumerate(h.signals):
      if s.checksum and sums[j] != s.checksum % 65536:
        raise RecordFormatError(record_path, f"checksum mismatch in lead {s.name!r}: "
                                f"header {s.checksum}, data {sums[j]}")
  scale = []
  for s in h.signals:
    factor = _UNIT_TO_MICROVOLT.get(s.units.lower())
    if factor is None:
      raise RecordFormatError(record_path, f"lead {s.name!r} in unsupported units {s.units!r}")
    scale.append(factor / s.gain)
  baseline = np.array([s.baseline for s in h.signals], dtype=np.float32)
  microvolts = (digital.astype(np.float32) - baseline) * np.asarray(scale, dtype=np.float32)
  aliases = naming.renaming([s.name for s in h.signals])
  names = [aliases.get(s.name, s.name) for s in h.signals]
  try:
    signal, filled = leads_lib.to_standard_order(microvolts, names, fill_missing_leads)
  except leads_lib.MissingLeadsError as e:
    raise RecordFormatError(record_path, str(e)) from e
  return record_lib.EcgRecord(signal=signal.astype(np.float32), sampling_rate=h.sampling_rate,
                              lead_names=leads_lib.STANDARD_LEADS,
                              record_id=os.path.basename(record_path), path=record_path,
                              filled_leads=filled,
                              renamed_leads=tuple(f"{s.name}={aliases[s.name]}"
                                                  for s in h.signals if s.name in aliases))
