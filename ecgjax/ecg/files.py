"""Finding ECG files and reading each into records, whatever its format.

Formats, by extension and, for XML, by content:
- WFDB: a `.hea` header with its `.dat` (formats 16, 212) or `.mat` (the
  PhysioNet/CinC `16+24`) signal file; the header names the signal file.
- GE MUSE XML (root `<RestingECG>`) and HL7 aECG (root `<AnnotatedECG>`):
  `.xml`, parsed with defusedxml by the readers.
- CODE-15% HDF5 (`.hdf5`, `.h5`): every tracing, one record per exam_id.
- Arrays: `.npy` (float or int, samples x leads) and `.csv` (one row per sample,
  one column per lead, an optional header row of lead names), in microvolts.
  Neither says its sampling rate, so they are read only with `sampling_rate`;
  lead names come from `leads` (or a CSV header).

A directory is walked recursively; files of no ECG format in it (READMEs,
label tables, the `.dat` of a `.hea` already taken) are counted, not scored,
and `.npy`/`.csv` in it are taken only when a sampling rate was given. A file
named explicitly is always tried, and one of an unknown format fails with that
reason. Readers raise RecordFormatError naming the file and the reason.
"""

import collections
import dataclasses
import os

import numpy as np

from ecgjax.ecg import leads as leads_lib, record as record_lib
from ecgjax.ecg.formats import code15, hl7_aecg, muse_xml, wfdb_format
from ecgjax.ecg.formats.errors import RecordFormatError

ARRAY_EXTENSIONS = (".npy", ".csv")
HDF5_EXTENSIONS = (".hdf5", ".h5")
SIGNAL_FILE_EXTENSIONS = (".dat", ".mat")    # the data half of a WFDB record


@dataclasses.dataclass(frozen=True)
class ArrayLayout:
  """How to read `.npy`/`.csv`: what the files themselves do not say."""
  sampling_rate: float | None = None
  leads: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Found:
  path: str
  kind: str       # wfdb | xml | hdf5 | array | unknown


def _kind(path: str) -> str:
  extension = os.path.splitext(path)[1].lower()
  if extension == ".hea":
    return "wfdb"
  if extension == ".xml":
    return "xml"
  if extension in HDF5_EXTENSIONS:
    return "hdf5"
  if extension in ARRAY_EXTENSIONS:
    return "array"
  if extension in SIGNAL_FILE_EXTENSIONS:
    return "signal_file"
  return "unknown"


def discover(paths, layout: ArrayLayout) -> tuple[list[Found], collections.Counter]:
  """Files to score, in a stable order, and the count of files passed over by kind."""
  found, passed_over = [], collections.Counter()
  for path in paths:
    if os.path.isdir(path):
      for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
          full = os.path.join(root, name)
          kind = _kind(full)
          if kind in ("wfdb", "xml", "hdf5") or (kind == "array" and layout.sampling_rate):
            found.append(Found(full, kind))
          elif kind == "signal_file" and os.path.exists(os.path.splitext(full)[0] + ".hea"):
            continue                         # read through its header
          else:
            passed_over[os.path.splitext(name)[1].lower() or name] += 1
    else:
      kind, header = _kind(path), os.path.splitext(path)[0] + ".hea"
      if kind == "signal_file" and os.path.exists(header):
        found.append(Found(header, "wfdb"))       # a .dat or .mat named for its record
      else:
        found.append(Found(path, kind))
  return found, passed_over


def _sniff_xml(path: str) -> str:
  try:
    with open(path, "rb") as f:
      head = f.read(4096)
  except OSError as e:
    raise RecordFormatError(path, f"cannot read: {e.strerror or e}") from e
  if b"<RestingECG" in head:
    return "muse"
  if b"<AnnotatedECG" in head:
    return "hl7"
  raise RecordFormatError(path, "XML that is neither GE MUSE (<RestingECG>) nor HL7 aECG "
                          "(<AnnotatedECG>)")


def _array_record(path: str, layout: ArrayLayout, fill_missing: bool,
                  naming: leads_lib.LeadNaming) -> record_lib.EcgRecord:
  if not layout.sampling_rate:
    raise RecordFormatError(path, "a .npy or .csv ECG needs --sampling_rate (and --leads)")
  names = list(layout.leads)
  try:
    if path.lower().endswith(".npy"):
      signal = np.load(path, allow_pickle=False)
    else:
      with open(path, encoding="utf-8") as f:
        first = f.readline()
      has_header = any(c.isalpha() for c in first)
      if has_header and not names:
        names = [n.strip().strip('"') for n in first.split(",")]
      signal = np.loadtxt(path, delimiter=",", skiprows=1 if has_header else 0, ndmin=2)
  except (OSError, ValueError) as e:
    raise RecordFormatError(path, f"unreadable array: {e}") from e
  if signal.ndim != 2 or not np.issubdtype(signal.dtype, np.number):
    raise RecordFormatError(path, f"expected a numeric (samples, leads) array, got "
                            f"{signal.dtype} {signal.shape}")
  if not names:
    raise RecordFormatError(path, "lead names unknown: pass --leads (e.g. I,II,V1)")
  if len(names) != signal.shape[1]:
    raise RecordFormatError(path, f"{signal.shape[1]} columns, {len(names)} lead names "
                            f"({','.join(names)})")
  renaming = naming.renaming(names)
  names = [renaming.get(n, n) for n in names]
  unknown = [n for n in names if leads_lib.canonical_lead_name(n) is None]
  if unknown:
    raise RecordFormatError(path, f"not standard lead names: {unknown}")
  try:
    standard, filled = leads_lib.to_standard_order(signal.astype(np.float32), names, fill_missing)
  except leads_lib.MissingLeadsError as e:
    raise RecordFormatError(path, str(e)) from e
  return record_lib.EcgRecord(
      signal=standard, sampling_rate=float(layout.sampling_rate),
      lead_names=leads_lib.STANDARD_LEADS,
      record_id=os.path.splitext(os.path.basename(path))[0], path=path, filled_leads=filled,
      renamed_leads=tuple(f"{k}={v}" for k, v in renaming.items()))


def read(found: Found, layout: ArrayLayout, fill_missing: bool = False,
         naming: leads_lib.LeadNaming = leads_lib.LeadNaming()):
  """Yields (record name, EcgRecord) for every ECG in the file, or (record name,
  RecordFormatError) for one ECG of a multi-ECG file that cannot be read; raises
  RecordFormatError for a file that cannot be read at all. `naming` renames leads
  whose names are not standard (WFDB signals, array columns); XML and HDF5 formats
  name their leads by standard."""
  path = found.path
  if not os.path.exists(path):
    raise RecordFormatError(path, "no such file")
  if found.kind == "wfdb":
    yield os.path.splitext(os.path.basename(path))[0], wfdb_format.read_wfdb(
        path, fill_missing_leads=fill_missing, naming=naming)
  elif found.kind == "xml":
    reader = {"muse": muse_xml.read_muse_xml, "hl7": hl7_aecg.read_hl7_aecg}[_sniff_xml(path)]
    record = reader(path, fill_missing_leads=fill_missing)
    yield record.record_id, record
  elif found.kind == "hdf5":
    part = code15.Code15Part(path)
    try:
      for index in range(len(part)):
        try:
          yield str(int(part.exam_ids[index])), part.record(index, {})
        except RecordFormatError as e:      # one bad tracing; the others go on
          yield str(int(part.exam_ids[index])), e
    finally:
      part.close()
  elif found.kind == "array":
    record = _array_record(path, layout, fill_missing, naming)
    yield record.record_id, record
  elif found.kind == "signal_file":
    raise RecordFormatError(path, "a WFDB signal file without its .hea header beside it")
  else:
    raise RecordFormatError(path, f"unknown ECG format (extension "
                            f"{os.path.splitext(path)[1] or 'none'!r}): expected .hea, .xml "
                            f"(MUSE or HL7 aECG), .hdf5/.h5 (CODE-15%), .npy or .csv")
