"""benchmarks/finetune_folds.py: each mode's test predictions pooled over the K folds
(every record scored once, by a model that never trained on it), then the sweep's
statistics; a fold that did not finish is named, not skipped."""

import json
import os
import sys

import numpy as np
import pytest
from sklearn import metrics as skm

from tests.helpers import REPO


def write_run(root, mode, seed, names, labels, scores, patients, best_step=300):
  run = root / "runs" / mode / "nall" / f"seed{seed}"
  run.mkdir(parents=True)
  (run / "results.json").write_text(json.dumps({"mode": mode, "train_size": 0, "seed": seed,
                                                "best_step": best_step}))
  np.savez(run / "predictions.npz", names=np.array(names), test_labels=labels,
           test_log_odds=scores, test_patients=patients)


def test_folds_are_pooled_per_mode_and_scored_as_one_test_set(tmp_path):
  sys.path.insert(0, os.path.join(REPO, "benchmarks"))
  import finetune_folds
  from ecgjax.evaluation import sweep_statistics
  rng = np.random.default_rng(0)
  names = ["atrial_fibrillation", "sinus_rhythm"]
  everything = {"scratch": [], "full": []}
  fold_dirs = []
  for k in range(3):
    n = 30
    labels = (rng.uniform(size=(n, 2)) < 0.4).astype(float)
    labels[:4, 1] = np.nan                     # unknown for these records (CinC's O)
    patients = np.arange(n) + 1000 * k
    fold = tmp_path / f"fold{k}"
    for mode, strength in (("scratch", 0.5), ("full", 2.0)):
      scores = np.nan_to_num(labels) * strength + rng.normal(size=(n, 2))
      write_run(fold, mode, 0, names, labels, scores, patients)
      everything[mode].append((labels, scores))
    fold_dirs.append(str(fold))
  runs = finetune_folds.pooled_runs(finetune_folds.load_folds(fold_dirs))
  assert sorted(r.mode for r in runs) == ["full", "scratch"]
  full = next(r for r in runs if r.mode == "full")
  assert len(full.predictions["test_labels"]) == 90
  summary = sweep_statistics.summarize(runs, resamples=200, seed=0)
  rows = {r["label"]: r for r in summary["table"]}
  labels = np.concatenate([y for y, _ in everything["full"]])
  scores = np.concatenate([s for _, s in everything["full"]])
  known = ~np.isnan(labels[:, 1])
  assert rows["sinus_rhythm"]["modes"]["full"][0] == pytest.approx(
      skm.roc_auc_score(labels[known, 1], scores[known, 1]))
  assert rows["atrial_fibrillation"]["modes"]["full"][0] == pytest.approx(
      skm.roc_auc_score(labels[:, 0], scores[:, 0]))
  assert "full_minus_scratch" in rows["atrial_fibrillation"]

  # A fold whose full run is missing stops the pooling with the count.
  missing = tmp_path / "fold3"
  write_run(missing, "scratch", 0, names, labels[:30], scores[:30], np.arange(30) + 5000)
  with pytest.raises(SystemExit, match="full seed 0: 3 of 4 folds finished"):
    finetune_folds.pooled_runs(finetune_folds.load_folds(fold_dirs + [str(missing)]))


def test_cpsc_folds_test_every_record_exactly_once(shared_data, tmp_path):
  """The 12-lead archive's K fold builds (through the CPSC copy sim_to_real makes):
  their test splits partition the shared records."""
  import glob

  import tensorflow_datasets as tfds
  sys.path.insert(0, os.path.join(REPO, "benchmarks"))
  import finetune_folds
  data_dir = str(tmp_path / "data")
  names = finetune_folds.build_folds("cpsc2018", os.path.join(shared_data, "cinc2020"),
                                     data_dir, 3, 100)
  assert names == [f"physionet2021/cpsc2018_100_fold{k}of3" for k in range(3)]
  tested = []
  for name in names:
    [directory] = glob.glob(os.path.join(data_dir, name, "*"))
    builder = tfds.builder_from_directory(directory)
    assert builder.info.metadata["fold"] < builder.info.metadata["folds"] == 3
    if "test" in builder.info.splits:
      tested += sorted({ex["record_id"].decode().split("_w")[0]
                        for ex in tfds.as_numpy(builder.as_dataset(split="test"))})
  assert sorted(tested) == [f"cpsc_2018/A{i:04d}" for i in range(1, 41)]


def test_fold_mean_auroc_scores_each_fold_alone(tmp_path):
  """A model whose scores are shifted per fold ranks every fold perfectly: its
  within-fold mean is 1.0, though pooling the folds mixes the shifts. A fold with no
  positive for a label is left out of that label's mean, and counted."""
  sys.path.insert(0, os.path.join(REPO, "benchmarks"))
  import finetune_folds
  names = ["atrial_fibrillation", "sinus_rhythm"]
  fold_dirs = []
  for k in range(3):
    labels = np.array([[1, 1], [0, 0], [0, 1], [1, 0]], float)
    if k == 2:
      labels[:, 0] = 0                                  # no AF in this fold
    shift = 10.0 * k
    fold = tmp_path / f"fold{k}"
    write_run(fold, "full", 0, names, labels, labels + shift, np.arange(4) + 10 * k,
              best_step=50 * k)
    write_run(fold, "scratch", 0, names, labels, np.where(labels == 1, 0.0, 1.0),
              np.arange(4) + 10 * k)                   # every fold ranked backwards
    fold_dirs.append(str(fold))
  folds = finetune_folds.load_folds(fold_dirs)
  out = finetune_folds.fold_mean_auroc(folds)
  assert out["atrial_fibrillation"]["modes"]["full"] == {"auroc": 1.0, "fold_seeds": 2}
  assert out["sinus_rhythm"]["modes"]["full"] == {"auroc": 1.0, "fold_seeds": 3}
  assert out["sinus_rhythm"]["modes"]["scratch"]["auroc"] == 0.0
  assert out["sinus_rhythm"]["full_minus_scratch"] == {
      "difference": 1.0, "ahead": 3, "behind": 0, "fold_seeds": 3}
  assert "linear_probe_minus_scratch" not in out["sinus_rhythm"]
  assert finetune_folds.kept_steps(folds) == {"full": [0, 50, 100],
                                                  "scratch": [300, 300, 300]}
