"""ptbxl: PTB-XL 1.0.3 (Wagner et al., Sci Data 2020), 21,799 ECGs of 18,869 patients.

  tfds build tfds_builders/ptbxl --manual_dir=RAW --data_dir=DIR --config=vocabulary_500

Splits follow the official `strat_fold` (patient-disjoint, label-stratified):
folds 1-8 train, 9 validation, 10 test. Configs are label space x sampling rate:
  vocabulary       ecgjax's 68 harmonised labels (SCP codes and `heart_axis`)
  all              the 71 SCP statements
  diagnostic, subdiagnostic, superdiagnostic, form, rhythm
                   the benchmark tasks of Strodthoff et al. (IEEE JBHI 2021)
each at 100 Hz (records100, `filename_lr`) or 500 Hz (records500, `filename_hr`),
10 s. Statements count at any likelihood, as in that benchmark. Where `heart_axis`
states no axis type, the vocabulary's axis labels are unknown (`labels_known`).
Signals are read in µV from WFDB format 16, unfiltered. Patient ids in PTB-XL are
pseudonyms, so they are hashed with the public salt "ptbxl" unless
ECGJAX_PATIENT_SALT is set.
"""

import csv
import io

import tensorflow_datasets as tfds

from ecgjax.ecg import labels as vocab, preprocess
from ecgjax.ecg.archives.ptbxl import FOLD_SPLITS, LABEL_SETS, PtbxlReader, task_labels
from tfds_builders import ecg_archive


def _configs():
  out = []
  for label_set in LABEL_SETS:
    for rate in (100, 500):
      out.append(ecg_archive.EcgArchiveConfig(
          name=f"{label_set}_{rate}", label_set=label_set,
          recipe=preprocess.Recipe(sampling_rate=rate, duration=10.0),
          description=f"{label_set} labels, {rate} Hz, 10 s"))
  return out


class Builder(ecg_archive.EcgArchiveBuilder):
  """PTB-XL from its WFDB records and ptbxl_database.csv."""

  VERSION = tfds.core.Version("1.3.0")
  RELEASE_NOTES = {"1.0.0": "First release.",
                   "1.1.0": "Vocabulary: child labels imply parents (INJ* -> "
                            "myocardial_infarction); ANEUR -> st_elevation; ABQRS, PRC(S), "
                            "SVARR unmapped on purpose; annotated_labels metadata.",
                   "1.2.0": "heart_axis LAD (Linkstyp, -30 to +30 degrees) is no longer "
                            "left_axis_deviation; ALAD is.",
                   "1.3.0": "labels_known: with no stated axis type (blank, AXL, AXR, "
                            "SAG) the axis deviation labels are unknown, not negative."}
  # The vocabulary's axis labels are undecided where heart_axis states no type.
  RECORD_UNKNOWNS = True
  BUILDER_CONFIGS = _configs()
  DEFAULT_CONFIG_NAME = "vocabulary_500"
  PUBLIC_SALT = "ptbxl"
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Download PTB-XL 1.0.3 from https://physionet.org/content/ptb-xl/1.0.3/ (open
  access, CC BY 4.0), e.g.
    wget -r -N -c -np https://physionet.org/files/ptb-xl/1.0.3/
  and pass the directory holding ptbxl_database.csv, records100/ and records500/
  as --manual_dir.
  """

  def label_names(self):
    return task_labels(self.builder_config.label_set)

  def annotated_labels(self):
    if self.builder_config.label_set == "vocabulary":
      return list(vocab.reachable_from_ptbxl())
    return self.label_names()

  def label_groups(self):
    return super().label_groups() if self.builder_config.label_set == "vocabulary" else {}

  def _items(self, manual_dir):
    database = manual_dir / "ptbxl_database.csv"
    if not database.exists():
      raise FileNotFoundError(f"{database} not found: --manual_dir must hold PTB-XL "
                              f"(ptbxl_database.csv, records100/, records500/).\n"
                              f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
    rows = list(csv.DictReader(io.StringIO(database.read_text())))
    column = "filename_lr" if self.builder_config.recipe.sampling_rate == 100 else "filename_hr"
    folds, chosen = self.builder_config.folds, self.builder_config.fold
    if folds not in (0, 10):
      raise ValueError(f"ptbxl: folds={folds}; PTB-XL's cross-validation folds are its ten "
                       "strat_folds (folds=10), or 0 for the benchmark's split")
    items = {split: [] for split in ("train", "validation", "test")}
    for row in rows:
      fold = int(float(row["strat_fold"]))
      if folds:     # fold k (0-based) tests strat_fold k+1 and validates on the next
        k = fold - 1
        split = "test" if k == chosen else "validation" if k == (chosen + 1) % 10 else "train"
      else:
        split = FOLD_SPLITS[fold]
      items[split].append((str(manual_dir), column, row))
    return items

  def _reader(self):
    return PtbxlReader(self.builder_config.label_set)
