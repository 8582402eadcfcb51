"""CODE-15% (Ribeiro et al.): HDF5 parts joined to exams.csv by exam_id.

Each `exams_partN.hdf5` holds `exam_id` (N,) and `tracings` (N, 4096, 12) at
400 Hz in the lead order DI, DII, DIII, aVR, aVL, aVF, V1-V6; 7 s and 10 s
recordings are zero-padded symmetrically to 4096 samples, and the padding is
trimmed here. Amplitudes: the dataset README says "scale 1e-4V ... multiplied by
1000 to obtain V", which contradicts itself; the stored values are millivolts
in scale (an R wave near 1), so they are read as mV (`units_to_microvolts`).
exams.csv gives age, is_male, patient_id and the six labels 1dAVb, RBBB, LBBB,
SB, AF, ST, plus normal_ecg.
"""

import csv
import os

import numpy as np

from ecgjax.ecg import leads as leads_lib, record as record_lib
from ecgjax.ecg.formats.errors import RecordFormatError

SAMPLING_RATE = 400.0
LEADS = ("DI", "DII", "DIII", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6")
LABEL_COLUMNS = ("1dAVb", "RBBB", "LBBB", "SB", "AF", "ST", "normal_ecg")


def read_exams_csv(path: str) -> dict[int, dict[str, str]]:
  """exam_id -> its row of exams.csv."""
  try:
    with open(path, newline="") as f:
      rows = list(csv.DictReader(f))
  except OSError as e:
    raise RecordFormatError(path, f"cannot read: {e.strerror or e}") from e
  if rows and "exam_id" not in rows[0]:
    raise RecordFormatError(path, "no exam_id column")
  return {int(r["exam_id"]): r for r in rows}


def _true(value: str) -> bool:
  return str(value).strip().lower() in ("true", "1", "1.0")


def trim_zero_padding(tracing: np.ndarray) -> np.ndarray:
  nonzero = np.nonzero(np.any(tracing != 0, axis=1))[0]
  if nonzero.size == 0:
    return tracing[:0]
  return tracing[nonzero[0]:nonzero[-1] + 1]


class Code15Part:
  """One HDF5 part, read exam by exam (h5py reads only the rows asked for)."""

  def __init__(self, path: str, units_to_microvolts: float = 1000.0):
    import h5py
    self.path = path
    self.scale = units_to_microvolts
    try:
      self._file = h5py.File(path, "r")
      self.exam_ids = np.asarray(self._file["exam_id"][:], dtype=np.int64)
      self._tracings = self._file["tracings"]
    except (OSError, KeyError) as e:
      raise RecordFormatError(path, f"not a CODE-15% HDF5 part: {e}") from e
    if self._tracings.ndim != 3 or self._tracings.shape[2] != 12:
      raise RecordFormatError(path, f"tracings of shape {self._tracings.shape}, expected "
                              "(N, samples, 12)")

  def __len__(self) -> int:
    return len(self.exam_ids)

  def close(self) -> None:
    self._file.close()

  def record(self, index: int, exam: dict[str, str] | None) -> record_lib.EcgRecord:
    exam_id = int(self.exam_ids[index])
    where = f"{self.path}[exam_id={exam_id}]"
    if exam is None:
      raise RecordFormatError(where, "exam_id not in exams.csv")
    tracing = np.asarray(self._tracings[index], dtype=np.float32)
    if not np.all(np.isfinite(tracing)):
      raise RecordFormatError(where, "non-finite (NaN) samples")
    tracing = trim_zero_padding(tracing)
    if tracing.shape[0] < SAMPLING_RATE:     # under a second left after trimming
      raise RecordFormatError(where, f"only {tracing.shape[0]} non-padding samples")
    with np.errstate(over="ignore"):
      microvolts = tracing * self.scale
    if not np.all(np.isfinite(microvolts)):   # found by fuzzing: values near float32's max
      raise RecordFormatError(where, "samples overflow when scaled to microvolts")
    signal, _ = leads_lib.to_standard_order(microvolts, LEADS)   # all 12 stored
    sex = "male" if _true(exam.get("is_male")) else (
        "female" if str(exam.get("is_male", "")).strip() else "unknown")
    return record_lib.EcgRecord(
        signal=signal, sampling_rate=SAMPLING_RATE, lead_names=leads_lib.STANDARD_LEADS,
        record_id=str(exam_id), path=os.path.basename(self.path),
        diagnoses=tuple(c for c in LABEL_COLUMNS if _true(exam.get(c, ""))),
        patient_id=str(exam.get("patient_id") or "") or None,
        age=record_lib.parse_age(exam.get("age")), sex=sex)
