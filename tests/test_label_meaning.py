"""One label, one meaning across archives: implications, the "normal" of each
archive, PTB-XL statements left unmapped on purpose, and what each builder
says it annotates, checked on the real samples in ../shared/data."""

import ast
import csv
import glob
import os

import pytest

from ecgjax.ecg import labels
from ecgjax.ecg.archives import ptbxl


def test_implications_name_known_labels_and_close_transitively():
  known = set(labels.names())
  implied = {label.name: label.implies for label in labels.vocabulary() if label.implies}
  assert implied, "the vocabulary declares no implications"
  for child, parents in implied.items():
    assert set(parents) <= known, child
    assert child not in labels.with_implied(parents), f"{child}: implication cycle"
  assert labels.with_implied({"inferior_infarction"}) == {"inferior_infarction",
                                                          "myocardial_infarction"}
  assert labels.with_implied({"lateral_ischemia", "sinus_rhythm"}) == {
      "lateral_ischemia", "myocardial_ischemia", "sinus_rhythm"}
  assert labels.with_implied(set()) == set()


def _statements(shared_data):
  with open(os.path.join(shared_data, "ptbxl", "scp_statements.csv"), newline="") as f:
    return {row[""]: row for row in csv.DictReader(f)}


def test_ptbxl_superdiagnostic_mi_is_the_vocabulary_myocardial_infarction(shared_data):
  """Over PTB-XL's full statement table: a statement is in the benchmark's MI
  superclass exactly when it gives myocardial_infarction (acute ones included)."""
  for code, row in _statements(shared_data).items():
    gives_mi = "myocardial_infarction" in labels.with_implied(labels.from_ptbxl([code]).labels)
    assert gives_mi == (row["diagnostic_class"] == "MI"), code


def test_every_ptbxl_statement_maps_or_is_left_out_on_purpose(shared_data):
  statements = _statements(shared_data)
  unmapped = sorted(c for c in statements if labels.from_ptbxl([c]).unmapped)
  assert unmapped == [], unmapped
  assert set(labels.PTBXL_UNMAPPED) <= set(statements)
  assert labels.from_ptbxl(["ANEUR"]).labels == {"st_elevation"}
  assert not labels.from_ptbxl(["ABQRS", "PRC(S)", "SVARR"]).labels


def test_ptbxl_samples_normal_and_infarction(shared_data):
  with open(os.path.join(shared_data, "ptbxl", "ptbxl_database.csv"), newline="") as f:
    rows = list(csv.DictReader(f))
  normal = infarction = 0
  for row in rows:
    codes = ast.literal_eval(row["scp_codes"])
    got = labels.with_implied(labels.from_ptbxl(codes, row["heart_axis"]).labels)
    assert ("normal_ecg" in got) == ("NORM" in codes), row["ecg_id"]
    superclasses = ptbxl.task_mapping("superdiagnostic", codes, "").labels
    assert ("myocardial_infarction" in got) == ("MI" in superclasses), row["ecg_id"]
    normal += "normal_ecg" in got
    infarction += "myocardial_infarction" in got
  assert normal > 0 and infarction > 0


def test_ptbxl_axis_types_map_to_deviations_only_beyond_the_normal_range():
  axis_labels = {"left_axis_deviation", "right_axis_deviation"}
  for code, expected in (("ALAD", {"left_axis_deviation"}), ("LAD", set()), ("MID", set()),
                         ("RAD", {"right_axis_deviation"}),
                         ("ARAD", {"right_axis_deviation"})):
    mapped = labels.from_ptbxl([], code)
    assert mapped.labels == expected and not mapped.unknown, code
  # No stated axis type: both axis labels undecided, not negative.
  for code in ("", "SAG", "AXL", "AXR"):
    mapped = labels.from_ptbxl(["SR"], code)
    assert mapped.labels == {"sinus_rhythm"} and mapped.unknown == axis_labels, code


def _frontal_qrs_axis(path: str) -> float:
  """The frontal QRS axis as carts measure it: the direction of the net QRS area
  in leads I and aVF (median over beats, 0.5-40 Hz)."""
  import numpy as np
  import scipy.signal

  from ecgjax.ecg.formats import wfdb_format
  record = wfdb_format.read_wfdb(path)
  fs = record.sampling_rate
  b, a = scipy.signal.butter(2, [0.5, 40], btype="band", fs=fs)
  x = scipy.signal.filtfilt(b, a, record.signal, axis=0)
  slope = np.abs(np.diff(x, axis=0)).sum(axis=1)
  beats, _ = scipy.signal.find_peaks(slope, distance=int(0.3 * fs),
                                     height=0.4 * np.percentile(slope, 98))
  names = [name.upper() for name in record.lead_names]
  lead_i, lead_avf = names.index("I"), names.index("AVF")
  areas = []
  for beat in beats[(beats > 0.2 * fs) & (beats < len(x) - 0.2 * fs)]:
    baseline = x[beat - int(0.12 * fs):beat - int(0.08 * fs)].mean(axis=0)
    areas.append((x[beat - int(0.06 * fs):beat + int(0.06 * fs)] - baseline).sum(axis=0))
  area = np.median(areas, axis=0)
  return float(np.degrees(np.arctan2(area[lead_avf], area[lead_i])))


def test_ptbxl_lad_is_the_linkstyp_inside_the_normal_range(shared_data):
  """The axis measured on the shared records PTB-XL calls LAD lies mostly in -30 to
  +30 degrees (Linkstyp), not beyond -30 (left axis deviation): what from_ptbxl
  assumes."""
  import numpy as np
  with open(os.path.join(shared_data, "ptbxl", "ptbxl_database.csv"), newline="") as f:
    rows = [r for r in csv.DictReader(f) if r["heart_axis"] == "LAD"]
  assert len(rows) >= 5, "the shared PTB-XL sample has too few LAD records to check"
  axes = np.array([_frontal_qrs_axis(os.path.join(shared_data, "ptbxl", r["filename_hr"]))
                   for r in rows])
  assert -30 < np.median(axes) < 30, axes
  assert np.mean((axes > -30) & (axes < 30)) >= 0.7, axes


def test_ptbxl_blank_axis_is_not_stated_rather_than_normal(shared_data):
  """Shared records with no heart_axis code include axes outside -30 to +90 degrees:
  why from_ptbxl leaves the axis labels unknown there instead of negative."""
  import numpy as np
  with open(os.path.join(shared_data, "ptbxl", "ptbxl_database.csv"), newline="") as f:
    rows = [r for r in csv.DictReader(f) if not r["heart_axis"].strip()]
  axes = np.array([_frontal_qrs_axis(os.path.join(shared_data, "ptbxl", r["filename_hr"]))
                   for r in rows])
  assert np.sum(axes < -30) >= 2 and np.sum(axes > 90) >= 2, np.round(axes)


def _cpsc_headers(shared_data):
  headers = sorted(glob.glob(os.path.join(shared_data, "cinc2020", "A*.hea")))
  assert headers, f"no CPSC 2018 headers in {shared_data}/cinc2020"
  return headers


def _dx(header):
  with open(header) as f:
    return next(ln.split(":", 1)[1] for ln in f if ln.startswith("#Dx")).strip().split(",")


def test_cpsc_normal_is_normal_ecg_and_labels_stay_in_its_nine_classes(shared_data):
  normal = 0
  for header in _cpsc_headers(shared_data):
    name = os.path.basename(header)[:-4]
    dx = _dx(header)
    got = labels.with_implied(labels.from_physionet_dx(dx, name).labels)
    assert ("normal_ecg" in got) == ("Normal" in dx), name
    assert got <= set(labels.CPSC2018_CLASSES) | {"sinus_rhythm"}, (name, got)
    normal += "normal_ecg" in got
  assert normal == 7     # the README's count of `Normal` among A0001-A0040


def test_the_sinus_rhythm_code_means_normal_only_for_cpsc2018_names():
  assert "normal_ecg" in labels.from_physionet_dx(["426783006"], "A0042").labels
  # CinC 2017 (A00001), Georgia (E00001) and PTB-XL (HR00001) records are not CPSC.
  for name in ("A00042", "E00001", "HR00001", ""):
    assert labels.from_physionet_dx(["426783006"], name).labels == {"sinus_rhythm"}


def test_builders_declare_what_they_annotate():
  from tfds_builders.code15 import code15_dataset_builder as code15
  from tfds_builders.physionet2021 import physionet2021_dataset_builder as physionet
  from tfds_builders.ptbxl import ptbxl_dataset_builder as ptbxl_builder
  ptb = ptbxl_builder.Builder(config="vocabulary_100", data_dir="/nonexistent").info.metadata
  assert {"myocardial_infarction", "normal_ecg", "left_axis_deviation"} <= set(
      ptb["annotated_labels"])
  assert "atrial_tachycardia" not in ptb["annotated_labels"]     # no SCP statement
  assert set(ptb["annotated_labels"]) <= set(ptb["label_names"])
  cpsc = physionet.Builder(config="cpsc2018_100", data_dir="/nonexistent").info.metadata
  assert sorted(cpsc["annotated_labels"]) == sorted(labels.CPSC2018_CLASSES)
  allsources = physionet.Builder(config="vocabulary_100", data_dir="/nonexistent").info.metadata
  assert "sinus_rhythm" in allsources["annotated_labels"]
  code = code15.Builder(config="vocabulary_100", data_dir="/nonexistent").info.metadata
  assert sorted(code["annotated_labels"]) == sorted(labels.CODE15_COLUMNS.values())
  assert ptb["recorded_leads"] == list(("I", "II", "III", "aVR", "aVL", "aVF",
                                        "V1", "V2", "V3", "V4", "V5", "V6"))


@pytest.mark.parametrize("config", ["cpsc2018_500"])
def test_cpsc2018_config_reads_only_cpsc_records(shared_data, tmp_path, config):
  import shutil

  import tensorflow_datasets as tfds
  from tfds_builders.physionet2021 import physionet2021_dataset_builder as physionet
  raw = tmp_path / "raw"
  raw.mkdir()
  for header in _cpsc_headers(shared_data)[:8]:
    shutil.copy(header, raw)
    shutil.copy(header[:-4] + ".mat", raw)
  # A CinC 2017 record beside them: not CPSC 2018, so not read.
  for suffix in (".hea", ".mat"):
    shutil.copy(os.path.join(shared_data, "cinc2017", "A00001" + suffix), raw)
  builder = physionet.Builder(config=config, data_dir=str(tmp_path / "out"))
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(raw)))
  ids = {ex["record_id"].decode() for split in builder.info.splits
         for ex in tfds.as_numpy(builder.as_dataset(split=split))}
  assert ids == {os.path.basename(h)[:-4] for h in _cpsc_headers(shared_data)[:8]}
