"""physionet2021: the PhysioNet/CinC Challenge 2020/2021 training sets (WFDB + .mat).

  tfds build tfds_builders/physionet2021 --manual_dir=RAW --data_dir=DIR

RAW holds any of the Challenge's sources (CPSC 2018, CPSC-Extra, INCART, PTB,
PTB-XL, Georgia, Chapman-Shaoxing, Ningbo) in any directory layout: every
`*.hea` under it is one record. `#Dx` may be SNOMED CT codes (2021) or the 2020
abbreviations (AF, I-AVB, ...); both map to the 68-label vocabulary, and codes
outside it are listed in the build report. The Challenge publishes no patient
ids, so each record is its own patient; splits are 80/10/10 by a hash of the
record's path. Records are resampled (polyphase) to 500 or 100 Hz and cropped
or padded to 10 s (preprocess.py).
"""

import tensorflow_datasets as tfds

from ecgjax.ecg.archives.physionet import PhysionetReader
from ecgjax.ecg.archives.processing import relative_path
from tfds_builders import ecg_archive


class Builder(ecg_archive.EcgArchiveBuilder):
  """PhysioNet/CinC 2020-2021 records -> vocabulary labels."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = ecg_archive.vocabulary_configs()
  PUBLIC_SALT = "physionet2021"
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Download the Challenge training data from
  https://physionet.org/content/challenge-2021/1.0.3/ (CC BY 4.0) and pass the
  directory holding its sources (training/cpsc_2018/..., or any subset) as --manual_dir.
  """

  def _items(self, manual_dir):
    headers = ecg_archive.find_files(manual_dir, ".hea")
    if not headers:
      raise FileNotFoundError(f"no .hea files under {manual_dir}.\n"
                              f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
    self._manual_dir = str(manual_dir)
    return ecg_archive.split_by_patient(
        headers, lambda p: relative_path(p, manual_dir), salt="physionet2021")

  def _reader(self):
    return PhysionetReader(self._manual_dir)
