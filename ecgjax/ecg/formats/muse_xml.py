"""GE MUSE resting-ECG XML (MUSE 8/9 exports, `<!DOCTYPE RestingECG>`).

- Signal: the `Waveform` whose `WaveformType` is `Rhythm`. Each `LeadData`
  holds base64 little-endian int16 in `WaveFormData` (line-wrapped);
  µV = (x - FirstSampleBaseline) * LeadAmplitudeUnitsPerBit; the sampling rate
  is SampleBase * 10^SampleExponent. Only I, II and V1-V6 are stored; III, aVR,
  aVL and aVF are derived (leads.to_standard_order). `LeadDataCRC32` is
  checked against zlib.crc32 of the decoded bytes.
- Statements: `Diagnosis` (confirmed by the over-reader) and
  `OriginalDiagnosis` (the machine's). Each `DiagnosisStatement` is a fragment;
  fragments join into one line until a fragment flagged ENDSLINE.
- Demographics: `PatientID` is returned raw for the builder to hash; age and
  sex are kept. Names, dates of birth and the rest are never read.

The XML is untrusted: defusedxml refuses entity declarations (billion laughs)
and external entities; MUSE's `<!DOCTYPE RestingECG SYSTEM "restecg.dtd">` has
neither and parses. For speed the file goes through defusedxml's guarded expat
parser into a pruned tree holding only the elements read here, not a full
ElementTree of the file's ~450 elements (with the float32 preprocessing change,
467 -> 593 ECG/s per core at 500 Hz in benchmarks/results/format_readers.jsonl).
"""

import binascii
import os
import xml.etree.ElementTree as ElementTree
import zlib
from pyexpat import ExpatError

import defusedxml.ElementTree as safe_et
import numpy as np
from defusedxml import DefusedXmlException

from ecgjax.ecg import leads as leads_lib, record as record_lib
from ecgjax.ecg.formats import wfdb_format
from ecgjax.ecg.formats.errors import RecordFormatError


def _text(node, tag: str, default: str | None = None) -> str | None:
  found = node.find(tag)
  return found.text.strip() if found is not None and found.text else default


def parse_xml(path: str, data: bytes | None = None):
  """The root element of an untrusted XML file, or RecordFormatError."""
  try:
    if data is None:
      with open(path, "rb") as f:
        data = f.read()
    return safe_et.fromstring(data, forbid_dtd=False, forbid_entities=True,
                              forbid_external=True)
  except OSError as e:
    raise RecordFormatError(path, f"cannot read: {e.strerror or e}") from e
  except DefusedXmlException as e:
    raise RecordFormatError(path, f"unsafe XML refused ({type(e).__name__}): {e}") from e
  except (safe_et.ParseError, LookupError) as e:   # LookupError: an unknown encoding
    raise RecordFormatError(path, f"not well-formed XML: {e}") from e


# The elements read below, and every element on their paths from the root.
_KEPT = frozenset({
    "RestingECG", "PatientDemographics", "PatientID", "PatientAge", "AgeUnits", "Gender",
    "Diagnosis", "OriginalDiagnosis", "DiagnosisStatement", "StmtText", "StmtFlag",
    "Waveform", "WaveformType", "SampleBase", "SampleExponent", "LeadData", "LeadID",
    "WaveFormData", "LeadAmplitudeUnitsPerBit", "LeadAmplitudeUnits", "FirstSampleBaseline",
    "LeadDataCRC32", "LeadSampleCountTotal"})


def parse_muse(path: str, data: bytes):
  """The MUSE elements this reader uses, as an ElementTree, parsed safely.

  defusedxml's parser keeps its guards (entity declarations and external
  references raise); only its element and text handlers are replaced, so the
  ~450 elements of a file do not each become a tree node.
  """
  guarded = safe_et.DefusedXMLParser(forbid_dtd=False, forbid_entities=True,
                                     forbid_external=True)
  expat = guarded.parser
  expat.buffer_text = True
  builder = ElementTree.TreeBuilder()
  text: list[str] = []
  root_tag: list[str] = []

  def start(tag, attributes):
    if not root_tag:
      root_tag.append(tag)
      if tag != "RestingECG":
        # Refused here: otherwise the kept elements of another document would become
        # several top-level elements, which TreeBuilder refuses with its own ParseError.
        raise RecordFormatError(path, f"not a MUSE resting ECG (root element <{tag}>)")
    text.clear()
    if tag in _KEPT:
      builder.start(tag, {})

  def end(tag):
    if tag in _KEPT:
      builder.data("".join(text))
      builder.end(tag)
    text.clear()

  expat.StartElementHandler, expat.EndElementHandler = start, end
  expat.CharacterDataHandler = text.append
  try:
    expat.Parse(data, True)
  except DefusedXmlException as e:
    raise RecordFormatError(path, f"unsafe XML refused ({type(e).__name__}): {e}") from e
  except (ExpatError, ElementTree.ParseError) as e:
    raise RecordFormatError(path, f"not well-formed XML: {e}") from e
  except LookupError as e:     # the XML declaration names an encoding Python lacks
    raise RecordFormatError(path, f"not well-formed XML: {e}") from e
  if not root_tag:
    raise RecordFormatError(path, "not a MUSE resting ECG (no root element)")
  return builder.close()


def statements(node) -> tuple[str, ...]:
  """Joined statement lines of a Diagnosis / OriginalDiagnosis element."""
  if node is None:
    return ()
  lines, current = [], []
  for stmt in node.findall("DiagnosisStatement"):
    text = _text(stmt, "StmtText", "")
    if text:
      current.append(text)
    flags = {f.text.strip() for f in stmt.findall("StmtFlag") if f.text}
    if "ENDSLINE" in flags and current:
      lines.append(" ".join(current))
      current = []
  if current:
    lines.append(" ".join(current))
  return tuple(" ".join(line.replace(" ,", ",").split()) for line in lines)


def _rhythm_leads(root, path: str) -> tuple[np.ndarray, float, list[str]]:
  rhythm = [w for w in root.findall("Waveform") if _text(w, "WaveformType") == "Rhythm"]
  if not rhythm:
    raise RecordFormatError(path, "no Rhythm waveform")
  wave = rhythm[0]
  try:
    fs = float(_text(wave, "SampleBase")) * 10 ** int(_text(wave, "SampleExponent", "0"))
  except (TypeError, ValueError, OverflowError) as e:
    raise RecordFormatError(path, "Rhythm waveform without a valid SampleBase") from e
  if not (wfdb_format.MIN_SAMPLING_RATE <= fs <= wfdb_format.MAX_SAMPLING_RATE):
    raise RecordFormatError(path, f"unsupported sampling rate {fs:g} Hz")
  names, columns = [], []
  for lead in wave.findall("LeadData"):
    name = _text(lead, "LeadID", "?")
    try:
      # Non-strict decoding skips the line breaks; CRC32 and the sample count
      # below catch a corrupted payload.
      raw = binascii.a2b_base64(_text(lead, "WaveFormData") or "")
    except (binascii.Error, ValueError) as e:
      raise RecordFormatError(path, f"WaveFormData is not base64 in lead {name}") from e
    crc = _text(lead, "LeadDataCRC32")
    if crc is not None and not (crc.isascii() and crc.isdigit()):
      raise RecordFormatError(path, f"bad LeadDataCRC32 {crc!r} in lead {name}")
    if crc is not None and zlib.crc32(raw) != int(crc):
      raise RecordFormatError(path, f"CRC32 mismatch in lead {name} (file {crc}, data "
                              f"{zlib.crc32(raw)})")
    if len(raw) % 2:
      raise RecordFormatError(path, f"odd number of bytes in lead {name} ({len(raw)})")
    samples = np.frombuffer(raw, dtype="<i2")
    declared = _text(lead, "LeadSampleCountTotal")
    if declared is not None and not (declared.isascii() and declared.isdigit()):
      raise RecordFormatError(path, f"bad LeadSampleCountTotal {declared!r} in lead {name}")
    if declared is not None and int(declared) != samples.size:
      raise RecordFormatError(path, f"truncated lead {name}: {samples.size} samples, header "
                              f"says {declared}")
    try:
      per_bit = float(_text(lead, "LeadAmplitudeUnitsPerBit", "1"))
      baseline = float(_text(lead, "FirstSampleBaseline", "0"))
    except ValueError as e:
      raise RecordFormatError(path, f"bad amplitude scaling in lead {name}") from e
    if not np.isfinite(per_bit) or not np.isfinite(baseline) or per_bit <= 0:
      raise RecordFormatError(path, f"unusable amplitude scaling in lead {name}: units per "
                              f"bit {per_bit}, baseline {baseline}")
    units = (_text(lead, "LeadAmplitudeUnits", "MICROVOLTS") or "").upper()
    if units not in ("MICROVOLTS", "MICROVOLT", "UV"):
      raise RecordFormatError(path, f"unsupported units in lead {name}: {units!r}")
    names.append(name)
    columns.append((samples.astype(np.float32) - baseline) * per_bit)
  if not columns:
    raise RecordFormatError(path, "Rhythm waveform has no leads")
  lengths = {c.size for c in columns}
  if len(lengths) != 1 or 0 in lengths:
    raise RecordFormatError(path, f"leads of unequal or zero length {sorted(lengths)}")
  return np.stack(columns, axis=1), fs, names


def read_muse_xml(path: str, data: bytes | None = None, *, fill_missing_leads: bool = False
                  ) -> record_lib.EcgRecord:
  if data is None:
    try:
      with open(path, "rb") as f:
        data = f.read()
    except OSError as e:
      raise RecordFormatError(path, f"cannot read: {e.strerror or e}") from e
  root = parse_muse(path, data)
  signal, fs, names = _rhythm_leads(root, path)
  try:
    signal, filled = leads_lib.to_standard_order(signal, names, fill_missing_leads)
  except leads_lib.MissingLeadsError as e:
    raise RecordFormatError(path, str(e)) from e
  demographics = root.find("PatientDemographics")
  age, sex, patient = -1.0, "unknown", None
  if demographics is not None:
    if (_text(demographics, "AgeUnits", "YEARS") or "YEARS").upper() == "YEARS":
      age = record_lib.parse_age(_text(demographics, "PatientAge"))
    sex = record_lib.normalise_sex(_text(demographics, "Gender"))
    patient = _text(demographics, "PatientID")
  return record_lib.EcgRecord(
      signal=signal.astype(np.float32), sampling_rate=fs, lead_names=leads_lib.STANDARD_LEADS,
      record_id=os.path.splitext(os.path.basename(path))[0], path=path, filled_leads=filled,
      diagnoses=statements(root.find("Diagnosis")),
      machine_statements=statements(root.find("OriginalDiagnosis")),
      patient_id=patient, age=age, sex=sex)
