"""An archive of ECG files without labels: what self-supervised pretraining reads.

An item is one file: a WFDB record (its `.hea`), a GE MUSE or an HL7 aECG XML export
(ecg.files reads each). The archive's labels, if it has any, are not read: every record
maps to no label. Patients: where MANUAL_DIR/patients.csv maps records to patients
(`record,patient` columns, the record named by its path relative to MANUAL_DIR without
extension), that is the patient; a MUSE export's own PatientID otherwise; else each
record is its own patient.
"""

import csv
import dataclasses
import io
import os
import re

from ecgjax.ecg import files, labels as vocab
from ecgjax.ecg.archives.processing import ArchiveReader, relative_path
from ecgjax.ecg.formats.errors import RecordFormatError

PATIENTS_FILE = "patients.csv"
RECORDS_FILE = "RECORDS"
# Only to route a MUSE file to its patient's split before it is parsed.
MUSE_PATIENT_ID = re.compile(rb"<PatientID>\s*([^<]*?)\s*</PatientID>")


def record_name(path: str, root: str) -> str:
  """A file's record name: its path under the archive's root, without extension."""
  return os.path.splitext(relative_path(path, root))[0]


def read_patients(path: str, text: str) -> dict[str, str]:
  """patients.csv -> {record name: patient}; a malformed row is an error naming it."""
  rows = csv.DictReader(io.StringIO(text))
  if not rows.fieldnames or not {"record", "patient"} <= set(rows.fieldnames):
    raise ValueError(f"{path}: expected the columns record,patient, got {rows.fieldnames}")
  out = {}
  for number, row in enumerate(rows, start=2):
    record, patient = (row["record"] or "").strip(), (row["patient"] or "").strip()
    if not record or not patient:
      raise ValueError(f"{path}: line {number}: a record and its patient are both needed")
    out[record] = patient
  return out


@dataclasses.dataclass(frozen=True)
class UnlabelledReader(ArchiveReader):
  """(file path, kind, patient or None) -> its record, and no label. The item's patient
  (patients.csv's, or a MUSE file's) is the record's, so the stored key is the one its
  split was chosen by; without one the record is its own patient."""
  root: str

  def path(self, item):
    return relative_path(item[0], self.root)

  def read(self, item):
    path, kind, patient = item
    records = list(files.read(files.Found(path, kind), files.ArrayLayout()))
    if len(records) != 1:
      raise RecordFormatError(path, f"{len(records)} ECGs in one file; one expected")
    _, record = records[0]
    if isinstance(record, RecordFormatError):
      raise record
    record.record_id = record_name(path, self.root)
    record.path = self.path(item)
    record.patient_id = patient
    return record, vocab.Mapped(set(), [])
