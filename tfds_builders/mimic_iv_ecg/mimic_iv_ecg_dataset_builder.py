"""mimic_iv_ecg: MIMIC-IV-ECG 1.0 (Gow et al., PhysioNet 2023): ~800,000 ECGs of ~160,000 patients.

  ECGJAX_PATIENT_SALT=... tfds build tfds_builders/mimic_iv_ecg --manual_dir=RAW --data_dir=DIR

RAW is the downloaded dataset: record_list.csv (subject_id, study_id, path),
machine_measurements.csv (report_0 ... report_17: the cart's statements) and
files/pNNNN/pSUBJECT/sSTUDY/STUDY.{hea,dat} (WFDB format 16, 500 Hz, 10 s).
Labels come from the machine report lines through the same statement rules as
MUSE (RAW/statement_rules.csv overrides the packaged ones); lines the rules do
not map are counted in the build report with digits masked. Splits are by
subject (80/10/10 by the salted key's hash); MIMIC is credentialed clinical
data, so ECGJAX_PATIENT_SALT is required.
"""

import csv
import io

import tensorflow_datasets as tfds

from ecgjax.ecg.archives.mimic import MimicReader
from tfds_builders import ecg_archive

REPORT_COLUMNS = tuple(f"report_{i}" for i in range(18))


class Builder(ecg_archive.EcgArchiveBuilder):
  """MIMIC-IV-ECG WFDB records with labels from the machine reports."""

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {"1.0.0": "First release.",
                   "1.1.0": "Child labels imply parents (labels.with_implied); annotated_labels and recorded_leads metadata."}
  BUILDER_CONFIGS = ecg_archive.vocabulary_configs()
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  MIMIC-IV-ECG needs PhysioNet credentialed access:
  https://physionet.org/content/mimic-iv-ecg/1.0/. Download it (record_list.csv,
  machine_measurements.csv, files/) and pass its directory as --manual_dir, with
  ECGJAX_PATIENT_SALT set to a secret string.
  """

  def _items(self, manual_dir):
    record_list = manual_dir / "record_list.csv"
    measurements = manual_dir / "machine_measurements.csv"
    for required in (record_list, measurements):
      if not required.exists():
        raise FileNotFoundError(f"{required} not found.\n{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
    reports = {}
    for row in csv.DictReader(io.StringIO(measurements.read_text())):
      reports[row["study_id"]] = tuple(row[c].strip() for c in REPORT_COLUMNS
                                       if row.get(c) and row[c].strip())
    self._rules = ecg_archive.statement_rules(manual_dir)
    self._manual_dir = str(manual_dir)
    items = [(row["subject_id"], row["study_id"], row["path"], reports.get(row["study_id"]))
             for row in csv.DictReader(io.StringIO(record_list.read_text()))]
    return self._split_by_patient(items, lambda item: item[0], salt=self._salt)

  def _reader(self):
    return MimicReader(self._manual_dir, self._rules)
