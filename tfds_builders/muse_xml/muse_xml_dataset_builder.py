"""muse_xml: a hospital's GE MUSE resting-ECG XML export (the founding paper's source).

  ECGJAX_PATIENT_SALT=... tfds build tfds_builders/muse_xml --manual_dir=RAW --data_dir=DIR

RAW is a directory tree of MUSE XML files (any depth). Labels come from the
over-reader's confirmed statements (`Diagnosis`) through regular-expression
rules: the packaged ecgjax/ecg/labels/muse_statement_rules.csv, or RAW/
statement_rules.csv when present (same `pattern,label` columns). Extra labels
per file (e.g. a registry's hypertrophic cardiomyopathy or amyloidosis
diagnoses) come from the CSV named by ECGJAX_EXTRA_LABELS: a `file` column with
paths relative to RAW and one 0/1 column per extra label, appended to the 68
vocabulary labels. The label space is read when the builder is created, so the
variable must be set for `tfds build`.

Patients are keyed by HMAC-SHA256 of `PatientID` with ECGJAX_PATIENT_SALT
(required); names, birth dates and other demographics are never read, and
unmapped statements are reported with digits masked. Splits are by patient
(80/10/10 by the key's hash). Configs: 500 Hz and 100 Hz, 10 s.
"""

import re

import tensorflow as tf
import tensorflow_datasets as tfds

from ecgjax.ecg import labels as vocab, patients
from ecgjax.ecg.archives.muse import MuseReader
from tfds_builders import ecg_archive

# Only to route a file to its patient's split before it is parsed; the stored key
# comes from the parsed file (the same text for any well-formed export).
_PATIENT_ID = re.compile(rb"<PatientID>\s*([^<]*?)\s*</PatientID>")


class Builder(ecg_archive.EcgArchiveBuilder):
  """GE MUSE XML files -> TFRecords with vocabulary (+ extra) labels."""

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {"1.0.0": "First release.",
                   "1.1.0": "Child labels imply parents (labels.with_implied); annotated_labels and recorded_leads metadata."}
  BUILDER_CONFIGS = ecg_archive.vocabulary_configs()
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Export resting ECGs from MUSE as XML (one file per ECG) into a directory and
  pass it as --manual_dir. Set ECGJAX_PATIENT_SALT to a secret string first; set
  ECGJAX_EXTRA_LABELS to a CSV (file,LABEL1,LABEL2,...) to add labels per file.
  """

  def _extra(self):
    if not hasattr(self, "_extra_cache"):
      self._extra_cache = vocab.extra_labels_from_environment()
    return self._extra_cache

  def label_names(self):
    return super().label_names() + self._extra()[0]

  def label_groups(self):
    groups = super().label_groups()
    if self._extra()[0]:
      groups["extra"] = self._extra()[0]
    return groups

  def _items(self, manual_dir):
    files = ecg_archive.find_files(manual_dir, ".xml")
    if not files:
      raise FileNotFoundError(f"no .xml files under {manual_dir}.\n"
                              f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
    self._rules = ecg_archive.statement_rules(manual_dir)
    self._manual_dir = str(manual_dir)

    # Splits need the patient before the signal: a byte scan of each file's head
    # finds its PatientID (files without one are their own patient).
    def patient_of(path):
      with tf.io.gfile.GFile(path, "rb") as f:
        found = _PATIENT_ID.search(f.read(1 << 16))
      return found.group(1).decode("latin-1") if found else f"file:{path}"
    keyed = [(p, patients.patient_key(patient_of(p), self._salt)) for p in files]
    return self._split_by_patient(keyed, lambda item: item[1], salt=self._salt)

  def _reader(self):
    return MuseReader(self._manual_dir, self._rules, self._extra()[1])
