"""One ECG in memory, as every reader returns it.

The signal is float32 microvolts, (samples, leads), in `leads.STANDARD_LEADS`
order once a reader has finished. `diagnoses` are the source's own statements
(PTB-XL SCP codes, PhysioNet abbreviations or SNOMED codes, MUSE confirmed
statement lines); the label vocabulary maps them. `patient_id` is the source's
raw identifier: builders only ever store its salted hash.
"""

import dataclasses

import numpy as np


@dataclasses.dataclass
class EcgRecord:
  signal: np.ndarray                 # float32 (samples, leads), µV
  sampling_rate: float               # Hz
  lead_names: tuple[str, ...]
  record_id: str
  path: str = ""
  diagnoses: tuple[str, ...] = ()
  machine_statements: tuple[str, ...] = ()
  patient_id: str | None = None      # raw; hashed with a salt before it is stored
  age: float = -1.0                  # years; -1 unknown
  sex: str = "unknown"               # female | male | unknown
  filled_leads: tuple[str, ...] = () # leads the file lacks, zero-filled on request
  renamed_leads: tuple[str, ...] = () # "FILE_NAME=LEAD" for each lead renamed on reading

  @property
  def duration(self) -> float:
    return self.signal.shape[0] / self.sampling_rate


SEXES = ("female", "male", "unknown")


def normalise_sex(value) -> str:
  """'M', 'Male', 'MALE', 0/1 codes are the caller's to translate; text here."""
  text = str(value or "").strip().lower()
  if text in ("m", "male", "man"):
    return "male"
  if text in ("f", "female", "woman"):
    return "female"
  return "unknown"


def parse_age(value) -> float:
  """Years as float; -1 for missing, non-numeric, negative or implausible ages."""
  try:
    age = float(str(value).strip())
  except (TypeError, ValueError):
    return -1.0
  return age if 0 <= age < 130 else -1.0
