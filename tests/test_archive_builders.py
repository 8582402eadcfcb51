"""Real-archive builders on ../shared/data: labels and folds as the source says,
bad files counted and reported, and no protected health information in any output."""

import ast
import csv
import os
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds

from ecgjax.ecg import build_report, labels, preprocess
from ecgjax.ecg.formats import wfdb_format
from tfds_builders import ecg_archive


def build(builder_cls, config, data_dir, manual_dir):
  builder = builder_cls(config=config, data_dir=str(data_dir))
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=str(manual_dir)))
  return builder


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
    expected = labels.from_ptbxl(ast.literal_eval(row["scp_codes"]), row["heart_axis"]).labels
    assert {n for n, v in zip(names, ex["labels"]) if v} == expected
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
  from tfds_builders.ptbxl import ptbxl_dataset_builder as ptbxl
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


def test_pretraining_and_fine_tuning_run_on_built_ptbxl(shared_data, tmp_path):
  from ecgjax import finetune, pretrain
  from ecgjax.configs import finetune as finetune_config, pretrain as pretrain_config
  from tests.conftest import TINY_MODEL
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
  pretrain.train_and_evaluate(c, str(tmp_path / "pretrain"))
  f = small(finetune_config.get_config())
  f.init_from = str(tmp_path / "pretrain")
  f.mode = "linear_probe"
  f.labels = "sinus_rhythm,normal_ecg"
  f.min_positives = 1
  results = finetune.finetune_and_evaluate(f, str(tmp_path / "probe"))
  assert set(results["labels"]) == {"sinus_rhythm", "normal_ecg"}
