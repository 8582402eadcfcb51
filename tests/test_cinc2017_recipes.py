"""benchmarks/cinc2017_recipes.py: a recipe's Challenge score against another's is the
paired difference on the same recordings, matched by key, not by position."""

import os
import sys

import numpy as np
import pytest

from tests.helpers import REPO


def write_predictions(workdir, keys, reference, classified, names):
  workdir.mkdir()
  columns = [names.index(c) for c in ("normal", "af", "other", "noisy")]
  labels = np.zeros((len(keys), 4), np.float32)
  scores = np.full((len(keys), 4), 0.1, np.float32)
  labels[np.arange(len(keys)), np.array(columns)[reference]] = 1
  scores[np.arange(len(keys)), np.array(columns)[classified]] = 0.7
  np.savez(workdir / "predictions.npz", names=np.array(names), test_labels=labels,
           test_log_odds=scores, test_patients=np.array(keys))


def test_the_difference_pairs_recordings_by_key(tmp_path):
  sys.path.insert(0, os.path.join(REPO, "benchmarks"))
  import cinc2017_recipes
  from ecgjax.evaluation import challenge2017
  rng = np.random.default_rng(0)
  n = 200
  keys = rng.permutation(10_000)[:n]
  reference = rng.choice(4, size=n, p=[0.6, 0.1, 0.25, 0.05])
  a = np.where(rng.uniform(size=n) < 0.6, reference, rng.choice(4, size=n))
  b = np.where(rng.uniform(size=n) < 0.5, reference, a)
  write_predictions(tmp_path / "a", keys, reference, a, ["normal", "af", "other", "noisy"])
  # B's run lists the recordings in another order and its columns in another order.
  order = rng.permutation(n)
  write_predictions(tmp_path / "b", keys[order], reference[order], b[order],
                    ["noisy", "other", "af", "normal"])
  out = cinc2017_recipes.difference(str(tmp_path / "b"), str(tmp_path / "a"))
  expected = (challenge2017.challenge_score(reference, b)["score"]["value"] -
              challenge2017.challenge_score(reference, a)["score"]["value"])
  assert out["value"] == pytest.approx(expected) and out["value"] > 0
  assert out["records"] == n
  write_predictions(tmp_path / "c", keys[:-1], reference[:-1], a[:-1],
                    ["normal", "af", "other", "noisy"])
  with pytest.raises(SystemExit, match="not tested on the same recordings"):
    cinc2017_recipes.difference(str(tmp_path / "c"), str(tmp_path / "a"))
