"""MIMIC-IV-ECG: a (subject, study, path, machine report) item -> record and labels."""

import dataclasses

from ecgjax.ecg import labels as vocab
from ecgjax.ecg.archives.processing import ArchiveReader
from ecgjax.ecg.formats import wfdb_format
from ecgjax.ecg.formats.errors import RecordFormatError


@dataclasses.dataclass(frozen=True)
class MimicReader(ArchiveReader):
  """(subject, study, path, report lines) -> record, labels from the report."""
  manual_dir: str
  rules: vocab.StatementRules

  def path(self, item):
    return item[2]

  def read(self, item):
    subject, study, path, report = item
    full = f"{self.manual_dir.rstrip('/')}/{path}"
    if report is None:
      raise RecordFormatError(full, "study_id not in machine_measurements.csv")
    record = wfdb_format.read_wfdb(full)
    record.record_id, record.path, record.patient_id = study, path, subject
    record.machine_statements = report
    return record, self.rules.map(report)
