"""code15: CODE-15% (Ribeiro et al., Zenodo 4916206): 345,779 exams of 233,770 patients.

  tfds build tfds_builders/code15 --manual_dir=RAW --data_dir=DIR --config=vocabulary_500

RAW holds exams.csv and the exams_partN.hdf5 files (unzipped). Tracings are
400 Hz, 7 or 10 s, zero-padded to 4096 samples; the padding is trimmed and the
signal resampled to 500 or 100 Hz and padded to 10 s (preprocess.py). Labels are
the six CODE abnormalities and `normal_ecg`, mapped into the 68-label vocabulary.
Splits are by `patient_id` (80/10/10 by hash); CODE's patient ids are pseudonyms,
hashed with the public salt "code15" unless ECGJAX_PATIENT_SALT is set. Exams
in an HDF5 part but not in exams.csv (the parts end with an exam_id 0 row) are
skipped and counted.
"""

import tensorflow_datasets as tfds

from ecgjax.ecg import labels as vocab
from ecgjax.ecg.archives.code15 import Code15Reader
from ecgjax.ecg.formats import code15
from tfds_builders import ecg_archive


class Builder(ecg_archive.EcgArchiveBuilder):
  """CODE-15% HDF5 parts joined to exams.csv."""

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {"1.0.0": "First release.",
                   "1.1.0": "annotated_labels metadata (its seven labels)."}
  BUILDER_CONFIGS = ecg_archive.vocabulary_configs()
  PUBLIC_SALT = "code15"
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Download exams.csv and exams_part0.zip ... exams_part17.zip from
  https://zenodo.org/record/4916206 (CC BY 4.0), unzip the parts, and pass the
  directory holding exams.csv and exams_part*.hdf5 as --manual_dir.
  """

  def annotated_labels(self):
    return [n for n in self.label_names() if n in vocab.CODE15_COLUMNS.values()]

  def _items(self, manual_dir):
    exams_csv = manual_dir / "exams.csv"
    if not exams_csv.exists():
      raise FileNotFoundError(f"{exams_csv} not found.\n{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
    self._exams = code15.read_exams_csv(str(exams_csv))
    items = []
    for path in ecg_archive.find_files(manual_dir, ".hdf5"):
      part = code15.Code15Part(path)
      items += [(path, i, int(exam_id)) for i, exam_id in enumerate(part.exam_ids)]
      part.close()
    if not items:
      raise FileNotFoundError(f"no exams_part*.hdf5 under {manual_dir}.\n"
                              f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")

    def patient_of(item):
      exam = self._exams.get(item[2])
      return exam["patient_id"] if exam and exam.get("patient_id") else f"exam:{item[2]}"
    return self._split_by_patient(items, patient_of, salt="code15")

  def _reader(self):
    return Code15Reader(self._exams)
