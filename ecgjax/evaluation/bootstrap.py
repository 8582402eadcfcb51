"""Confidence intervals by bootstrap over patients, vectorised over resamples.

ECGs of one patient are correlated, so resampling ECGs would understate the
uncertainty: each resample draws patients with replacement and weights every
ECG by how often its patient was drawn. All resamples are evaluated at once
from one sort of the scores (tie groups handled exactly), so 1,000+ resamples
of a few thousand ECGs take well under a second per label.
"""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Interval:
  estimate: float
  low: float
  high: float
  resamples: int            # resamples in which the metric was defined


def patient_weights(patients: np.ndarray, resamples: int, seed: int) -> np.ndarray:
  """(resamples, n) integer weights: how often each ECG's patient was drawn."""
  _, index = np.unique(patients, return_inverse=True)
  n_patients = index.max() + 1
  rng = np.random.default_rng(seed)
  counts = rng.multinomial(n_patients, np.full(n_patients, 1 / n_patients), size=resamples)
  return counts[:, index].astype(np.float64)


def _tie_groups(score: np.ndarray):
  """Sort order, and where each tie group starts in the sorted scores."""
  order = np.argsort(score, kind="stable")
  sorted_score = score[order]
  starts = np.flatnonzero(np.concatenate([[True], sorted_score[1:] != sorted_score[:-1]]))
  return order, starts


def _group_sums(w: np.ndarray, starts: np.ndarray) -> np.ndarray:
  """(B, groups): each row's weights summed over each tie group. The groups are runs
  of the sorted order, so each is one contiguous slice, summed by `reduceat`; without
  ties (a model's float scores, most labels) there is nothing to sum. `np.add.at`, a
  scatter, did this before at several times the cost (benchmarks/bootstrap_intervals.py)."""
  if len(starts) == w.shape[1]:
    return w
  return np.add.reduceat(w, starts, axis=1)


def weighted_auroc(y: np.ndarray, score: np.ndarray, w: np.ndarray) -> np.ndarray:
  """AUROC under each row of weights w (B, n); NaN where a class has no weight.

  The Mann-Whitney statistic with ties counted half: for every positive, the
  weight of negatives scored below it plus half of those tied with it.
  """
  order, starts = _tie_groups(score)
  y_sorted, w_sorted = y[order], np.take(w, order, axis=1)
  pos = _group_sums(w_sorted * (y_sorted == 1), starts)
  neg = _group_sums(w_sorted * (y_sorted == 0), starts)
  neg_below = np.cumsum(neg, axis=1) - neg
  total_pos, total_neg = pos.sum(axis=1), neg.sum(axis=1)
  with np.errstate(invalid="ignore", divide="ignore"):
    return (pos * (neg_below + 0.5 * neg)).sum(axis=1) / (total_pos * total_neg)


def weighted_average_precision(y: np.ndarray, score: np.ndarray, w: np.ndarray) -> np.ndarray:
  """Average precision (scikit-learn's step-wise AUPRC) under each row of weights."""
  order, starts = _tie_groups(-score)      # descending scores
  y_sorted, w_sorted = y[order], np.take(w, order, axis=1)
  pos = _group_sums(w_sorted * (y_sorted == 1), starts)
  every = _group_sums(w_sorted, starts)
  with np.errstate(invalid="ignore", divide="ignore"):
    precision = np.cumsum(pos, axis=1) / np.cumsum(every, axis=1)
    return np.nansum(pos * precision, axis=1) / pos.sum(axis=1)


def _weight_of(w: np.ndarray, chosen: np.ndarray) -> np.ndarray:
  """Each row's total weight on the chosen ECGs: one matrix-vector product. The weights
  are counts, so every partial sum is an exact integer, as in `(w * chosen).sum(1)`."""
  return w @ chosen.astype(w.dtype)


def weighted_sensitivity(y, score, w, threshold):
  hit = (score >= threshold) & (y == 1)
  with np.errstate(invalid="ignore", divide="ignore"):
    return _weight_of(w, hit) / _weight_of(w, y == 1)


def weighted_specificity(y, score, w, threshold):
  hit = (score < threshold) & (y == 0)
  with np.errstate(invalid="ignore", divide="ignore"):
    return _weight_of(w, hit) / _weight_of(w, y == 0)


def interval(metric, y, score, weights, *args, level: float = 0.95) -> Interval:
  """Point estimate on the data as given, percentile interval over resamples."""
  estimate = float(metric(y, score, np.ones((1, len(y))), *args)[0])
  return percentile_interval(estimate, metric(y, score, weights, *args), level)


def percentile_interval(estimate: float, values: np.ndarray, level: float = 0.95) -> Interval:
  """The percentile interval of a metric's values over resamples (NaN ones dropped)."""
  values = values[np.isfinite(values)]
  if not len(values):
    return Interval(estimate, float("nan"), float("nan"), 0)
  tail = 100 * (1 - level) / 2
  low, high = np.percentile(values, [tail, 100 - tail])
  return Interval(estimate, float(low), float(high), len(values))
