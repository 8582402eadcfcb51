"""Readers on the real files in ../shared/data and on corrupted copies of them."""

import csv
import os
import shutil

import numpy as np
import pytest
import wfdb

from ecgjax.ecg import leads, labels
from ecgjax.ecg.formats import code15, hl7_aecg, muse_xml, physionet, wfdb_format
from ecgjax.ecg.formats.errors import RecordFormatError
from tests.helpers import code15_tracing, write_code15_part


def ptbxl_rows(shared_data):
  with open(os.path.join(shared_data, "ptbxl", "ptbxl_database.csv"), newline="") as f:
    return list(csv.DictReader(f))


# ---- WFDB / PTB-XL.
@pytest.mark.parametrize("column", ["filename_lr", "filename_hr"])
def test_ptbxl_records_match_wfdb_physical_values(shared_data, column):
  rows = ptbxl_rows(shared_data)
  assert len(rows) == 40
  for row in rows:
    path = os.path.join(shared_data, "ptbxl", row[column])
    ours = wfdb_format.read_wfdb(path)
    reference = wfdb.rdrecord(path)
    order = [ [leads.canonical_lead_name(n) for n in reference.sig_name].index(name)
             for name in leads.STANDARD_LEADS]
    np.testing.assert_allclose(ours.signal, reference.p_signal[:, order] * 1000, atol=1e-3)
    assert ours.sampling_rate == (100 if column == "filename_lr" else 500)
    assert ours.signal.shape == (int(ours.sampling_rate) * 10, 12)


def test_cinc2020_mat_records_match_wfdb_and_read_header_fields(shared_data):
  directory = os.path.join(shared_data, "cinc2020")
  names = sorted(f[:-4] for f in os.listdir(directory) if f.endswith(".hea"))
  assert len(names) == 40
  for name in names:
    path = os.path.join(directory, name)
    rec = physionet.read_physionet(path)
    reference = wfdb.rdrecord(path)
    np.testing.assert_allclose(rec.signal, reference.p_signal * 1000, atol=1e-3)
    assert rec.sampling_rate == 500 and rec.diagnoses
    assert rec.sex in ("male", "female") and 0 < rec.age < 130
  first = physionet.read_physionet(os.path.join(directory, "A0001"))
  assert first.diagnoses == ("RBBB",) and first.age == 74 and first.sex == "male"


def test_cpsc_dx_map_to_the_expected_vocabulary_entries(shared_data):
  expected = {"AF": "atrial_fibrillation", "I-AVB": "first_degree_av_block",
              "LBBB": "left_bundle_branch_block", "RBBB": "right_bundle_branch_block",
              "PAC": "premature_atrial_contractions",
              "PVC": "premature_ventricular_contractions", "STD": "st_depression",
              "STE": "st_elevation", "Normal": "sinus_rhythm"}
  directory = os.path.join(shared_data, "cinc2020")
  seen = set()
  for name in sorted(f[:-4] for f in os.listdir(directory) if f.endswith(".hea")):
    rec = physionet.read_physionet(os.path.join(directory, name))
    mapped = labels.from_physionet_dx(rec.diagnoses)
    assert not mapped.unmapped, (name, rec.diagnoses)
    assert mapped.labels == {expected[d] for d in rec.diagnoses}
    seen.update(rec.diagnoses)
  assert {"AF", "RBBB", "Normal"} <= seen


def test_format_212_decodes_like_wfdb(tmp_path):
  rng = np.random.default_rng(0)
  digital = rng.integers(-2000, 2000, size=(1000, 12))
  wfdb.wrsamp("r212", fs=500, units=["mV"] * 12, sig_name=list(leads.STANDARD_LEADS),
              d_signal=digital, fmt=["212"] * 12, adc_gain=[200.0] * 12,
              baseline=[0] * 12, write_dir=str(tmp_path))
  ours = wfdb_format.read_wfdb(str(tmp_path / "r212"))
  reference = wfdb.rdrecord(str(tmp_path / "r212"))
  np.testing.assert_allclose(ours.signal, reference.p_signal * 1000, atol=1e-3)


# ---- Corrupted WFDB copies.
def _copy_record(shared_data, tmp_path, name="00001_hr"):
  src = os.path.join(shared_data, "ptbxl", "records500", "00000", name)
  for ext in (".hea", ".dat"):
    shutil.copy(src + ext, tmp_path / (name + ext))
  return str(tmp_path / name)


def test_wfdb_truncated_file(shared_data, tmp_path):
  path = _copy_record(shared_data, tmp_path)
  data = open(path + ".dat", "rb").read()
  open(path + ".dat", "wb").write(data[: len(data) // 2])
  with pytest.raises(RecordFormatError, match="truncated") as e:
    wfdb_format.read_wfdb(path)
  assert e.value.path.endswith("00001_hr.dat")


def test_wfdb_gain_that_is_no_number_is_a_format_error(shared_data, tmp_path):
  """Found by fuzzing: a duplicated span made the gain '1000.1000.0', and float()'s
  ValueError escaped."""
  path = _copy_record(shared_data, tmp_path)
  header = open(path + ".hea").read()
  open(path + ".hea", "w").write(header.replace("1000.0(0)/mV", "1000.1000.0(0)/mV", 1))
  with pytest.raises(RecordFormatError, match="bad WFDB signal line") as e:
    wfdb_format.read_wfdb(path)
  assert e.value.path.endswith("00001_hr.hea")


def test_wfdb_bad_checksum(shared_data, tmp_path):
  path = _copy_record(shared_data, tmp_path)
  data = bytearray(open(path + ".dat", "rb").read())
  data[100] ^= 0x10
  open(path + ".dat", "wb").write(bytes(data))
  with pytest.raises(RecordFormatError, match="checksum mismatch"):
    wfdb_format.read_wfdb(path)


def test_wfdb_invalid_samples_are_refused(shared_data, tmp_path):
  path = _copy_record(shared_data, tmp_path)
  header = wfdb_format.read_header(path)
  digital = np.fromfile(path + ".dat", dtype="<i2").reshape(-1, 12).copy()
  digital[10, 3] = -32768                     # WFDB's missing-sample marker
  digital.tofile(path + ".dat")
  del header
  with pytest.raises(RecordFormatError, match="invalid"):
    wfdb_format.read_wfdb(path, verify_checksum=False)


def test_wfdb_missing_leads_and_unsupported_rate(shared_data, tmp_path):
  path = _copy_record(shared_data, tmp_path)
  lines = open(path + ".hea").read().splitlines()
  renamed = lines[:7] + [ln.replace(" V1", " X1") for ln in lines[7:8]] + lines[8:]
  open(path + ".hea", "w").write("\n".join(renamed) + "\n")
  with pytest.raises(RecordFormatError, match=r"missing leads \['V1'\]"):
    wfdb_format.read_wfdb(path)
  slow = [lines[0].replace(" 500 ", " 20 ")] + lines[1:]
  open(path + ".hea", "w").write("\n".join(slow) + "\n")
  with pytest.raises(RecordFormatError, match="unsupported sampling rate 20 Hz"):
    wfdb_format.read_wfdb(path)


def test_wfdb_missing_file_names_it(tmp_path):
  with pytest.raises(RecordFormatError, match="cannot read header") as e:
    wfdb_format.read_wfdb(str(tmp_path / "absent"))
  assert "absent.hea" in e.value.path


# ---- MUSE XML.
def muse_path(shared_data, n=1):
  return os.path.join(shared_data, "muse_xml", f"musePHI_muse_ecg{n}.xml")


def test_muse_reads_rhythm_leads_in_microvolts_with_derived_limb_leads(shared_data):
  for n in (1, 2, 3):
    rec = muse_xml.read_muse_xml(muse_path(shared_data, n))
    assert rec.sampling_rate == 500 and rec.signal.shape == (5000, 12)
    residuals = leads.limb_lead_residuals(rec.signal)
    assert all(np.abs(r).max() < 1e-3 for r in residuals.values())
    # A resting ECG's QRS is millivolts: the peak sits between 0.3 and 5 mV.
    assert 300 < np.abs(rec.signal).max() < 5000
    assert rec.age == 60 and rec.sex == "male" and rec.patient_id


def test_muse_statements_give_the_expected_labels(shared_data):
  rec = muse_xml.read_muse_xml(muse_path(shared_data, 1))
  rules = labels.StatementRules.default()
  confirmed = rules.map(rec.diagnoses)
  assert confirmed.labels == {"ventricular_pacing"} and confirmed.unmapped == []
  machine = rules.map(rec.machine_statements)
  assert machine.labels == {"left_axis_deviation", "myocardial_infarction",
                            "lateral_infarction",
                            "nonspecific_intraventricular_conduction_delay"}


def test_muse_stored_leads_decode_to_the_file_bytes(shared_data):
  """The decoded int16 of lead I, scaled back, is the file's own data (CRC checked)."""
  import base64
  import defusedxml.ElementTree as et
  root = et.parse(muse_path(shared_data, 1)).getroot()
  wave = [w for w in root.findall("Waveform") if w.findtext("WaveformType") == "Rhythm"][0]
  lead = wave.findall("LeadData")[0]
  raw = np.frombuffer(base64.b64decode("".join(lead.findtext("WaveFormData").split())), "<i2")
  per_bit = float(lead.findtext("LeadAmplitudeUnitsPerBit"))
  rec = muse_xml.read_muse_xml(muse_path(shared_data, 1))
  np.testing.assert_allclose(rec.signal[:, 0], raw * per_bit, atol=1e-3)


def _corrupt_muse(shared_data, tmp_path, edit, name="bad.xml"):
  text = open(muse_path(shared_data), encoding="latin-1").read()
  path = tmp_path / name
  path.write_bytes(edit(text).encode("latin-1"))
  return str(path)


def test_muse_bad_crc(shared_data, tmp_path):
  import re
  path = _corrupt_muse(shared_data, tmp_path, lambda t: re.sub(
      r"<LeadDataCRC32>(\d+)</LeadDataCRC32>", "<LeadDataCRC32>1</LeadDataCRC32>", t))
  with pytest.raises(RecordFormatError, match="CRC32 mismatch"):
    muse_xml.read_muse_xml(path)


def test_muse_truncated_and_not_xml(shared_data, tmp_path):
  path = _corrupt_muse(shared_data, tmp_path, lambda t: t[: len(t) // 2])
  with pytest.raises(RecordFormatError, match="not well-formed"):
    muse_xml.read_muse_xml(path)
  junk = tmp_path / "junk.xml"
  junk.write_bytes(b"\x00\x01 this is not xml")
  with pytest.raises(RecordFormatError, match="not well-formed") as e:
    muse_xml.read_muse_xml(str(junk))
  assert e.value.path == str(junk)


def test_muse_under_another_root_is_refused_not_a_parse_error(shared_data, tmp_path):
  """Found by fuzzing: with its root element renamed, the kept elements of a MUSE file
  were several top-level elements, and ElementTree's ParseError escaped."""
  path = _corrupt_muse(shared_data, tmp_path,
                       lambda t: t.replace("<RestingECG>", "<Other>").replace("</RestingECG>",
                                                                              "</Other>"))
  with pytest.raises(RecordFormatError, match=r"not a MUSE resting ECG \(root element <Other>"):
    muse_xml.read_muse_xml(path)


@pytest.mark.parametrize("edit, reason", [
    # Found by fuzzing: LookupError and ValueError escaped for these.
    (lambda t: t.replace('encoding="ISO-8859-1"', 'encoding="ISO-2859-1"'), "unknown encoding"),
    (lambda t: t.replace("<LeadSampleCountTotal>5000", "<LeadSampleCountTotal>5000\u00c2", 1),
     "bad LeadSampleCountTotal"),
    (lambda t: t.replace("<SampleExponent>0", "<SampleExponent>99999"), "valid SampleBase"),
])
def test_muse_fields_that_are_no_number_are_format_errors(shared_data, tmp_path, edit, reason):
  path = _corrupt_muse(shared_data, tmp_path, edit)
  assert open(path, "rb").read() != open(muse_path(shared_data), "rb").read()
  with pytest.raises(RecordFormatError, match=reason):
    muse_xml.read_muse_xml(path)


def test_muse_missing_leads(shared_data, tmp_path):
  import re
  def drop_v3(text):
    return re.sub(r"<LeadData>(?:(?!</LeadData>).)*?<LeadID>V3</LeadID>.*?</LeadData>", "",
                  text, flags=re.S)
  with pytest.raises(RecordFormatError, match="missing leads"):
    muse_xml.read_muse_xml(_corrupt_muse(shared_data, tmp_path, drop_v3))


def test_muse_unsupported_sampling_rate(shared_data, tmp_path):
  path = _corrupt_muse(shared_data, tmp_path, lambda t: t.replace(
      "<SampleBase>500</SampleBase>", "<SampleBase>10</SampleBase>"))
  with pytest.raises(RecordFormatError, match="unsupported sampling rate"):
    muse_xml.read_muse_xml(path)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE RestingECG [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<RestingECG><PatientDemographics><PatientID>&lol3;</PatientID></PatientDemographics></RestingECG>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE RestingECG [ <!ENTITY secret SYSTEM "file:///etc/passwd"> ]>
<RestingECG><PatientDemographics><PatientID>&secret;</PatientID></PatientDemographics></RestingECG>"""


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["laughs", "external"])
@pytest.mark.parametrize("reader", [muse_xml.read_muse_xml, hl7_aecg.read_hl7_aecg])
def test_xml_readers_refuse_entities(tmp_path, payload, reader):
  path = tmp_path / "evil.xml"
  path.write_bytes(payload)
  with pytest.raises(RecordFormatError, match="unsafe XML refused"):
    reader(str(path))


# ---- HL7 aECG.
@pytest.mark.parametrize("name,fs,samples", [("fda_subject1_0.xml", 500, 5000),
                                             ("crg_hl7aecg-Example2.xml", 1000, 10000)])
def test_hl7_aecg_reads_twelve_leads(shared_data, name, fs, samples):
  rec = hl7_aecg.read_hl7_aecg(os.path.join(shared_data, "hl7_aecg", name))
  assert rec.sampling_rate == fs and rec.signal.shape == (samples, 12)
  # Stored at 2.5 µV per digit: the limb relations hold to within a quantum.
  assert all(np.abs(r).max() <= 2.5 for r in leads.limb_lead_residuals(rec.signal).values())
  assert 300 < np.abs(rec.signal).max() < 5000


def test_hl7_aecg_missing_scale_names_the_file(shared_data, tmp_path):
  text = open(os.path.join(shared_data, "hl7_aecg", "fda_subject1_0.xml")).read()
  path = tmp_path / "noscale.xml"
  path.write_text(text.replace('<scale value="2.5" unit="uV"/>', "", 1))
  with pytest.raises(RecordFormatError, match="missing MDC_ECG_LEAD_I scale") as e:
    hl7_aecg.read_hl7_aecg(str(path))
  assert e.value.path == str(path)


def test_hl7_aecg_nan_digits(shared_data, tmp_path):
  text = open(os.path.join(shared_data, "hl7_aecg", "fda_subject1_0.xml")).read()
  path = tmp_path / "nan.xml"
  path.write_text(text.replace("<digits> -2 -2", "<digits> nan -2", 1))
  with pytest.raises(RecordFormatError, match="NaN"):
    hl7_aecg.read_hl7_aecg(str(path))


# ---- CODE-15% (no sample in ../shared/data: a fixture in the real layout).


def test_code15_trims_padding_scales_to_microvolts_and_joins_exams(tmp_path):
  rng = np.random.default_rng(0)
  ten, seven = code15_tracing(10, rng), code15_tracing(7, rng)
  part = write_code15_part(str(tmp_path), [
      (11, ten, {"age": "61", "is_male": "True", "patient_id": "5", "AF": "True"}),
      (12, seven, {"age": "40", "is_male": "False", "patient_id": "6", "RBBB": "True",
                   "1dAVb": "True"})])
  exams = code15.read_exams_csv(str(tmp_path / "exams.csv"))
  reader = code15.Code15Part(part)
  assert len(reader) == 3
  first = reader.record(0, exams.get(11))
  assert first.signal.shape == (4000, 12) and first.sampling_rate == 400
  np.testing.assert_allclose(first.signal[:, 0], ten[48:4048, 0] * 1000, rtol=1e-6)
  assert first.age == 61 and first.sex == "male" and first.patient_id == "5"
  assert labels.from_code15(first.diagnoses).labels == {"atrial_fibrillation"}
  second = reader.record(1, exams.get(12))
  assert second.signal.shape == (2800, 12) and second.sex == "female"
  assert labels.from_code15(second.diagnoses).labels == {"right_bundle_branch_block",
                                                         "first_degree_av_block"}
  with pytest.raises(RecordFormatError, match="exam_id not in exams.csv"):
    reader.record(2, exams.get(0))


def test_code15_refuses_nan_and_non_hdf5(tmp_path):
  rng = np.random.default_rng(1)
  bad = code15_tracing(10, rng)
  bad[100, 4] = np.nan
  part = write_code15_part(str(tmp_path), [(1, bad, {"patient_id": "1"})])
  exams = code15.read_exams_csv(str(tmp_path / "exams.csv"))
  with pytest.raises(RecordFormatError, match="NaN"):
    code15.Code15Part(part).record(0, exams[1])
  not_hdf5 = tmp_path / "x.hdf5"
  not_hdf5.write_bytes(b"nope")
  with pytest.raises(RecordFormatError, match="not a CODE-15% HDF5 part"):
    code15.Code15Part(str(not_hdf5))
