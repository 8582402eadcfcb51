"""PhysioNet/CinC 2020 and 2021 records: WFDB signals plus header comments.

  #Age: 74        (or NaN / Unknown)
  #Sex: Male      (Male/Female, sometimes M/F)
  #Dx: RBBB,PVC   (2020: abbreviations; 2021: SNOMED CT codes, e.g. 59118001)

`diagnoses` keeps the `#Dx` tokens as written; the label vocabulary resolves
abbreviations and codes.
"""

from ecgjax.ecg import record as record_lib
from ecgjax.ecg.formats import wfdb_format
from ecgjax.ecg.formats.errors import RecordFormatError


def header_fields(comments: list[str]) -> dict[str, str]:
  """'Age: 74' -> {'age': '74'} for every `key: value` comment."""
  out = {}
  for line in comments:
    key, sep, value = line.partition(":")
    if sep:
      out[key.strip().lower()] = value.strip()
  return out


def read_physionet(record_path: str, *, require_dx: bool = True) -> record_lib.EcgRecord:
  record_path = record_path[:-4] if record_path.endswith(".hea") else record_path
  header = wfdb_format.read_header(record_path)
  fields = header_fields(header.comments)
  dx = [t.strip() for t in fields.get("dx", "").split(",") if t.strip()]
  if require_dx and not dx:
    raise RecordFormatError(record_path, "no #Dx diagnoses in the header")
  rec = wfdb_format.read_wfdb(record_path)
  rec.diagnoses = tuple(dx)
  rec.age = record_lib.parse_age(fields.get("age"))
  rec.sex = record_lib.normalise_sex(fields.get("sex"))
  return rec
