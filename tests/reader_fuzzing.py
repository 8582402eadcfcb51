"""Mutated copies of real ECG files, fed to every reader of ecgjax/ecg/formats/.

The contract under test: a reader returns a record or raises RecordFormatError
naming the file; nothing else escapes, nothing hangs. The mutations are what
damaged archives hold: truncation (an interrupted copy), flipped and overwritten
bytes (bad media), deleted, inserted and duplicated spans (a bad merge), and
changed digits (a header edited by hand or by a buggy exporter: sample counts,
gains, rates, checksums).

Used by tests/test_reader_fuzz.py (hypothesis, a few seconds per reader) and by
`python -m tests.fuzz_readers` (a longer run that counts outcomes).
"""

import dataclasses
import os
import re
import shutil
from collections.abc import Callable

import numpy as np

from ecgjax.ecg.formats import code15, hl7_aecg, muse_xml, physionet, wfdb_format
from ecgjax.ecg.formats.errors import RecordFormatError

KINDS = ("truncate", "flip", "overwrite", "delete", "insert", "duplicate", "digit")


@dataclasses.dataclass(frozen=True)
class Mutation:
  kind: str
  where: float        # position as a fraction of the file
  length: int         # span for delete/duplicate
  payload: bytes      # bytes for flip/overwrite/insert/digit


def mutate(data: bytes, mutations: list[Mutation]) -> bytes:
  out = bytearray(data)
  for m in mutations:
    if not out:
      break
    at = min(int(m.where * len(out)), len(out) - 1)
    payload = m.payload or b"\x00"
    if m.kind == "truncate":
      del out[at:]
    elif m.kind == "flip":
      out[at] ^= payload[0] or 0xFF
    elif m.kind == "overwrite":
      out[at:at + len(payload)] = payload
    elif m.kind == "delete":
      del out[at:at + m.length]
    elif m.kind == "insert":
      out[at:at] = payload
    elif m.kind == "duplicate":
      out[at:at] = out[at:at + m.length]
    elif m.kind == "digit":
      # The first ASCII digit at or after `at` becomes another digit, or a sign.
      for i in range(at, len(out)):
        if 0x30 <= out[i] <= 0x39:
          out[i] = b"0123456789-"[payload[0] % 11]
          break
    else:
      raise ValueError(m.kind)
  return bytes(out)


@dataclasses.dataclass
class Target:
  """One reader: sample file sets, and how to read one written to a directory."""
  name: str
  samples: list[dict[str, bytes]]          # file name -> content, one dict per sample
  read: Callable[[str, dict[str, bytes]], object]   # (directory, files) -> record(s)
  names_file: Callable[[str, dict[str, bytes]], str]  # what a RecordFormatError must name


def _read_files(directory: str, names: list[str]) -> dict[str, bytes]:
  out = {}
  for name in names:
    with open(os.path.join(directory, name), "rb") as f:
      out[name] = f.read()
  return out


def _record_stem(files: dict[str, bytes]) -> str:
  return os.path.splitext(next(n for n in files if n.endswith(".hea")))[0]


def code15_sample() -> dict[str, bytes]:
  """A two-exam CODE-15% part in the real layout (no sample is in ../shared/data)."""
  import io
  import h5py
  rng = np.random.default_rng(0)
  body = rng.normal(0, 0.3, size=(2, 2800, 12)).astype(np.float32)
  tracings = np.pad(body, ((0, 0), (648, 648), (0, 0)))
  buffer = io.BytesIO()
  with h5py.File(buffer, "w") as f:
    f["exam_id"] = np.array([11, 12], np.int64)
    f["tracings"] = tracings
  return {"exams_part0.hdf5": buffer.getvalue()}


def _read_code15(directory: str, files: dict[str, bytes]):
  part = code15.Code15Part(os.path.join(directory, "exams_part0.hdf5"))
  try:
    exam = {"patient_id": "1", "age": "50", "is_male": "True", "AF": "True"}
    return [part.record(i, exam) for i in range(len(part))]
  finally:
    part.close()


def targets(shared_data: str) -> dict[str, Target]:
  ptbxl = os.path.join(shared_data, "ptbxl")
  wfdb_samples = [
      _read_files(os.path.join(ptbxl, "records100", "00000"), ["00001_lr.hea", "00001_lr.dat"]),
      _read_files(os.path.join(ptbxl, "records500", "00000"), ["00002_hr.hea", "00002_hr.dat"])]
  cinc = os.path.join(shared_data, "cinc2020")
  physionet_samples = [_read_files(cinc, [f"{r}.hea", f"{r}.mat"]) for r in ("A0001", "A0002")]
  muse_dir = os.path.join(shared_data, "muse_xml")
  hl7_dir = os.path.join(shared_data, "hl7_aecg")

  def xml_samples(directory):
    return [_read_files(directory, [name]) for name in sorted(os.listdir(directory))
            if name.endswith(".xml")]

  def only(files):
    return next(iter(files))

  return {
      "wfdb": Target("wfdb", wfdb_samples,
                     lambda d, f: wfdb_format.read_wfdb(os.path.join(d, _record_stem(f))),
                     lambda d, f: _record_stem(f)),
      "physionet": Target("physionet", physionet_samples,
                          lambda d, f: physionet.read_physionet(os.path.join(d, _record_stem(f))),
                          lambda d, f: _record_stem(f)),
      "muse_xml": Target("muse_xml", xml_samples(muse_dir),
                         lambda d, f: muse_xml.read_muse_xml(os.path.join(d, only(f))),
                         lambda d, f: only(f)),
      "hl7_aecg": Target("hl7_aecg", xml_samples(hl7_dir),
                         lambda d, f: hl7_aecg.read_hl7_aecg(os.path.join(d, only(f))),
                         lambda d, f: only(f)),
      "code15": Target("code15", [code15_sample()], _read_code15,
                       lambda d, f: "exams_part0.hdf5"),
  }


class EscapedError(AssertionError):
  """A reader let something other than RecordFormatError out, or named no file."""


def run_once(target: Target, directory: str, sample: int, file_index: int,
             mutations: list[Mutation]) -> str:
  """Writes one mutated sample into `directory` (emptied first) and reads it.

  Returns the outcome: 'read' or 'RecordFormatError: <reason's first words>';
  raises EscapedError for anything else.
  """
  shutil.rmtree(directory, ignore_errors=True)
  os.makedirs(directory)
  files = dict(target.samples[sample % len(target.samples)])
  victim = sorted(files)[file_index % len(files)]
  files[victim] = mutate(files[victim], mutations)
  for name, content in files.items():
    with open(os.path.join(directory, name), "wb") as f:
      f.write(content)
  try:
    target.read(directory, files)
  except RecordFormatError as e:
    if target.names_file(directory, files) not in e.path:
      raise EscapedError(f"{target.name}: RecordFormatError names {e.path!r}, not the file "
                         f"({mutations} on {victim})") from e
    # The reason's first words, numbers masked, so outcomes count by kind.
    return "RecordFormatError: " + re.sub(r"\d+", "#", " ".join(e.reason.split()[:3]))
  except Exception as e:  # the bug this module looks for
    raise EscapedError(f"{target.name}: {type(e).__name__}: {e} ({mutations} on {victim})") from e
  return "read"
