"""ptbxl: PTB-XL 1.0.3 (Wagner et al., Sci Data 2020), 21,799 ECGs of 18,869 patients.

  tfds build tfds_builders/ptbxl --manual_dir=RAW --data_dir=DIR --config=vocabulary_500

Splits follow the official `strat_fold` (patient-disjoint, label-stratified):
folds 1-8 train, 9 validation, 10 test. Configs are label space x sampling rate:
  vocabulary       ecgjax's 68 harmonised labels (SCP codes and `heart_axis`)
  all              the 71 SCP statements
  diagnostic, subdiagnostic, superdiagnostic, form, rhythm
                   the benchmark tasks of Strodthoff et al. (IEEE JBHI 2021)
each at 100 Hz (records100, `filename_lr`) or 500 Hz (records500, `filename_hr`),
10 s. Statements count at any likelihood, as in that benchmark. Signals are read
in µV from WFDB format 16, unfiltered. Patient ids in PTB-XL are pseudonyms, so
they are hashed with the public salt "ptbxl" unless ECGJAX_PATIENT_SALT is set.
"""

import ast
import csv
import dataclasses
import io

import tensorflow_datasets as tfds

from ecgjax.ecg import labels as vocab, preprocess, record as record_lib
from ecgjax.ecg.formats import wfdb_format
from ecgjax.ecg.formats.errors import RecordFormatError
from tfds_builders import ecg_archive
from tfds_builders.ptbxl.scp_statements import STATEMENTS

FOLD_SPLITS = {**{f: "train" for f in range(1, 9)}, 9: "validation", 10: "test"}
LABEL_SETS = ("vocabulary", "all", "diagnostic", "subdiagnostic", "superdiagnostic",
              "form", "rhythm")


def task_labels(label_set: str) -> list[str]:
  """The label space of a config (fixed by the statement table, not the data)."""
  if label_set == "vocabulary":
    return list(vocab.names())
  if label_set == "all":
    return sorted(STATEMENTS)
  if label_set in ("diagnostic", "form", "rhythm"):
    column = ("diagnostic", "form", "rhythm").index(label_set)
    return sorted(c for c, row in STATEMENTS.items() if row[column])
  column = 3 if label_set == "superdiagnostic" else 4
  return sorted({row[column] for row in STATEMENTS.values() if row[0] and row[column]})


def task_mapping(label_set: str, scp_codes, heart_axis: str) -> vocab.Mapped:
  if label_set == "vocabulary":
    return vocab.from_ptbxl(scp_codes, heart_axis)
  unknown = [c for c in scp_codes if c not in STATEMENTS]
  known = [c for c in scp_codes if c in STATEMENTS]
  if label_set == "all":
    return vocab.Mapped(set(known), unknown)
  if label_set in ("diagnostic", "form", "rhythm"):
    column = ("diagnostic", "form", "rhythm").index(label_set)
    return vocab.Mapped({c for c in known if STATEMENTS[c][column]}, unknown)
  column = 3 if label_set == "superdiagnostic" else 4
  return vocab.Mapped({STATEMENTS[c][column] for c in known
                       if STATEMENTS[c][0] and STATEMENTS[c][column]}, unknown)


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

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
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
    items = {split: [] for split in ("train", "validation", "test")}
    for row in rows:
      fold = int(float(row["strat_fold"]))
      items[FOLD_SPLITS[fold]].append((str(manual_dir), column, row))
    return items

  def _reader(self):
    return PtbxlReader(self.builder_config.label_set)


@dataclasses.dataclass(frozen=True)
class PtbxlReader(ecg_archive.ArchiveReader):
  """(manual_dir, filename column, database row) -> record and labels."""
  label_set: str

  def path(self, item):
    _, column, row = item
    return row[column]

  def read(self, item):
    manual_dir, column, row = item
    path = f"{manual_dir.rstrip('/')}/{row[column]}"
    record = wfdb_format.read_wfdb(path)
    try:
      scp_codes = ast.literal_eval(row["scp_codes"])
    except (ValueError, SyntaxError) as e:
      raise RecordFormatError(path, "unreadable scp_codes in ptbxl_database.csv") from e
    record.record_id = str(int(float(row["ecg_id"])))
    record.patient_id = str(int(float(row["patient_id"])))
    # PTB-XL writes ages above 89 as 300 (HIPAA); they are "90 or more".
    age = record_lib.parse_age(row["age"]) if row["age"] != "300.0" else 90.0
    record.age = age
    record.sex = {"0": "male", "1": "female"}.get(row["sex"].split(".")[0], "unknown")
    return record, task_mapping(self.label_set, list(scp_codes), row.get("heart_axis", ""))
