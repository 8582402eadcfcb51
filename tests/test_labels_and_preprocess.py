"""The label vocabulary and its mappings, preprocessing, patient keys."""

import csv
import os

import numpy as np
import pytest

from ecgjax.ecg import build_report, labels, leads, patients, preprocess
from ecgjax.ecg.formats.errors import RecordFormatError
from ecgjax.ecg.record import EcgRecord


def test_vocabulary_has_68_unique_labels_with_snomed_codes():
  vocab = labels.vocabulary()
  assert len(vocab) == 68 and len({v.name for v in vocab}) == 68
  assert sum(v.snomed is not None for v in vocab) >= 55
  for v in vocab:
    assert v.snomed is None or v.snomed.isdigit()
    assert v.snomed is None or not v.physionet_snomed or v.snomed in v.physionet_snomed


def _dx_mapping(shared_data):
  rows = []
  for name in ("dx_mapping_scored.csv", "dx_mapping_unscored.csv"):
    with open(os.path.join(shared_data, "cinc2021_dx_mapping", name), newline="") as f:
      rows += list(csv.DictReader(f))
  return rows


def test_abbreviations_agree_with_the_challenge_mapping(shared_data):
  official = {r["Abbreviation"]: r["SNOMEDCTCode"] for r in _dx_mapping(shared_data)}
  ours = labels.physionet_abbreviations()
  shared = set(ours) & set(official)
  assert len(shared) >= 30
  assert {a: ours[a] for a in shared} == {a: official[a] for a in shared}


def test_every_vocabulary_snomed_code_is_in_the_challenge_tables(shared_data):
  known = {r["SNOMEDCTCode"] for r in _dx_mapping(shared_data)}
  vocab = labels.vocabulary()
  assert {v.snomed for v in vocab if v.snomed} <= known
  assert {c for v in vocab for c in v.physionet_snomed} <= known


def test_scored_challenge_codes_map_into_the_vocabulary(shared_data):
  with open(os.path.join(shared_data, "cinc2021_dx_mapping", "dx_mapping_scored.csv")) as f:
    scored = [r["SNOMEDCTCode"] for r in csv.DictReader(f)]
  mapped = labels.from_snomed(scored)
  # Only the non-specific umbrella terms stay out: bundle branch block, bradycardia.
  assert sorted(mapped.unmapped) == ["426627000", "6374002"]


def test_statement_rules_refuse_unknown_labels_and_bad_patterns(tmp_path):
  with pytest.raises(labels.StatementRulesError, match="unknown label 'sinus_rythm'"):
    labels.StatementRules.from_text("pattern,label\nsinus,sinus_rythm\n", "r.csv")
  with pytest.raises(labels.StatementRulesError, match="bad pattern"):
    labels.StatementRules.from_text("pattern,label\n(sinus,sinus_rhythm\n", "r.csv")
  rules = labels.StatementRules.from_text(
      "pattern,label\n^confirmed by,-\nsinus rhythm,sinus_rhythm\n", "r.csv")
  mapped = rules.map(["Sinus rhythm", "Confirmed by Someone (1234)", "Odd finding 12/3"])
  assert mapped.labels == {"sinus_rhythm"} and mapped.unmapped == ["Odd finding ##/#"]


def test_default_rules_read_common_statements():
  rules = labels.StatementRules.default()
  cases = {
      "Normal sinus rhythm": {"sinus_rhythm", "normal_ecg"},
      "Sinus bradycardia with 1st degree A-V block": {"sinus_bradycardia",
                                                      "first_degree_av_block"},
      "Incomplete right bundle branch block": {"incomplete_right_bundle_branch_block"},
      "Right bundle branch block": {"right_bundle_branch_block"},
      "Atrial fibrillation with rapid ventricular response": {"atrial_fibrillation"},
      "Abnormal ECG": set(),
      "Low QRS voltages in precordial leads": {"low_qrs_voltage"},
      "Inferior infarction, age undetermined": {"myocardial_infarction", "inferior_infarction"},
      "Possible anterior MI": {"myocardial_infarction", "anterior_infarction"},
  }
  for text, expected in cases.items():
    assert rules.map([text]).labels == expected, text


def _record(signal, fs):
  return EcgRecord(signal=signal.astype(np.float32), sampling_rate=fs,
                   lead_names=leads.STANDARD_LEADS, record_id="r", path="r.dat")


def test_resampling_keeps_a_sine_and_the_recipe_crops_and_pads():
  t = np.arange(0, 12, 1 / 500)
  sine = 1000 * np.sin(2 * np.pi * 5 * t)
  signal = np.repeat(sine[:, None], 12, axis=1)
  out = preprocess.to_int16(_record(signal, 500), preprocess.Recipe(sampling_rate=100))
  assert out.shape == (1000, 12) and out.dtype == np.int16      # first 10 s of 12 s
  expected = 1000 * np.sin(2 * np.pi * 5 * np.arange(0, 10, 1 / 100))
  np.testing.assert_allclose(out[50:950, 0], expected[50:950], atol=15)
  short = preprocess.to_int16(_record(signal[:3500], 500), preprocess.Recipe(sampling_rate=500))
  assert short.shape == (5000, 12) and not short[3500:].any()   # padded at the end
  with pytest.raises(RecordFormatError, match="shorter than the recipe's minimum"):
    preprocess.to_int16(_record(signal[:1000], 500), preprocess.Recipe(sampling_rate=500))


def test_repeat_padding_fills_the_window_with_the_recording_itself():
  t = np.arange(0, 7, 1 / 100)
  signal = np.stack([1000 * np.sin(2 * np.pi * t), 500 * np.cos(2 * np.pi * 3 * t)]
                    + [np.full_like(t, 10 * k) for k in range(10)], axis=1)
  recipe = preprocess.Recipe(sampling_rate=100, duration=20.0, pad="repeat")
  out = preprocess.to_int16(_record(signal, 100), recipe)
  assert out.shape == (2000, 12)
  once = np.rint(signal).astype(np.int16)
  # 7 s, 7 s, then the first 6 s again: every lead repeats on its own.
  np.testing.assert_array_equal(out[:700], once)
  np.testing.assert_array_equal(out[700:1400], once)
  np.testing.assert_array_equal(out[1400:], once[:600])
  zeros = preprocess.to_int16(_record(signal, 100), preprocess.Recipe(sampling_rate=100,
                                                                       duration=20.0))
  np.testing.assert_array_equal(zeros[:700], once)
  assert not zeros[700:].any()
  with pytest.raises(ValueError, match="pad must be one of"):
    preprocess.Recipe(pad="mirror")
  # A recipe recorded before `pad` existed reads as zero padding.
  old = {k: v for k, v in preprocess.Recipe().to_dict().items() if k != "pad"}
  assert preprocess.recipe_from_dict(old).pad == "zeros"


def test_recipe_refuses_wrong_units_and_nan():
  volts_as_microvolts = np.full((5000, 12), 1e5)
  with pytest.raises(RecordFormatError, match="wrong units"):
    preprocess.to_int16(_record(volts_as_microvolts, 500), preprocess.Recipe())
  nan = np.zeros((5000, 12))
  nan[3, 3] = np.nan
  with pytest.raises(RecordFormatError, match="non-finite"):
    preprocess.to_int16(_record(nan, 500), preprocess.Recipe())


def test_bandpass_removes_baseline_wander():
  t = np.arange(0, 10, 1 / 500)
  wander = 500 * np.sin(2 * np.pi * 0.1 * t)
  signal = np.repeat(wander[:, None], 12, axis=1)
  recipe = preprocess.Recipe(bandpass_hz=(0.5, 100.0))
  out = preprocess.to_int16(_record(signal, 500), recipe)
  assert np.abs(out[500:-500]).max() < 50
  assert preprocess.Recipe().to_dict()["version"] == preprocess.RECIPE_VERSION


def test_patient_keys_are_salted_and_stable(monkeypatch):
  a = patients.patient_key("MRN123", "salt-a")
  assert a == patients.patient_key("MRN123", "salt-a") != patients.patient_key("MRN123", "b")
  assert "MRN123" not in a
  monkeypatch.delenv(patients.SALT_VARIABLE, raising=False)
  with pytest.raises(patients.MissingSaltError, match="ECGJAX_PATIENT_SALT"):
    patients.salt_from_environment("muse_xml")
  assert patients.salt_from_environment("ptbxl", "ptbxl") == "ptbxl"


def test_build_report_counts_and_threshold():
  report = build_report.BuildReport("x/y", ["a", "b"])
  for i in range(98):
    report.add("train", ["a"], f"p{i}")
  report.add("train", ["a"], "p98", unknown=["b"])     # b: neither positive nor negative
  report.skip("train", "bad.xml", "truncated: 12 bytes of 40")
  assert report.to_dict()["skipped_by_reason"] == {"truncated": 1}
  assert report.to_dict()["label_prevalence"]["train"]["a"] == {
      "count": 99, "prevalence": 1.0, "unknown": 0}
  assert report.to_dict()["label_prevalence"]["train"]["b"]["unknown"] == 1
  assert "| b | 0 (0.0%), 1 unknown |" in report.to_markdown()
  report.check(0.02)
  with pytest.raises(build_report.TooManySkippedError, match="1.00% of records skipped"):
    report.check(0.005)
