"""A synthetic-pretrained model scored on real archives with no training: labels
matched by name, operating points from the model card (evaluate's zero-shot path)."""

import os
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds

from ecgjax.experiments import checkpoint_evaluation, validation
from ecgjax.configs import evaluate as evaluate_config
from tests.helpers import build


@pytest.fixture(scope="module")
def real_archives(shared_data, tmp_path_factory):
  """PTB-XL 1-40 and CPSC 2018 A0001-A0040 built at the synthetic model's 100 Hz."""
  from tfds_builders.physionet2021 import physionet2021_dataset_builder as physionet
  from tfds_builders.ptbxl import ptbxl_dataset_builder as ptbxl
  data_dir = tmp_path_factory.mktemp("real")
  build(ptbxl.Builder, "vocabulary_100", data_dir, os.path.join(shared_data, "ptbxl"))
  raw = data_dir / "raw" / "cpsc_2018"
  shutil.copytree(os.path.join(shared_data, "cinc2020"), raw)
  build(physionet.Builder, "vocabulary_100", data_dir, data_dir / "raw")
  return str(data_dir)


def zero_shot(model_dir, data_dir, dataset, workdir, **fields):
  config = evaluate_config.get_config()
  config.checkpoint = model_dir
  config.dataset.name, config.dataset.data_dir = dataset, data_dir
  config.dataset.eval_split = ""                         # the model card's operating points
  config.dataset.test_split = "train+validation+test"    # every record: nothing was trained
  config.eval_batch_size = 64
  for key, value in fields.items():
    config[key] = value
  return checkpoint_evaluation.evaluate_checkpoint(config, workdir)


@pytest.mark.parametrize("dataset", ["ptbxl/vocabulary_100", "physionet2021/vocabulary_100"])
def test_labels_are_matched_by_name_and_scored_at_the_cards_thresholds(
    dataset, tiny_pretrained, real_archives, tmp_path):
  import json
  card = json.load(open(os.path.join(tiny_pretrained, "model_card.json")))
  builder = tfds.builder_from_directory(
      os.path.join(real_archives, *dataset.split("/"), os.listdir(
          os.path.join(real_archives, *dataset.split("/")))[0]))
  names = builder.info.metadata["label_names"]
  counts = np.zeros(len(names))
  for ex in tfds.as_numpy(builder.as_dataset(split="train+validation+test")):
    counts += ex["labels"]
  results = zero_shot(tiny_pretrained, real_archives, dataset, str(tmp_path))
  shared = [n for n in names if n in card["labels"]]
  assert [m["dataset_label"] for m in results["matched"]] == shared
  assert all(m["by"] == "name" and m["model_label"] == m["dataset_label"]
             for m in results["matched"])
  assert set(results["unmatched_dataset_labels"]) == set(names) - set(shared)
  assert set(results["unmatched_model_labels"]) == set(card["labels"]) - set(shared)
  assert results["test_examples"] == 40
  for name in shared:
    entry = results["labels"][name]
    assert entry["n_pos"] == counts[names.index(name)]
    if entry["threshold"] is not None:   # the card's, not re-chosen on the target
      assert entry["threshold"] == card["thresholds"][name]
  assert results["operating_points_from"]["model_card"]["split"] == "validation"
  assert any(results["labels"][n]["auroc"] is not None for n in shared)
  assert os.path.exists(tmp_path / "results.json")


def test_sim_to_real_figures_are_evaluates(tiny_pretrained, real_archives, tmp_path):
  """ecgjax.sim_to_real scores a set as predict scores files, then computes each label's
  AUROC and 95% CI as evaluate does: the figures are evaluate's, CI bounds included
  (which needs the same patient keys, so that the bootstrap draws the same patients)."""
  from ecgjax.inference import scoring
  from ecgjax.sim_to_real import scored_sets, zero_shot as sim_zero_shot
  dataset = "ptbxl/vocabulary_100"
  results = zero_shot(tiny_pretrained, real_archives, dataset, str(tmp_path))
  model = scoring.load(tiny_pretrained)
  scored = scored_sets.score_set(model, dataset, real_archives)
  figures = sim_zero_shot.label_figures(scored, model, scored.labels)
  assert list(figures) == [m["dataset_label"] for m in results["matched"]]
  compared = 0
  for name, entry in results["labels"].items():
    assert (figures[name]["n_pos"], figures[name]["n_neg"]) == (entry["n_pos"], entry["n_neg"])
    if entry["auroc"] is None:
      assert figures[name]["auroc"] is None
      continue
    assert figures[name]["auroc"] == pytest.approx(entry["auroc"]["value"], abs=1e-9)
    assert figures[name]["auroc_ci"] == pytest.approx(
        [entry["auroc"]["ci_low"], entry["auroc"]["ci_high"]], abs=1e-9)
    # A bound set by the bootstrap (not Newcombe's interval) checks the patient keys.
    compared += entry["auroc"]["ci_low"] == entry["auroc"]["bootstrap_ci_low"]
  assert compared >= 3


def test_a_dataset_at_another_rate_is_refused_naming_it(tiny_pretrained, shared_data, tmp_path):
  from tfds_builders.ptbxl import ptbxl_dataset_builder as ptbxl
  build(ptbxl.Builder, "vocabulary_500", tmp_path, os.path.join(shared_data, "ptbxl"))
  with pytest.raises(validation.ConfigError,
                     match="sampling_rate: model 100.0, dataset 500.0"):
    zero_shot(tiny_pretrained, str(tmp_path), "ptbxl/vocabulary_500", str(tmp_path / "e"))


def _scored(truth, probabilities, known=None):
  from ecgjax.sim_to_real import scored_sets
  truth = np.asarray(truth, bool)
  return scored_sets.ScoredSet(
      labels=["a", "b"], truth=truth,
      known=np.ones_like(truth) if known is None else np.asarray(known, bool),
      model_labels=["b", "a"], probabilities=np.asarray(probabilities, float),
      log_odds=np.asarray(probabilities, float), patients=np.arange(len(truth)))


def test_the_median_auroc_ci_resamples_records_per_set():
  from ecgjax.sim_to_real import scored_sets, zero_shot
  rng = np.random.default_rng(0)
  truth = rng.uniform(size=(400, 2)) < 0.3
  # Model column 1 is label "a", column 0 is label "b": "a" perfectly ranked, "b" noise.
  perfect = _scored(truth, np.stack([rng.uniform(size=400), truth[:, 0] * 1.0], axis=1))
  pairs = scored_sets.counted_columns(perfect, ["a", "b"], min_positives=3)
  assert pairs == [(0, 1), (1, 0)]
  assert zero_shot.bootstrap_median_ci([(perfect, pairs[:1])], resamples=50) == [1.0, 1.0]
  low, high = zero_shot.bootstrap_median_ci([(perfect, pairs[1:])], resamples=200)
  assert low < 0.5 < high and high - low < 0.2
  # Unknown truth is left out: "a" known only where it is positive has no negatives.
  only_positive_known = _scored(truth, perfect.probabilities, known=np.stack(
      [truth[:, 0], np.ones(400, bool)], axis=1))
  assert scored_sets.counted_columns(only_positive_known, ["a"], 3) == [(0, 1)]
  assert zero_shot.bootstrap_median_ci(
      [(only_positive_known, [(0, 1)])], resamples=20) is None
  assert zero_shot.bootstrap_median_ci([(perfect, [])]) is None


def test_the_median_auroc_ci_is_that_of_drawing_the_records_themselves():
  # Every resample is scored at once, from how often it drew each record; the interval
  # must be the one of drawing record indices set after set and ranking the drawn
  # records, duplicates and all, with scikit-learn (the definition, written out here).
  from sklearn.metrics import roc_auc_score
  from ecgjax.sim_to_real import scored_sets, zero_shot
  rng = np.random.default_rng(1)
  groups = []
  for n in (150, 90):
    truth = rng.uniform(size=(n, 2)) < 0.3
    scores = np.round(rng.normal(size=(n, 2)) + truth[:, ::-1], 1)      # ties
    known = rng.uniform(size=(n, 2)) < 0.85
    scored = _scored(truth, scores, known)
    groups.append((scored, scored_sets.counted_columns(scored, ["a", "b"], 3)))
  draws, medians = np.random.default_rng(5), []
  for _ in range(60):
    values = []
    for scored, pairs in groups:
      rows = draws.integers(len(scored.truth), size=len(scored.truth))
      for k, m in pairs:
        keep = rows[scored.known[rows, k]]
        y = scored.truth[keep, k]
        if 0 < y.sum() < len(y):
          values.append(roc_auc_score(y, scored.probabilities[keep, m]))
    medians.append(np.median(values))
  expected = [np.percentile(medians, 2.5), np.percentile(medians, 97.5)]
  assert zero_shot.bootstrap_median_ci(groups, resamples=60, seed=5) == pytest.approx(
      expected, abs=1e-12)


def test_cinc2017_folders_merge_into_one_set_scored_only_when_asked(tmp_path):
  """cinc2017/ with cinc2017_train/ is one set of every recording, one REFERENCE.csv
  (the last row of a file without a final newline included); it is large, so
  sim_to_real scores it only with --large_sets."""
  from ecgjax.sim_to_real import sample_sets
  real = tmp_path / "data"
  for folder, records in (("cinc2017", ["A00001"]), ("cinc2017_train", ["A00201", "A00202"])):
    (real / folder).mkdir(parents=True)
    for r in records:
      (real / folder / f"{r}.hea").write_text(f"{r} 1 300 9000\n")
      (real / folder / f"{r}.mat").write_bytes(b"\0\0")
    (real / folder / "REFERENCE.csv").write_text("\n".join(f"{r},N" for r in records))
  assert "cinc2017_5000" not in sample_sets.present_sets(str(real))
  assert "cinc2017_5000" in sample_sets.present_sets(str(real), large_sets=True)
  manual = sample_sets.manual_dir_for(
      "physionet2017", [str(real / "cinc2017"), str(real / "cinc2017_train")], str(tmp_path))
  assert sorted(os.listdir(manual)) == ["A00001.hea", "A00001.mat", "A00201.hea",
                                        "A00201.mat", "A00202.hea", "A00202.mat",
                                        "REFERENCE.csv"]
  with open(os.path.join(manual, "REFERENCE.csv")) as f:
    assert f.read().splitlines() == ["A00001,N", "A00201,N", "A00202,N"]
  assert os.path.realpath(os.path.join(manual, "A00201.mat")) == str(
      real / "cinc2017_train" / "A00201.mat")


def test_ptbxl_s_large_set_is_read_from_ptbxl_train_only_when_asked(tmp_path):
  """ptbxl_train/ holds PTB-XL as ptbxl/ does, thousands of records: a twelve-lead
  set large enough to separate two pretrainings, scored only with --large_sets."""
  from ecgjax.sim_to_real import sample_sets
  (tmp_path / "ptbxl_train").mkdir()
  assert sample_sets.present_sets(str(tmp_path)) == []
  assert sample_sets.present_sets(str(tmp_path), large_sets=True) == ["ptbxl_2055"]
  module, config, folders, one_lead = sample_sets.SETS["ptbxl_2055"]
  assert (module, config.format(rate=100), one_lead) == ("ptbxl", "vocabulary_100", False)


def test_normals_flagged_count_only_what_the_set_annotates():
  """A rhythm-only set (CinC 2017: sinus rhythm and AF annotated) takes its sinus-rhythm-
  only recordings as normal and counts a call only for a label it annotates; a set that
  annotates normal_ecg counts every label called on its normal ECGs."""
  import types
  from ecgjax.sim_to_real import scored_sets
  set_labels = ["normal_ecg", "sinus_rhythm", "atrial_fibrillation", "left_bundle_branch_block"]
  truth = np.array([[0, 1, 0, 0], [0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], bool)
  model = types.SimpleNamespace(
      labels=["sinus_rhythm", "atrial_fibrillation", "left_bundle_branch_block"],
      called=lambda p: p >= 0.5)
  # Normal 0: AF called; normal 1: LBBB called; normal 2: nothing; record 3 is AF.
  probabilities = np.array([[0.9, 0.8, 0.1], [0.9, 0.1, 0.7], [0.9, 0.1, 0.1], [0.1, 0.9, 0.1]])
  scored = scored_sets.ScoredSet(set_labels, truth, np.ones_like(truth), model.labels,
                                 probabilities, np.log(probabilities / (1 - probabilities)),
                                 np.arange(len(truth)))
  rhythm_only = scored_sets.flagged_normals(model, scored, ["sinus_rhythm", "atrial_fibrillation"])
  assert rhythm_only == {"normal_ecgs": 3, "flagged": 1, "fraction": 1 / 3,
                         "labels_called": {"atrial_fibrillation": 1}}
  every_label = scored_sets.flagged_normals(model, scored)     # all labels annotated
  assert every_label["flagged"] == 0 and every_label["normal_ecgs"] == 0   # none normal_ecg
  truth[:3, 0] = True
  assert scored_sets.flagged_normals(model, scored, set_labels)["labels_called"] == {
      "atrial_fibrillation": 1, "left_bundle_branch_block": 1}


def test_a_model_reading_shorter_windows_scores_each_stored_signal_as_predict_cuts_it(
    tiny_pretrained):
  """A model trained on crops (dataset.crop_s) reads fewer samples than a set stores:
  score_set cuts each signal into its windows as predict cuts a file (back to back, the
  last aligned to the end, a short one padded) instead of handing the model the whole."""
  import json
  from ecgjax.sim_to_real import scored_sets
  card = json.load(open(os.path.join(tiny_pretrained, "model_card.json")))
  card["input"]["samples"] = 400
  card["input"]["recipe"]["pad"] = "zeros"
  signal = np.arange(1100 * 2, dtype=np.int16).reshape(1100, 2)
  windows = scored_sets.model_windows(signal, card)
  assert windows.shape == (3, 400, 2)
  np.testing.assert_array_equal(windows[0], signal[:400])
  np.testing.assert_array_equal(windows[1], signal[400:800])
  np.testing.assert_array_equal(windows[2], signal[700:])      # aligned to the end
  short = scored_sets.model_windows(signal[:300], card)
  assert short.shape == (1, 400, 2)
  np.testing.assert_array_equal(short[0, :300], signal[:300])
  assert not short[0, 300:].any()
