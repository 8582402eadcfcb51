"""Real-archive builders on ../shared/data: labels and folds as the source says,
bad files counted and reported, and no protected health information in any output."""

import ast
import csv
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds

from ecgjax.ecg import build_report, labels, preprocess
from ecgjax.ecg.formats import wfdb_format
from tests.helpers import build
from tfds_builders import ecg_archive


def examples(builder):
  out = {}
  for split in builder.info.splits:
    for ex in tfds.as_numpy(builder.as_dataset(split=split)):
      out[ex["record_id"].decode()] = (split, ex)
  return out


def test_ptbxl_labels_folds_and_signals_follow_the_database(shared_data, tmp_path):
  from tfds_builders.ptbxl import ptbxl_dataset_builder as ptbxl
  manual = os.path.join(shared_data, "ptbxl")
  builder = build(ptbxl.Builder, "vocabulary_100", tmp_path, manual)
  built = examples(builder)
  names = builder.info.metadata["label_names"]
  assert len(names) == 68
  with open(os.path.join(manual, "ptbxl_database.csv"), newline="") as f:
    rows = {str(int(float(r["ecg_id"]))): r for r in csv.DictReader(f)}
  assert set(built) == set(rows)
  for ecg_id, (split, ex) in built.items():
    row = rows[ecg_id]
    assert split == ptbxl.FOLD_SPLITS[int(row["strat_fold"])]
    mapped = labels.from_ptbxl(ast.literal_eval(row["scp_codes"]), row["heart_axis"])
    expected = labels.with_implied(mapped.labels)
    assert {n for n, v in zip(names, ex["labels"]) if v} == expected
    # The axis labels are known exactly where heart_axis states a type.
    unknown = {n for n, v in zip(names, ex["labels_known"]) if not v}
    assert unknown == (set() if row["heart_axis"] else
                       {"left_axis_deviation", "right_axis_deviation"} - expected), ecg_id
    raw = wfdb_format.read_wfdb(os.path.join(manual, row["filename_lr"]))
    np.testing.assert_array_equal(ex["signal"], np.round(raw.signal).astype(np.int16))
    assert ex["sex"] == (0 if row["sex"].startswith("1") else 1)  # ClassLabel(female, male)
  # One patient never sits in two splits.
  split_of = {}
  for split, ex in built.values():
    assert split_of.setdefault(ex["patient"], split) == split
  report = (builder.data_path / "build_report.md").read_text()
  assert "Read 40 records; skipped 0" in report


def test_ptbxl_benchmark_task_label_spaces():
  from ecgjax.ecg.archives import ptbxl
  sizes = {s: len(ptbxl.task_labels(s)) for s in ptbxl.LABEL_SETS}
  assert sizes == {"vocabulary": 68, "all": 71, "diagnostic": 44, "subdiagnostic": 23,
                   "superdiagnostic": 5, "form": 19, "rhythm": 12}
  mapped = ptbxl.task_mapping("superdiagnostic", ["IMI", "SR", "LVH"], "")
  assert mapped.labels == {"MI", "HYP"}


PHI = ("ZEBULON", "QUIXOTEFAMILY", "MRN-4815162342", "19111111", "1911-11-11")


def plant_muse_phi(src: str, dst: str, mrn: str) -> None:
  text = open(src, encoding="latin-1").read()
  text = text.replace("<PatientID>JAX01234</PatientID>", f"<PatientID>{mrn}</PatientID>")
  text = text.replace("<PatientLastName>TEST 05</PatientLastName>",
                      "<PatientLastName>QUIXOTEFAMILY</PatientLastName>"
                      "<PatientFirstName>ZEBULON</PatientFirstName>"
                      "<DateofBirth>1911-11-11</DateofBirth>")
  text = text.replace("Confirmed by Doe, John (123456)", "Confirmed by QUIXOTEFAMILY, ZEBULON "
                      "(19111111)")
  open(dst, "w", encoding="latin-1").write(text)


def scan_for_phi(root) -> list[str]:
  hits = []
  for directory, _, files in os.walk(root):
    for name in files:
      data = open(os.path.join(directory, name), "rb").read()
      hits += [f"{name}: {s}" for s in PHI if s.encode() in data]
  return hits


def test_muse_build_keeps_phi_out_and_counts_bad_files(shared_data, tmp_path, monkeypatch,
                                                       capfd):
  from tfds_builders.muse_xml import muse_xml_dataset_builder as muse
  raw = tmp_path / "raw" / "site"
  raw.mkdir(parents=True)
  for n in (1, 2, 3):
    plant_muse_phi(os.path.join(shared_data, "muse_xml", f"musePHI_muse_ecg{n}.xml"),
                   str(raw / f"ecg{n}.xml"),
                   mrn="MRN-4815162342" if n == 1 else f"MRN-00000000{n}")
  (raw / "broken.xml").write_bytes(open(raw / "ecg1.xml", "rb").read()[:5000])
  monkeypatch.setenv("ECGJAX_PATIENT_SALT", "test-salt")

  # Default threshold (1%): one bad file in four fails the build, printing the report.
  with pytest.raises(build_report.TooManySkippedError, match="25.00% of records skipped") as e:
    build(muse.Builder, "vocabulary_100", tmp_path / "strict", tmp_path / "raw")
  assert "site/broken.xml" in str(e.value) and "not well-formed XML" in str(e.value)

  lenient = ecg_archive.EcgArchiveConfig(
      name="lenient_100", recipe=preprocess.Recipe(sampling_rate=100, duration=10.0),
      max_skip_fraction=0.5)
  builder = build(muse.Builder, lenient, tmp_path / "out", tmp_path / "raw")
  built = examples(builder)
  assert set(built) == {"ecg1", "ecg2", "ecg3"}
  names = builder.info.metadata["label_names"]
  _, first = built["ecg1"]
  assert {n for n, v in zip(names, first["labels"]) if v} == {"ventricular_pacing"}
  report = builder.data_path / "build_report.json"
  import json
  summary = json.loads(report.read_text())
  assert summary["records_skipped"] == 1 and sum(summary["records_read"].values()) == 3
  assert summary["skipped_by_reason"] == {"not well-formed XML": 1}
  out, err = capfd.readouterr()
  hits = scan_for_phi(tmp_path / "out") + scan_for_phi(tmp_path / "strict")
  hits += [f"log: {s}" for s in PHI if s in out + err]
  assert not hits, hits


def test_unlabelled_builds_read_a_records_list_or_any_format_without_labels(
    shared_data, tmp_path, monkeypatch, capfd):
  """unlabelled_ecg: a RECORDS list of WFDB records (a corrupt one counted and named,
  patients.csv keeping two records of one patient in one split), then a folder of MUSE
  and HL7 XML found by content (PHI never written, a MUSE file's PatientID its patient);
  the examples hold no labels."""
  from tfds_builders.unlabelled_ecg import unlabelled_ecg_dataset_builder as unlabelled
  monkeypatch.setenv("ECGJAX_PATIENT_SALT", "test-salt")
  raw = tmp_path / "wfdb"
  folder = raw / "records100" / "00000"
  folder.mkdir(parents=True)
  names = [f"{k:05d}_lr" for k in range(1, 21)]
  for name in names:
    for ext in (".hea", ".dat"):
      shutil.copy(os.path.join(shared_data, "ptbxl", "records100", "00000", name + ext), folder)
  (folder / "00020_lr.dat").write_bytes((folder / "00020_lr.dat").read_bytes()[:300])
  (raw / "RECORDS").write_text("".join(f"records100/00000/{n}\n" for n in names))
  (raw / "patients.csv").write_text("record,patient\nrecords100/00000/00001_lr,p1\n"
                                    "records100/00000/00002_lr,p1\n")
  lenient = ecg_archive.EcgArchiveConfig(
      name="lenient_100", recipe=preprocess.Recipe(sampling_rate=100, duration=10.0),
      max_skip_fraction=0.1)
  builder = build(unlabelled.Builder, lenient, tmp_path / "out", raw)
  built = examples(builder)
  assert len(built) == 19 and "records100/00000/00020_lr" not in built
  assert builder.info.metadata["label_names"] == []
  split_1, first = built["records100/00000/00001_lr"]
  split_2, second = built["records100/00000/00002_lr"]
  assert first["patient"] == second["patient"] and split_1 == split_2
  assert first["labels"].shape == (0,) and first["signal"].shape == (1000, 12)
  assert len({ex["patient"] for _, ex in built.values()}) == 18
  report = json.loads((builder.data_path / "build_report.json").read_text())
  assert report["records_skipped"] == 1
  [(reason, [example])] = report["skipped_examples"].items()
  assert "records100/00000/00020_lr.hea" in example, example
  assert "No labels" in (builder.data_path / "build_report.md").read_text()

  xml = tmp_path / "xml"
  xml.mkdir()
  for name in ("visit1", "visit2"):          # two ECGs of one patient (one MRN)
    plant_muse_phi(os.path.join(shared_data, "muse_xml", "musePHI_muse_ecg1.xml"),
                   str(xml / f"{name}.xml"), mrn="MRN-4815162342")
  shutil.copy(os.path.join(shared_data, "muse_xml", "musePHI_muse_ecg2.xml"), xml / "other.xml")
  shutil.copy(os.path.join(shared_data, "hl7_aecg", "fda_subject1_0.xml"), xml)
  (xml / "notes.txt").write_text("not an ECG")
  builder = build(unlabelled.Builder, "rate_100", tmp_path / "xml_out", xml)
  built = examples(builder)
  assert set(built) == {"visit1", "visit2", "other", "fda_subject1_0"}
  assert built["visit1"][1]["patient"] == built["visit2"][1]["patient"]
  assert built["visit1"][0] == built["visit2"][0]                        # one split
  assert len({ex["patient"] for _, ex in built.values()}) == 3
  out, err = capfd.readouterr()
  hits = scan_for_phi(tmp_path / "xml_out") + [f"log: {s}" for s in PHI if s in out + err]
  assert not hits, hits


def test_builders_refuse_to_run_without_a_salt(shared_data, tmp_path, monkeypatch):
  from tfds_builders.muse_xml import muse_xml_dataset_builder as muse
  from ecgjax.ecg import patients
  monkeypatch.delenv("ECGJAX_PATIENT_SALT", raising=False)
  with pytest.raises(patients.MissingSaltError, match="ECGJAX_PATIENT_SALT"):
    build(muse.Builder, "vocabulary_100", tmp_path, os.path.join(shared_data, "muse_xml"))


def test_physionet_build_maps_dx_and_keeps_header_phi_out(shared_data, tmp_path):
  from tfds_builders.physionet2021 import physionet2021_dataset_builder as physionet
  raw = tmp_path / "raw" / "cpsc_2018"
  raw.mkdir(parents=True)
  source = os.path.join(shared_data, "cinc2020")
  for name in ("A0001", "A0002", "A0003", "A0004", "A0005", "A0006"):
    shutil.copy(os.path.join(source, name + ".mat"), raw)
    header = open(os.path.join(source, name + ".hea")).read()
    header += "#Name: ZEBULON QUIXOTEFAMILY\n#MRN: MRN-4815162342\n#DOB: 1911-11-11\n"
    (raw / (name + ".hea")).write_text(header)
  builder = build(physionet.Builder, "vocabulary_500", tmp_path / "out", tmp_path / "raw")
  built = examples(builder)
  names = builder.info.metadata["label_names"]
  _, a1 = built["cpsc_2018/A0001"]
  assert {n for n, v in zip(names, a1["labels"]) if v} == {"right_bundle_branch_block"}
  assert a1["signal"].shape == (5000, 12) and a1["age"] == 74
  assert not scan_for_phi(tmp_path / "out")


@pytest.mark.slow
def test_pretraining_and_fine_tuning_run_on_built_ptbxl(shared_data, tmp_path):
  from ecgjax.experiments import fine_tuning, pretraining
  from ecgjax.configs import finetune as finetune_config, pretrain as pretrain_config
  from tests.helpers import TINY_MODEL
  from tfds_builders.ptbxl import ptbxl_dataset_builder as ptbxl
  data_dir = tmp_path / "tfds"
  build(ptbxl.Builder, "vocabulary_100", data_dir, os.path.join(shared_data, "ptbxl"))

  def small(c):
    c.dataset.name = "ptbxl/vocabulary_100"
    c.dataset.data_dir = str(data_dir)
    c.dataset.shuffle_buffer = 64
    c.model.update(TINY_MODEL)
    c.model.dtype = "float32"
    c.batch_size, c.eval_batch_size = 8, 16
    c.total_steps, c.log_every, c.eval_every, c.checkpoint_every = 4, 2, 4, 4
    c.optimizer.warmup_steps = 1
    return c

  c = small(pretrain_config.get_config("ptbxl"))
  assert c.labels == "all"
  pretraining.train_and_evaluate(c, str(tmp_path / "pretrain"))
  f = small(finetune_config.get_config())
  f.init_from = str(tmp_path / "pretrain")
  f.mode = "linear_probe"
  f.labels = "sinus_rhythm,normal_ecg"
  f.min_positives = 1
  results = fine_tuning.train_and_evaluate(f, str(tmp_path / "probe"))
  assert set(results["labels"]) == {"sinus_rhythm", "normal_ecg"}


def test_code15_build_joins_exams_and_splits_by_patient(tmp_path):
  from tests.helpers import code15_tracing, write_code15_part
  from tfds_builders.code15 import code15_dataset_builder as code15_builder
  rng = np.random.default_rng(3)
  exams = []
  for i in range(12):   # 6 patients with 2 exams each
    row = {"age": "50", "is_male": "True" if i % 2 else "False", "patient_id": str(i // 2),
           "AF": "True" if i < 4 else "False", "normal_ecg": "True" if i >= 4 else "False"}
    exams.append((100 + i, code15_tracing(10 if i % 3 else 7, rng), row))
  (tmp_path / "raw").mkdir()
  write_code15_part(str(tmp_path / "raw"), exams)
  lenient = ecg_archive.EcgArchiveConfig(
      name="lenient_500", recipe=preprocess.Recipe(sampling_rate=500, duration=10.0),
      max_skip_fraction=0.1)   # the part's trailing exam_id 0 row is skipped: 1 of 13
  builder = build(code15_builder.Builder, lenient, tmp_path / "out", tmp_path / "raw")
  built = examples(builder)
  assert len(built) == 12
  names = builder.info.metadata["label_names"]
  split, af = built["100"]
  assert {n for n, v in zip(names, af["labels"]) if v} == {"atrial_fibrillation"}
  assert af["signal"].shape == (5000, 12) and af["sex"] == 0
  split_of = {}
  for s, ex in built.values():
    assert split_of.setdefault(ex["patient"], s) == s
  summary = (builder.data_path / "build_report.md").read_text()
  assert "exam_id not in exams.csv | 1" in summary


def write_mimic_fixture(raw, rng):
  """Three studies of two subjects in MIMIC-IV-ECG's layout, one without a report."""
  import wfdb
  studies = [("10000032", "40689238", ("Sinus rhythm", "Left axis deviation",
                                       "Borderline ECG")),
             ("10000032", "40689239", ("Atrial fibrillation", "Low QRS voltages",
                                       "Abnormal ECG")),
             ("10000117", "45090959", None)]
  records, measurements = [], []
  for subject, study, report in studies:
    rel = f"files/p1000/p{subject}/s{study}"
    os.makedirs(raw / rel, exist_ok=True)
    digital = rng.integers(-300, 300, size=(5000, 12))
    wfdb.wrsamp(study, fs=500, units=["mV"] * 12, sig_name=[
        "I", "II", "III", "aVR", "aVF", "aVL", "V1", "V2", "V3", "V4", "V5", "V6"],
        d_signal=digital, fmt=["16"] * 12, adc_gain=[200.0] * 12, baseline=[0] * 12,
        write_dir=str(raw / rel))
    records.append({"subject_id": subject, "study_id": study, "file_name": study,
                    "ecg_time": "2180-07-23 08:44:00", "path": f"{rel}/{study}"})
    if report:
      measurements.append({"subject_id": subject, "study_id": study,
                           **{f"report_{i}": r for i, r in enumerate(report)}})
  for name, rows in (("record_list.csv", records), ("machine_measurements.csv", measurements)):
    columns = sorted({k for r in rows for k in r})
    with open(raw / name, "w", newline="") as f:
      writer = csv.DictWriter(f, columns)
      writer.writeheader()
      writer.writerows(rows)


def test_mimic_iv_ecg_labels_come_from_the_machine_report(tmp_path, monkeypatch):
  from tfds_builders.mimic_iv_ecg import mimic_iv_ecg_dataset_builder as mimic
  write_mimic_fixture(tmp_path / "raw", np.random.default_rng(4))
  monkeypatch.setenv("ECGJAX_PATIENT_SALT", "s")
  lenient = ecg_archive.EcgArchiveConfig(
      name="lenient_500", recipe=preprocess.Recipe(sampling_rate=500, duration=10.0),
      max_skip_fraction=0.5)
  builder = build(mimic.Builder, lenient, tmp_path / "out", tmp_path / "raw")
  built = examples(builder)
  names = builder.info.metadata["label_names"]
  got = {k: {n for n, v in zip(names, ex["labels"]) if v} for k, (_, ex) in built.items()}
  assert got == {"40689238": {"sinus_rhythm", "left_axis_deviation"},
                 "40689239": {"atrial_fibrillation", "low_qrs_voltage"}}
  # Leads come back in the standard order whatever the header's order (aVF, aVL swapped).
  raw = wfdb_format.read_wfdb(str(tmp_path / "raw/files/p1000/p10000032/s40689238/40689238"))
  np.testing.assert_array_equal(built["40689238"][1]["signal"],
                                np.round(raw.signal).astype(np.int16))
  report = json_report(builder)
  assert report["skipped_by_reason"] == {"study_id not in machine_measurements.csv": 1}


def json_report(builder):
  import json
  return json.loads((builder.data_path / "build_report.json").read_text())


@pytest.mark.slow
def test_beam_direct_runner_with_two_workers_matches_the_plain_build(shared_data, tmp_path):
  """`tfds build --beam_pipeline_options=...` (the CLI loads the builder from its path, so
  workers must unpickle readers from ecgjax) gives the plain build's examples and report,
  over a folder that mixes good records with corrupt ones: every bad one is counted."""
  import json
  import subprocess
  import sys
  from tests.helpers import REPO
  from tfds_builders.ptbxl import ptbxl_dataset_builder as ptbxl
  manual = tmp_path / "ptbxl"
  shutil.copytree(os.path.join(shared_data, "ptbxl"), manual)
  records = manual / "records100" / "00000"
  dat = (records / "00003_lr.dat").read_bytes()
  (records / "00003_lr.dat").write_bytes(dat[:len(dat) // 3])            # cut short
  (records / "00007_lr.hea").write_text("this is not a WFDB header\n")    # garbage
  corrupt = records / "00011_lr.dat"
  corrupt.write_bytes(corrupt.read_bytes()[:100] + b"\xff" * 500 + corrupt.read_bytes()[600:])
  config = {"name": "lenient_100", "label_set": "superdiagnostic",
            "recipe": {"sampling_rate": 100, "duration": 10.0}, "max_skip_fraction": 0.1}
  plain = build(ptbxl.Builder, ecg_archive.EcgArchiveConfig(**config), tmp_path / "plain",
                manual)
  tfds_cli = os.path.join(os.path.dirname(sys.executable), "tfds")
  result = subprocess.run(
      [tfds_cli, "build", "tfds_builders/ptbxl", f"--manual_dir={manual}",
       f"--data_dir={tmp_path / 'beam'}", f"--config={json.dumps(config)}",
       "--beam_pipeline_options=runner=DirectRunner,direct_num_workers=2,"
       "direct_running_mode=multi_processing"],
      cwd=REPO, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  beam_built = tfds.builder_from_directory(
      str(tmp_path / "beam" / "ptbxl" / "lenient_100" / str(ptbxl.Builder.VERSION)))
  a, b = examples(plain), examples(beam_built)
  assert set(a) == set(b) and len(a) == 37
  for record_id, (split, ex) in a.items():
    other_split, other = b[record_id]
    assert split == other_split
    for feature in ("signal", "labels", "patient", "age", "sex"):
      np.testing.assert_array_equal(ex[feature], other[feature])
  report = json_report(beam_built)
  assert report == json_report(plain)
  assert report["records_skipped"] == 3, report
  assert sum(report["skipped_by_reason"].values()) == 3
  assert not (beam_built.data_path / "_build_outcomes").exists()


def test_custom_configs_from_json_kwargs():
  """`tfds build ... --config='{JSON}'` forwards kwargs: the recipe may be a dict."""
  config = ecg_archive.EcgArchiveConfig(
      name="custom", recipe={"sampling_rate": 250, "bandpass_hz": [0.5, 100]})
  assert config.recipe == preprocess.Recipe(sampling_rate=250, bandpass_hz=(0.5, 100))
  assert config.recipe.samples == 2500
  with pytest.raises(ValueError, match="max_skip_fraction"):
    ecg_archive.EcgArchiveConfig(name="bad", max_skip_fraction=2)
  with pytest.raises(TypeError):
    ecg_archive.EcgArchiveConfig(name="typo", recipe={"sampling_hz": 250})


def test_k_fold_configs_test_every_patient_once_and_keep_patients_whole(shared_data):
  """folds=K, fold=k: fold k is test, fold k+1 validation, the rest train; over the K
  configs every patient is tested exactly once, and a patient's records never straddle
  splits. PTB-XL's folds are its own strat_folds."""
  import collections

  from etils import epath

  from tfds_builders.ptbxl import ptbxl_dataset_builder as ptbxl_builder
  items = [(f"record{i}", f"patient{i // 3}") for i in range(90)]
  tested, validated = collections.Counter(), collections.Counter()
  for k in range(5):
    splits = ecg_archive.split_by_patient(items, lambda item: item[1], salt="s", folds=5,
                                          fold=k)
    assert sum(map(len, splits.values())) == len(items)
    patients = {name: {p for _, p in part} for name, part in splits.items()}
    assert not (patients["test"] & patients["train"] or patients["test"] & patients["validation"]
                or patients["train"] & patients["validation"])
    assert splits["test"] and splits["validation"] and splits["train"]
    tested.update(r for r, _ in splits["test"])
    validated.update(r for r, _ in splits["validation"])
  assert set(tested.values()) == {1} and len(tested) == len(items)
  assert set(validated.values()) == {1}
  with pytest.raises(ValueError, match="folds must be 0 or at least 3"):
    ecg_archive.EcgArchiveConfig(name="bad", folds=5, fold=5)

  with open(os.path.join(shared_data, "ptbxl", "ptbxl_database.csv"), newline="") as f:
    strat_fold = {r["ecg_id"]: int(float(r["strat_fold"])) for r in csv.DictReader(f)}
  seen = collections.Counter()
  for k in range(10):
    builder = ptbxl_builder.Builder(
        config=ecg_archive.EcgArchiveConfig(name=f"f{k}", folds=10, fold=k),
        data_dir="/nonexistent")
    splits = builder._items(epath.Path(shared_data) / "ptbxl")
    for split, part in splits.items():
      for _, _, row in part:
        expected = {k + 1: "test", (k + 1) % 10 + 1: "validation"}.get(
            strat_fold[row["ecg_id"]], "train")
        assert split == expected, (k, row["ecg_id"])
        seen[row["ecg_id"]] += split == "test"
  assert set(seen.values()) == {1} and len(seen) == len(strat_fold)
  with pytest.raises(ValueError, match="strat_folds"):
    ptbxl_builder.Builder(config=ecg_archive.EcgArchiveConfig(name="f5", folds=5, fold=0),
                          data_dir="/nonexistent")._items(epath.Path(shared_data) / "ptbxl")


def test_muse_extra_labels_and_a_users_rules_file(shared_data, tmp_path, monkeypatch):
  from tfds_builders.muse_xml import muse_xml_dataset_builder as muse
  raw = tmp_path / "raw"
  raw.mkdir()
  for n in (1, 2, 3):
    shutil.copy(os.path.join(shared_data, "muse_xml", f"musePHI_muse_ecg{n}.xml"),
                raw / f"ecg{n}.xml")
  (raw / "statement_rules.csv").write_text(
      "pattern,label\n^confirmed by|^when compared|no significant change,-\n"
      "paced,atrial_pacing\n")
  extra = tmp_path / "extra.csv"
  extra.write_text("file,hypertrophic_cardiomyopathy\necg1.xml,0\necg2.xml,1\n")
  monkeypatch.setenv("ECGJAX_PATIENT_SALT", "s")
  monkeypatch.setenv("ECGJAX_EXTRA_LABELS", str(extra))
  lenient = ecg_archive.EcgArchiveConfig(name="lenient_100", max_skip_fraction=0.0,
                                         recipe=preprocess.Recipe(sampling_rate=100))
  builder = build(muse.Builder, lenient, tmp_path / "out", raw)
  names = builder.info.metadata["label_names"]
  assert names[-1] == "hypertrophic_cardiomyopathy" and len(names) == 69
  assert builder.info.metadata["label_groups"]["extra"] == ["hypertrophic_cardiomyopathy"]
  got = {k: {n for n, v in zip(names, ex["labels"]) if v}
         for k, (_, ex) in examples(builder).items()}
  assert got["ecg1"] == {"atrial_pacing"}          # the user's rule, not the packaged one
  assert "hypertrophic_cardiomyopathy" in got["ecg2"]
  assert "Statement Text(##)" in json_report(builder)["unmapped_source_labels"]


def test_every_builder_describes_its_dataset(tmp_path):
  """`tfds build` and DatasetInfo show a description: the builder's summary and the
  config's own, never empty."""
  import importlib
  names = ("code15", "mimic_iv_ecg", "muse_xml", "physionet2017", "physionet2021", "ptbxl",
           "synthetic_ecg")
  for name in names:
    module = importlib.import_module(f"tfds_builders.{name}.{name}_dataset_builder")
    config = module.Builder.BUILDER_CONFIGS[0]
    description = module.Builder(config=config.name, data_dir=str(tmp_path)).info.description
    assert description.startswith(f"{name}: ") and f"Config {config.name}: " in description


def test_a_builder_made_before_its_data_leaves_nothing_in_the_temporary_folder(
    tmp_path, monkeypatch):
  """TFDS looks for a builder's metadata in its public bucket whenever the data are not
  yet prepared, from a temporary directory it never removes; ecgjax's builders skip the
  look (ecg_archive.dataset_info), so builds and the sample sets leave no directory
  behind."""
  import importlib
  import tempfile
  temporary = tmp_path / "tmp"
  temporary.mkdir()
  monkeypatch.setattr(tempfile, "tempdir", str(temporary))
  names = ("code15", "mimic_iv_ecg", "muse_xml", "physionet2017", "physionet2021", "ptbxl",
           "synthetic_ecg", "unlabelled_ecg")
  for name in names:
    module = importlib.import_module(f"tfds_builders.{name}.{name}_dataset_builder")
    config = module.Builder.BUILDER_CONFIGS[0]
    builder = module.Builder(config=config.name, data_dir=str(tmp_path / "data"))
    assert not builder.data_path.exists(), name      # made before its data
    assert list(temporary.iterdir()) == [], name
