"""PTB-XL: its database rows -> records, the benchmark label spaces, the folds.

Label spaces (`task_labels`): `vocabulary` (ecgjax's 68 labels, from SCP codes
and `heart_axis`), `all` (the 71 SCP statements) and the benchmark tasks of
Strodthoff et al. (IEEE JBHI 2021): diagnostic, subdiagnostic, superdiagnostic,
form, rhythm. Statements count at any likelihood, as in that benchmark.
"""

import ast
import dataclasses

from ecgjax.ecg import labels as vocab, record as record_lib
from ecgjax.ecg.archives.processing import ArchiveReader
from ecgjax.ecg.archives.ptbxl_statements import STATEMENTS
from ecgjax.ecg.formats import wfdb_format
from ecgjax.ecg.formats.errors import RecordFormatError

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


@dataclasses.dataclass(frozen=True)
class PtbxlReader(ArchiveReader):
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
