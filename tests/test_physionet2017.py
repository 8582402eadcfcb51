"""physionet2017 on the 200 shared CinC 2017 records: windows, label spaces,
splits, per-recording evaluation and the Challenge score, one lead end to end."""

import collections
import json
import os
import re

import numpy as np
import pytest
import tensorflow_datasets as tfds

from ecgjax.experiments import fine_tuning
from ecgjax.configs import finetune as finetune_config
from ecgjax.ecg import preprocess, windows as windows_lib
from ecgjax.ecg.archives import physionet2017 as cinc2017
from ecgjax.ecg.formats import wfdb_format
from ecgjax.training import eval_outputs
from tests.helpers import TINY_MODEL


def _reference(shared_data):
  path = os.path.join(shared_data, "cinc2017", "REFERENCE.csv")
  return cinc2017.read_reference(path, open(path).read())


@pytest.fixture(scope="module")
def built(shared_data, tmp_path_factory):
  from tfds_builders.physionet2017 import physionet2017_dataset_builder as builder_module
  data_dir = tmp_path_factory.mktemp("cinc2017")
  out = {}
  for config in ("challenge_100", "vocabulary_100_first", "challenge_100_whole"):
    builder = builder_module.Builder(config=config, data_dir=str(data_dir))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=os.path.join(shared_data, "cinc2017")))
    out[config] = builder
  return str(data_dir), out


def _examples(builder):
  return {ex["record_id"].decode(): (split, ex) for split in builder.info.splits
          for ex in tfds.as_numpy(builder.as_dataset(split=split))}


def test_every_whole_window_of_every_record_is_an_example(built, shared_data):
  _, builders = built
  builder = builders["challenge_100"]
  examples = _examples(builder)
  reference = _reference(shared_data)
  assert builder.info.metadata["recorded_leads"] == ["I"]
  windows = collections.defaultdict(list)
  for record_id, (split, ex) in examples.items():
    name, _, index = record_id.rpartition("_w")
    windows[name].append((int(index), split, ex))
  assert set(windows) == set(reference)
  names = builder.info.metadata["label_names"]
  assert names == ["normal", "af", "other", "noisy"]
  for name, parts in windows.items():
    header = wfdb_format.read_header(os.path.join(shared_data, "cinc2017", name))
    seconds = header.num_samples / header.sampling_rate
    assert sorted(i for i, _, _ in parts) == list(range(max(1, int(seconds // 10))))
    assert len({split for _, split, _ in parts}) == 1          # a record stays in one split
    assert len({ex["patient"] for _, _, ex in parts}) == 1
    expected = cinc2017.CHALLENGE_CLASSES[reference[name]]
    for _, _, ex in parts:
      assert [n for n, v in zip(names, ex["labels"]) if v] == [expected]
      assert not ex["signal"][:, 1:].any()                     # only lead I holds data
  # The first window is the record's first 10 s, resampled from 300 to 100 Hz.
  raw = wfdb_format.read_wfdb(os.path.join(shared_data, "cinc2017", "A00001"),
                              fill_missing_leads=True, naming=cinc2017.ONE_LEAD)
  expected = preprocess.to_int16(raw, preprocess.Recipe(sampling_rate=100, duration=10.0))
  np.testing.assert_array_equal(examples["A00001_w0"][1]["signal"], expected)


def test_a_whole_recording_is_one_example_repeated_to_fill_it_as_predict_reads_it(
    built, shared_data):
  _, builders = built
  builder = builders["challenge_100_whole"]
  examples = _examples(builder)
  assert set(examples) == set(_reference(shared_data))        # no _w suffix: one per record
  recipe = builder.info.metadata["preprocess"]
  assert recipe["pad"] == "repeat" and recipe["duration"] == 61.0
  contract = {"recipe": recipe, "samples": 6100, "sampling_rate": 100.0, "leads": ["I"]}
  lengths = {}
  for name in ("A00001", "A00005", "A00013", "A00101"):
    raw = wfdb_format.read_wfdb(os.path.join(shared_data, "cinc2017", name),
                                fill_missing_leads=True, naming=cinc2017.ONE_LEAD)
    signal = examples[name][1]["signal"][:, 0]
    n = int(round(raw.duration * 100))
    lengths[name] = n
    assert signal.shape == (6100,)
    if n < 6100:                                               # the recording, again
      np.testing.assert_array_equal(signal[n:2 * n][:6100 - n], signal[:min(n, 6100 - n)])
    # predict cuts a raw file exactly as the builder did: one window, the same samples.
    windows = windows_lib.record_windows(raw, contract)
    assert windows.shape == (1, 6100, 1)
    np.testing.assert_array_equal(windows[0, :, 0], signal)
  assert min(lengths.values()) < 6100 / 2                       # some were repeated


def test_vocabulary_labels_leave_noisy_records_out(built, shared_data):
  _, builders = built
  builder = builders["vocabulary_100_first"]
  examples = _examples(builder)
  reference = _reference(shared_data)
  assert set(examples) == {n for n, code in reference.items() if code != "~"}
  assert builder.info.metadata["annotated_labels"] == ["sinus_rhythm", "atrial_fibrillation"]
  names = builder.info.metadata["label_names"]
  sinus = names.index("sinus_rhythm")
  for name, (_, ex) in examples.items():
    got = {n for n, v in zip(names, ex["labels"]) if v}
    assert got == set(cinc2017.VOCABULARY[reference[name]]), name
    # An "other rhythm" record's sinus rhythm is unknown; every other entry is known.
    unknown = {n for n, v in zip(names, ex["labels_known"]) if not v}
    assert unknown == ({"sinus_rhythm"} if reference[name] == "O" else set()), name
    assert ex["labels"][sinus] in (0, 1)
  # The build report counts those unknowns beside the positives, per split.
  prevalence = json.loads((builder.data_path / "build_report.json").read_text())[
      "label_prevalence"]
  for split in builder.info.splits:
    others = sum(1 for name, (s, _) in examples.items() if s == split and reference[name] == "O")
    assert prevalence[split]["sinus_rhythm"]["unknown"] == others, split
    assert prevalence[split]["atrial_fibrillation"]["unknown"] == 0, split
  [row] = [line for line in (builder.data_path / "build_report.md").read_text().splitlines()
           if line.startswith("| sinus_rhythm |")]
  shown = [int(n) for n in re.findall(r"(\d+) unknown", row)]
  assert sum(shown) == sum(reference[name] == "O" for name in examples) > 0, row


def test_unknown_labels_are_masked_in_training_and_left_out_of_scoring(built, shared_data):
  """The pipeline's label_mask is 0 on an O record's sinus_rhythm, so the loss skips
  it and collect_outputs gives NaN there: the AUROC is N against A only."""
  from ecgjax.data import pipeline
  _, builders = built
  source = pipeline.TfdsInput(builders["vocabulary_100_first"],
                              labels="sinus_rhythm,atrial_fibrillation", global_batch=8,
                              eval_batch=32, train_split="train", seed=0, shuffle_buffer=8,
                              leads="I")
  reference = _reference(shared_data)
  counts = collections.Counter(code for code in reference.values() if code != "~")
  _, labels, _, _ = eval_outputs.collect_outputs(
      source, "train+validation+test", lambda local: np.zeros(local["labels"].shape))
  assert len(labels) == sum(counts.values())
  sinus, af = labels[:, 0], labels[:, 1]
  assert np.isnan(sinus).sum() == counts["O"]
  assert np.nansum(sinus) == counts["N"] and (sinus == 0).sum() == counts["A"]
  assert not np.isnan(af).any() and af.sum() == counts["A"]
  batch = next(source.example_stream(0).batch(64).as_numpy_iterator())
  known = batch["label_mask"][:, 0]
  assert 0 < known.sum() < len(known)                  # O records are in the stream
  assert (batch["labels"][:, 0][known == 0] == 0).all()


def test_a_malformed_reference_line_is_named(tmp_path):
  with pytest.raises(ValueError, match=r"REFERENCE.csv: line 2: .*'A00002,X'"):
    cinc2017.read_reference("REFERENCE.csv", "A00001,N\nA00002,X\n")
  with pytest.raises(ValueError, match="listed twice"):
    cinc2017.read_reference("REFERENCE.csv", "A00001,N\nA00001,A\n")


def test_windows_aggregate_per_recording_in_split_order():
  """Scores are log-odds: `max` takes the most confident window's, `mean` the log-odds
  of the windows' mean probability, and an exclusive group's columns always the mean."""
  from scipy.special import expit, logit
  scores = np.array([[-2.0, 2.0], [0.0, -1.5], [-0.8, -0.4], [0.9, -2.2]], np.float32)
  labels = np.array([[1, 0], [1, 0], [0, 1], [1, 0]], np.float32)
  patients = np.array([7, 7, 5, 7])
  recordings = np.array([30, 30, 10, 20])    # hashes: not in split order
  out, y, p = eval_outputs.aggregate_recordings(scores, labels, patients, recordings, "max")
  np.testing.assert_allclose(out, [[0.0, 2.0], [-0.8, -0.4], [0.9, -2.2]], rtol=1e-6)
  np.testing.assert_array_equal(y, [[1, 0], [0, 1], [1, 0]])
  np.testing.assert_array_equal(p, [7, 5, 7])
  mean_first = logit(expit(scores[:2].astype(np.float64)).mean(axis=0))
  out, _, _ = eval_outputs.aggregate_recordings(scores, labels, patients, recordings, "mean")
  np.testing.assert_allclose(out, [mean_first, scores[2], scores[3]], rtol=1e-6)
  # An exclusive group's columns are averaged whatever `how` says.
  out, _, _ = eval_outputs.aggregate_recordings(scores, labels, patients, recordings, "max",
                                                groups=((0, 1),))
  np.testing.assert_allclose(out, [mean_first, scores[2], scores[3]], rtol=1e-6)
  same = eval_outputs.aggregate_recordings(scores, labels, patients, np.arange(4), "max")
  assert same[0] is scores


def test_confident_windows_pool_without_ties():
  """Windows whose probabilities round to 1.0 in float32 (log-odds 20 and 30) still
  pool to different, finite log-odds; a mean of probabilities that rounds to 1.0 in
  float64 stays finite."""
  from ecgjax.evaluation import log_odds
  confident = np.array([[20.0, 30.0], [25.0, 30.0]], np.float32)
  assert np.all(np.float32(1) / (1 + np.exp(-confident)) == 1)
  np.testing.assert_array_equal(log_odds.pool(confident, "max"), [25.0, 30.0])
  mean = log_odds.pool(confident, "mean")
  assert 20 < mean[0] < 25 and np.isfinite(mean).all()
  assert log_odds.pool(np.array([[60.0], [70.0]]), "mean")[0] == pytest.approx(36.7, abs=0.1)
  with pytest.raises(ValueError, match="aggregate must be one of"):
    log_odds.pool(confident, "median")


@pytest.mark.slow
def test_one_lead_fine_tuning_reports_the_challenge_score_per_recording(built, shared_data,
                                                                       tmp_path):
  data_dir, builders = built
  c = finetune_config.get_config()
  c.dataset.name, c.dataset.data_dir = "physionet2017/challenge_100", data_dir
  c.dataset.leads = "I"
  c.mode, c.labels, c.train_size, c.min_positives = "scratch", "all", 0, 1
  c.model.update(TINY_MODEL)
  c.model.dtype = "float32"
  c.batch_size, c.eval_batch_size, c.dataset.shuffle_buffer = 16, 64, 256
  c.total_steps, c.eval_every, c.optimizer.warmup_steps = 6, 3, 1
  results = fine_tuning.train_and_evaluate(c, str(tmp_path / "scratch"))
  test_records = {ex["record_id"].decode().rpartition("_w")[0]
                  for ex in tfds.as_numpy(builders["challenge_100"].as_dataset(split="test"))}
  assert results["test_examples"] == len(test_records)      # windows scored as recordings
  score = results["challenge2017"]
  assert score["records"] == len(test_records)
  assert set(score["f1"]) == {"normal", "af", "other", "noisy"}
  low, value, high = (score["score"][k] for k in ("ci_low", "value", "ci_high"))
  assert low <= value <= high
  card = json.load(open(tmp_path / "scratch" / "model_card.json"))
  assert card["input"]["leads"] == ["I"] and card["input"]["sampling_rate"] == 100
  assert card["exclusive_groups"] == []

  # The four classes as one softmax: trained with its cross-entropy, scored per class.
  c.exclusive_labels = "normal,af,other,noisy"
  workdir = tmp_path / "exclusive"
  results = fine_tuning.train_and_evaluate(c, str(workdir))
  (group,) = results["exclusive_groups"]
  assert group["classes"] == ["normal", "af", "other", "noisy"]
  assert group["examples"] == len(test_records)
  counts = np.array(group["confusion"]["counts"])
  assert counts.shape == (4, 4) and counts.sum() == len(test_records)
  assert group["accuracy"] == pytest.approx(np.trace(counts) / counts.sum())
  f1 = group["macro_f1"]
  assert f1["ci_low"] <= f1["value"] <= f1["ci_high"]
  card = json.load(open(workdir / "model_card.json"))
  assert card["exclusive_groups"] == [["normal", "af", "other", "noisy"]]
  assert card["calibration"]["labels"]["af"]["reason"].startswith("an exclusive class")
  assert "Exclusive classes" in open(workdir / "model_card.md").read()
  # predict: the class and its probability; the four probabilities sum to 1.
  from ecgjax.inference import score_files
  import csv
  import glob
  files = sorted(glob.glob(os.path.join(shared_data, "cinc2017", "*.hea")))[:6]
  out = str(tmp_path / "p.csv")
  assert score_files.predict_files(str(workdir), files, out).scored == 6
  with open(out, newline="") as f:
    rows = list(csv.DictReader(f))
  for row in rows:
    assert row["class"] in group["classes"] and row["renamed_leads"] == "ECG=I"
    assert float(row["class_probability"]) == max(float(row[n]) for n in group["classes"])
  for row in rows:   # a record's windows are averaged: still a distribution
    assert sum(float(row[n]) for n in group["classes"]) == pytest.approx(1.0, abs=1e-5)
  assert any(int(row["windows"]) > 1 for row in rows)
  # The JAX export returns the class probabilities too.
  import jax
  from ecgjax.inference import serving_export
  exported = tmp_path / "export"
  serving_export.export_model(str(workdir), str(exported), onnx=False)
  with open(exported / "model.jax_export", "rb") as f:
    served = jax.export.deserialize(bytearray(f.read()))
  probe = serving_export.probe_signals(card, 3)
  columns = [card["labels"].index(n) for n in group["classes"]]
  np.testing.assert_allclose(np.asarray(served.call(probe))[:, columns].sum(axis=1), 1.0,
                             atol=1e-5)


@pytest.mark.slow
def test_a_whole_recording_model_with_attention_pooling_trains_predicts_and_exports(
    built, shared_data, tmp_path):
  data_dir, builders = built
  c = finetune_config.get_config()
  c.dataset.name, c.dataset.data_dir = "physionet2017/challenge_100_whole", data_dir
  c.dataset.leads = "I"
  c.mode, c.labels, c.train_size, c.min_positives = "scratch", "all", 0, 1
  c.exclusive_labels = "normal,af,other,noisy"
  c.model.update(TINY_MODEL)
  c.model.dtype, c.model.pool = "float32", "attention"
  c.batch_size, c.eval_batch_size, c.dataset.shuffle_buffer = 8, 32, 64
  c.total_steps, c.eval_every, c.optimizer.warmup_steps = 4, 4, 1
  workdir = tmp_path / "whole"
  results = fine_tuning.train_and_evaluate(c, str(workdir))
  test_records = {ex["record_id"].decode()
                  for ex in tfds.as_numpy(builders["challenge_100_whole"].as_dataset(split="test"))}
  assert results["challenge2017"]["records"] == len(test_records)
  card = json.load(open(workdir / "model_card.json"))
  assert card["input"]["samples"] == 6100 and card["input"]["recipe"]["pad"] == "repeat"
  # predict reads each file (9-61 s) as one repeated window, as the model was trained.
  from ecgjax.inference import score_files
  import csv
  import glob
  files = sorted(glob.glob(os.path.join(shared_data, "cinc2017", "*.hea")))[:4]
  out = str(tmp_path / "p.csv")
  assert score_files.predict_files(str(workdir), files, out).scored == 4
  with open(out, newline="") as f:
    assert {row["windows"] for row in csv.DictReader(f)} == {"1"}
  # Both exports carry the learned pooling and agree with the model.
  from ecgjax.inference import serving_export
  checks = serving_export.export_model(str(workdir), str(tmp_path / "export"))
  assert [check.form for check in checks] == [serving_export.JAX_EXPORT_FILE,
                                              serving_export.ONNX_FILE]
  assert max(check.max_abs_difference for check in checks) <= serving_export.TOLERANCE


def test_the_sweep_report_lists_each_runs_challenge_score():
  from ecgjax.evaluation import sweep_runs, sweep_tables
  score = {"score": {"value": 0.61, "ci_low": 0.4, "ci_high": 0.8}, "records": 15,
           "f1": {"normal": 0.8, "af": float("nan"), "other": 0.42, "noisy": 0.0}}
  runs = [sweep_runs.Run("full", 0, 1, {"challenge2017": score}, {}),
          sweep_runs.Run("scratch", 0, 0, {"challenge2017": score}, {}),
          sweep_runs.Run("full", 50, 0, {}, {})]
  lines = sweep_tables.challenge_2017_table(runs)
  rows = [ln for ln in lines if ln.startswith("| all")]
  assert rows == ["| all | full | 1 | 0.610 [0.400, 0.800] | 0.800 | n/a | 0.420 | 15 |",
                  "| all | scratch | 0 | 0.610 [0.400, 0.800] | 0.800 | n/a | 0.420 | 15 |"]
  assert sweep_tables.challenge_2017_table(runs[2:]) == []


def test_the_sweep_report_gives_each_modes_challenge_score_against_scratch():
  """Mean over seeds per mode, and full - scratch paired over the same recordings."""
  from ecgjax.evaluation import sweep_runs, sweep_tables
  names = np.array(["normal", "af", "other", "noisy"])
  truth = np.eye(4)[[0, 0, 1, 2, 2, 3, 0, 1]]
  def run(mode, seed, classified):
    predictions = {"names": names, "test_patients": np.arange(8) * 7,
                   "test_labels": truth, "test_log_odds": np.eye(4)[classified]}
    score = {"score": {"value": 0.5 + seed / 10}, "f1": {}, "records": 8}
    return sweep_runs.Run(mode, 0, seed, {"challenge2017": score}, predictions)
  right, wrong = [0, 0, 1, 2, 2, 3, 0, 1], [0, 2, 1, 0, 2, 3, 0, 0]
  runs = [run("scratch", 0, wrong), run("scratch", 1, wrong), run("full", 0, right),
          run("full", 1, wrong)]
  lines = sweep_tables.challenge_2017_summary(runs, resamples=1000)
  [row] = [ln for ln in lines if ln.startswith("| all")]
  cells = [c.strip() for c in row.strip("|").split("|")]
  assert cells[:3] == ["all", "0.550", "0.550"]              # scratch, full: mean over seeds
  from ecgjax.evaluation import challenge2017
  reference = np.argmax(truth, axis=1)
  expected = challenge2017.mean_paired_difference(
      reference, [(np.array(wrong), np.array(right)), (np.array(wrong), np.array(wrong))])
  assert cells[3].startswith(f"{expected['value']:+.3f} [")
  assert expected["value"] > 0
