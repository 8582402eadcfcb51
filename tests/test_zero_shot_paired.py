"""Two models scored zero-shot on the same records, paired (sim_to_real/paired):
every resample scores both on the same records, so B - A has its own CI."""

import numpy as np
import pytest

from ecgjax.evaluation import bootstrap
from ecgjax.sim_to_real import paired, scored_sets


def _scored(truth, probabilities, model_labels=("a", "b", "c"), known=None):
  truth = np.asarray(truth, bool)
  return scored_sets.ScoredSet(
      labels=["a", "b", "c"], truth=truth,
      known=np.ones_like(truth) if known is None else np.asarray(known, bool),
      model_labels=list(model_labels), probabilities=np.asarray(probabilities, float),
      log_odds=np.asarray(probabilities, float), patients=np.arange(len(truth)))


def _weights(n, resamples):
  """Records resampled: one ECG per patient, as in the shared sets."""
  return bootstrap.patient_weights(np.arange(n), resamples, seed=0)


def _cohort(n=300, seed=0):
  rng = np.random.default_rng(seed)
  truth = rng.uniform(size=(n, 3)) < np.array([0.3, 0.3, 0.005])   # "c": too few positives
  noise = rng.normal(size=(n, 3))
  return truth, noise


def test_a_better_model_is_ahead_on_every_resample_and_labels_follow_their_names():
  truth, noise = _cohort()
  weak = truth + 2.0 * noise          # AUROC about 0.6 per label
  strong = truth + 0.3 * noise        # nearly perfect
  a = _scored(truth, weak)
  # B's head lists the labels in another order: they are matched by name.
  b = _scored(truth, strong[:, [2, 0, 1]], model_labels=("c", "a", "b"))
  part = paired.paired_labels(a, b, ["a", "b", "c"], _weights(len(truth), 300), 3)
  assert set(part.labels) == {"a", "b"}        # "c" has fewer than 3 positives
  result = paired.summary([part])
  for v in part.labels.values():
    assert v["auroc_b"] > 0.95 and v["auroc_a"] < 0.8
    assert v["difference"] == pytest.approx(v["auroc_b"] - v["auroc_a"])
    assert 0 < v["difference_ci"][0] <= v["difference"] <= v["difference_ci"][1]
    assert v["delong_p"] < 1e-6
  low, high = result["difference"]["ci"]
  assert 0 < low <= result["difference"]["value"] <= high
  assert result["difference"]["value"] == pytest.approx(
      result["median_b"]["value"] - result["median_a"]["value"])


def test_one_model_against_itself_differs_by_nothing_on_any_resample():
  truth, noise = _cohort(seed=1)
  a = _scored(truth, truth + noise)
  result = paired.summary(
      [paired.paired_labels(a, a, ["a", "b", "c"], _weights(len(truth), 200), 3)])
  assert result["difference"] == {"value": 0.0, "ci": [0.0, 0.0]}
  # Each model's own median CI is as wide as it is: the pairing is what narrows B - A.
  low, high = result["median_a"]["ci"]
  assert high - low > 0.02


def test_only_the_labels_a_set_annotates_and_knows_are_compared():
  truth, noise = _cohort(seed=2)
  known = np.ones_like(truth)
  known[:, 1] = truth[:, 1]            # "b" known only where positive: no negatives
  a = _scored(truth, truth + noise, known=known)
  weights = _weights(len(truth), 50)
  assert set(paired.paired_labels(a, a, ["a", "b"], weights, 3).labels) == {"a"}
  nothing = paired.paired_labels(a, a, ["c"], weights, 3)
  assert paired.summary([nothing])["median_a"] is None


def test_pooled_sets_count_a_label_once_per_set():
  """The same label annotated by two sets is two entries of the pooled median."""
  truth, noise = _cohort(seed=4)
  a, b = _scored(truth, truth + 2.0 * noise), _scored(truth, truth + 0.3 * noise)
  weights = _weights(len(truth), 100)
  part = paired.paired_labels(a, b, ["a"], weights, 3)
  pooled = paired.summary([part, part])
  assert pooled["labels_counted"] == 2
  assert pooled["median_b"]["value"] == pytest.approx(part.labels["a"]["auroc_b"])


def test_two_sets_of_scores_of_different_records_are_refused():
  truth, noise = _cohort(seed=3)
  a = _scored(truth, noise)
  b = _scored(truth[::-1], noise)
  with pytest.raises(ValueError, match="same records"):
    paired.paired_labels(a, b, ["a"], _weights(len(truth), 10), 3)


def test_models_that_read_different_ecgs_are_refused_naming_both(tmp_path):
  with pytest.raises(ValueError, match=r"synthetic_foundation_lead_i reads \['I'\]"):
    paired.compare("synthetic_foundation", "synthetic_foundation_lead_i",
                             str(tmp_path), str(tmp_path))


def test_a_patients_ecgs_are_drawn_together_and_one_ecg_each_is_the_record_bootstrap():
  """PTB-XL's large set holds several ECGs of some patients: they share one draw. A set
  of one ECG per patient keeps the record bootstrap its recorded comparisons used."""
  patients = np.array([7, 7, 3, 9, 9, 9, 1])
  w = paired.resample_weights(patients, 200, seed=0)
  assert w.shape == (200, 7)
  np.testing.assert_array_equal(w[:, 0], w[:, 1])
  np.testing.assert_array_equal(w[:, 3], w[:, 5])
  assert (w[:, 0] != w[:, 2]).any()           # different patients, different draws
  assert np.all(w[:, [2, 0, 3, 6]].sum(axis=1) == 4)    # four patients drawn four times
  unique = np.array([40, 10, 30, 20])
  np.testing.assert_array_equal(paired.resample_weights(unique, 50, seed=0),
                                bootstrap.patient_weights(np.arange(4), 50, seed=0))
