"""HL7 v3 annotated ECG (aECG, the FDA's submission format).

The rhythm `series` (code RHYTHM) holds a `sequenceSet`: a time sequence whose
`increment` is the sample interval, and one `MDC_ECG_LEAD_*` sequence per lead
with value = origin + scale * digit (SLIST_PQ, units uV or mV). Leads that are
absent but derivable (III, aVR, aVL, aVF from I and II) are derived. The subject's
identifier is returned raw for hashing; names and birth times are never read.
Parsed through defusedxml like every untrusted XML file.
"""

import os

import numpy as np

from ecgjax.ecg import leads as leads_lib, record as record_lib
from ecgjax.ecg.formats import wfdb_format
from ecgjax.ecg.formats.errors import RecordFormatError
from ecgjax.ecg.formats.muse_xml import parse_xml

NS = "{urn:hl7-org:v3}"
_TO_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
_TO_MICROVOLTS = {"uv": 1.0, "mv": 1000.0, "v": 1e6}


def _code(node) -> str:
  code = node.find(f"{NS}code")
  return code.get("code", "") if code is not None else ""


def _quantity(node, element: str, table: dict, what: str) -> float:
  """A physical quantity in the caller's unit; ValueError (the caller names the file)."""
  q = node.find(element)
  if q is None:
    raise ValueError(f"missing {what}")
  unit = (q.get("unit") or "").lower()
  if unit not in table:
    raise ValueError(f"{what} in unsupported unit {q.get('unit')!r}")
  return float(q.get("value")) * table[unit]


def read_hl7_aecg(path: str, data: bytes | None = None, *, fill_missing_leads: bool = False
                  ) -> record_lib.EcgRecord:
  root = parse_xml(path, data)
  if root.tag != f"{NS}AnnotatedECG":
    raise RecordFormatError(path, f"not an HL7 aECG (root element <{root.tag}>)")
  series = [s for s in root.iter(f"{NS}series") if _code(s) == "RHYTHM"]
  if not series:
    raise RecordFormatError(path, "no RHYTHM series")
  sequence_set = series[0].find(f".//{NS}sequenceSet")
  if sequence_set is None:
    raise RecordFormatError(path, "RHYTHM series without a sequenceSet")
  fs, names, columns = None, [], []
  try:
    for seq in sequence_set.iter(f"{NS}sequence"):
      code, value = _code(seq), seq.find(f"{NS}value")
      if value is None:
        continue
      if code.startswith("TIME_"):
        fs = 1.0 / _quantity(value, f"{NS}increment", _TO_SECONDS, "sample increment")
      elif code.startswith("MDC_ECG_LEAD_"):
        digits = value.find(f"{NS}digits")
        if digits is None or not (digits.text or "").strip():
          raise RecordFormatError(path, f"{code}: no digits")
        origin = _quantity(value, f"{NS}origin", _TO_MICROVOLTS, f"{code} origin")
        scale = _quantity(value, f"{NS}scale", _TO_MICROVOLTS, f"{code} scale")
        samples = np.array(digits.text.split(), dtype=np.float64)
        names.append(code)
        with np.errstate(over="ignore"):    # overflow is refused as non-finite below
          columns.append((origin + scale * samples).astype(np.float32))
  except ValueError as e:
    raise RecordFormatError(path, str(e)) from e
  if fs is None:
    raise RecordFormatError(path, "no time sequence (sample interval) in the RHYTHM series")
  if not (wfdb_format.MIN_SAMPLING_RATE <= fs <= wfdb_format.MAX_SAMPLING_RATE):
    raise RecordFormatError(path, f"unsupported sampling rate {fs:g} Hz")
  if not columns or len({c.size for c in columns}) != 1:
    raise RecordFormatError(path, f"leads missing or of unequal length "
                            f"{sorted({c.size for c in columns})}")
  signal = np.stack(columns, axis=1)
  if not np.all(np.isfinite(signal)):
    raise RecordFormatError(path, "non-finite (NaN or overflowing) samples")
  try:
    signal, filled = leads_lib.to_standard_order(signal, names, fill_missing_leads)
  except leads_lib.MissingLeadsError as e:
    raise RecordFormatError(path, str(e)) from e
  sex, patient = "unknown", None
  subject = root.find(f".//{NS}trialSubject")
  if subject is not None:
    ident = subject.find(f"{NS}id")
    patient = ident.get("extension") if ident is not None else None
    gender = subject.find(f".//{NS}administrativeGenderCode")
    if gender is not None:
      sex = record_lib.normalise_sex(gender.get("code"))
  return record_lib.EcgRecord(
      signal=signal, sampling_rate=fs, lead_names=leads_lib.STANDARD_LEADS,
      record_id=os.path.splitext(os.path.basename(path))[0], path=path,
      patient_id=patient, sex=sex, filled_leads=filled)
