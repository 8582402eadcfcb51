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

Configs: `vocabulary_RATE` reads every source; its annotated labels are those the
Challenge's SNOMED codes can give. `cpsc2018_RATE` reads only CPSC 2018's records
(A0001-A6877) and annotates its nine classes (labels.CPSC2018_CLASSES): its
`Normal` becomes normal_ecg, and sinus rhythm, which CPSC gives only to normal
ECGs, is left out of the annotated labels.
"""

import tensorflow_datasets as tfds

from ecgjax.ecg import labels as vocab, preprocess
from ecgjax.ecg.archives.physionet import PhysionetReader
from ecgjax.ecg.archives.processing import relative_path
from tfds_builders import ecg_archive


def _configs():
  cpsc = [ecg_archive.EcgArchiveConfig(
      name=f"cpsc2018_{rate}", label_set="cpsc2018",
      recipe=preprocess.Recipe(sampling_rate=rate, duration=10.0),
      description=f"CPSC 2018 records only, its nine classes annotated, {rate} Hz, 10 s")
      for rate in (500, 100)]
  return ecg_archive.vocabulary_configs() + cpsc


class Builder(ecg_archive.EcgArchiveBuilder):
  """PhysioNet/CinC 2020-2021 records -> vocabulary labels."""

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {"1.0.0": "First release.",
                   "1.1.0": "CPSC 2018's Normal -> normal_ecg; child labels imply parents; "
                            "cpsc2018 configs; annotated_labels metadata."}
  BUILDER_CONFIGS = _configs()
  PUBLIC_SALT = "physionet2021"
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Download the Challenge training data from
  https://physionet.org/content/challenge-2021/1.0.3/ (CC BY 4.0) and pass the
  directory holding its sources (training/cpsc_2018/..., or any subset) as --manual_dir.
  """

  def _cpsc_only(self) -> bool:
    return self.builder_config.label_set == "cpsc2018"

  def annotated_labels(self):
    if self._cpsc_only():
      return list(vocab.CPSC2018_CLASSES)
    return list(vocab.reachable_from_snomed())

  def _items(self, manual_dir):
    headers = ecg_archive.find_files(manual_dir, ".hea")
    if self._cpsc_only():
      headers = [h for h in headers if vocab.is_cpsc2018_record(h.rsplit("/", 1)[-1][:-4])]
    if not headers:
      raise FileNotFoundError(f"no .hea files under {manual_dir}.\n"
                              f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
    self._manual_dir = str(manual_dir)
    return self._split_by_patient(headers, lambda p: relative_path(p, manual_dir),
                                  salt="physionet2021")

  def _reader(self):
    return PhysionetReader(self._manual_dir)
