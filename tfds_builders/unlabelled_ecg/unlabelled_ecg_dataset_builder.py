"""unlabelled_ecg: a folder of ECG files with no labels, for self-supervised pretraining.

  ECGJAX_PATIENT_SALT=... tfds build tfds_builders/unlabelled_ecg --manual_dir=RAW \\
      --data_dir=DIR --config=rate_100

RAW holds the ECGs: WFDB records listed one per line in RAW/RECORDS (paths without
extension, as PhysioNet lists them), or, without a RECORDS file, every WFDB header
(`.hea`), GE MUSE XML and HL7 aECG XML file under RAW at any depth. CODE-15% HDF5 has
its own builder (`code15`, read with `--config.labels=none`), as has any labelled
archive: self-supervised runs read any dataset without its labels.

Splits are by patient, 90/5/5 by the salted key's hash: RAW/patients.csv
(`record,patient`) names the patients where it exists, a MUSE file's PatientID
otherwise, else each record is its own patient (say so when reporting: two ECGs of one
person can then fall in two splits). The examples hold no labels (an empty label
vocabulary); a record that cannot be read is counted and named in the build report.
Configs: 10 s at 100 Hz (`rate_100`) or 500 Hz (`rate_500`); `rate_100_all` keeps every
whole 10 s window of a longer record.
"""

import tensorflow as tf
import tensorflow_datasets as tfds

from ecgjax.ecg import files, patients, preprocess
from ecgjax.ecg.archives import unlabelled
from tfds_builders import ecg_archive

SPLITS = (("train", 0.9), ("validation", 0.05), ("test", 0.05))


class Builder(ecg_archive.EcgArchiveBuilder):
  """ECG files -> TFRecords without labels."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = [
      ecg_archive.EcgArchiveConfig(name="rate_100", description="100 Hz, 10 s",
                                   recipe=preprocess.Recipe(sampling_rate=100, duration=10.0)),
      ecg_archive.EcgArchiveConfig(name="rate_500", description="500 Hz, 10 s",
                                   recipe=preprocess.Recipe(sampling_rate=500, duration=10.0)),
      ecg_archive.EcgArchiveConfig(name="rate_100_all", windows="all",
                                   description="100 Hz, every whole 10 s window",
                                   recipe=preprocess.Recipe(sampling_rate=100, duration=10.0)),
  ]
  DEFAULT_CONFIG_NAME = "rate_100"
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Put the ECG files in a directory (WFDB records with a RECORDS list, or WFDB, MUSE XML
  and HL7 aECG files at any depth), optionally with patients.csv (record,patient), and
  pass it as --manual_dir. Set ECGJAX_PATIENT_SALT to a secret string first.
  """

  def label_names(self):
    return []

  def label_groups(self):
    return {}

  def _items(self, manual_dir):
    root = str(manual_dir)
    items = self._listed(manual_dir) or self._found(root)
    if not items:
      raise FileNotFoundError(f"no ECG files under {manual_dir}.\n"
                              f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
    mapping = {}
    patients_file = manual_dir / unlabelled.PATIENTS_FILE
    if patients_file.exists():
      mapping = unlabelled.read_patients(str(patients_file), patients_file.read_text())

    def patient_of(item):
      """The record's patient as its split and its stored key use it; None: its own."""
      path, kind = item
      name = unlabelled.record_name(path, root)
      if name in mapping:
        return mapping[name]
      if kind == "xml":
        with tf.io.gfile.GFile(path, "rb") as f:
          found = unlabelled.MUSE_PATIENT_ID.search(f.read(1 << 16))
        if found:
          return found.group(1).decode("latin-1")
      return None

    keyed = []
    for path, kind in items:
      patient = patient_of((path, kind))
      key = patients.patient_key(patient or f"record:{unlabelled.record_name(path, root)}",
                                 self._salt)
      keyed.append(((path, kind, patient), key))
    split = ecg_archive.split_by_patient(keyed, lambda k: k[1], SPLITS, salt=self._salt)
    self._root = root
    return {name: [item for item, _ in part] for name, part in split.items()}

  def _listed(self, manual_dir):
    records = manual_dir / unlabelled.RECORDS_FILE
    if not records.exists():
      return []
    names = [line.strip() for line in records.read_text().splitlines() if line.strip()]
    return [(f"{str(manual_dir).rstrip('/')}/{name}.hea", "wfdb") for name in names]

  def _found(self, root):
    found, _ = files.discover([root], files.ArrayLayout())
    return [(f.path, f.kind) for f in found if f.kind in ("wfdb", "xml")]

  def _reader(self):
    return unlabelled.UnlabelledReader(self._root)
