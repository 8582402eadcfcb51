"""The PhysioNet/CinC Challenge 2017 score, with a record-bootstrap interval.

The Challenge (Clifford et al., "AF classification from a short single lead ECG
recording: the PhysioNet/Computing in Cardiology Challenge 2017", CinC 2017)
classifies each recording as Normal, AF, Other rhythm or Noisy, and scores a
submission by the mean of the F1 scores of the first three:
F1_c = 2 * N_cc / (sum of row c + sum of column c) of the confusion matrix
(rows the reference, columns the classification), that is 2TP / (2TP + FP + FN).
Noisy recordings count in the other classes' rows and columns but their own F1
is not in the mean.

Records are the resampling unit: the Challenge publishes no patient ids.
"""

import numpy as np

from ecgjax.evaluation import bootstrap, exclusive

CLASSES = ("normal", "af", "other", "noisy")
SCORED = ("normal", "af", "other")
_SCORED_INDEX = [CLASSES.index(c) for c in SCORED]


def class_f1(reference: np.ndarray, predicted: np.ndarray, weights: np.ndarray) -> np.ndarray:
  """(B, 4) F1 per class under each row of `weights` (B, n); class indices index CLASSES.
  NaN where a class is neither in the reference nor predicted."""
  reference, predicted = np.asarray(reference), np.asarray(predicted)
  for name, values in (("reference", reference), ("predicted", predicted)):
    if values.size and (values.min() < 0 or values.max() >= len(CLASSES)):
      raise ValueError(f"{name} classes must index {CLASSES}, got values "
                       f"{sorted(set(values.tolist()))}")
  return exclusive.per_class_f1(reference, predicted, weights, len(CLASSES))


def _scores(reference: np.ndarray, predicted: np.ndarray, weights: np.ndarray) -> np.ndarray:
  """(B,) the Challenge score under each row of `weights`. A resample where a scored
  class is absent from both sides has no F1 for it: its score is NaN, and the interval
  drops it."""
  return class_f1(reference, predicted, weights)[:, _SCORED_INDEX].mean(axis=1)


def challenge_score(reference: np.ndarray, predicted: np.ndarray, *, resamples: int = 1000,
                    seed: int = 0, level: float = 0.95) -> dict:
  """{'f1': {class: value}, 'score': {value, ci_low, ci_high}}: the mean F1 of normal, AF
  and other, with a percentile interval over record resamples."""
  n = len(reference)
  point = class_f1(reference, predicted, np.ones((1, n)))[0]
  weights = bootstrap.patient_weights(np.arange(n), resamples, seed)
  draws = _scores(reference, predicted, weights)
  ci = bootstrap.percentile_interval(float(np.mean(point[_SCORED_INDEX])), draws, level)
  return {"f1": {c: float(point[i]) for i, c in enumerate(CLASSES)},
          "score": {"value": ci.estimate, "ci_low": ci.low, "ci_high": ci.high},
          "records": n, "resamples": resamples}


def paired_difference(reference: np.ndarray, predicted_a: np.ndarray, predicted_b: np.ndarray,
                      *, resamples: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
  """B's Challenge score minus A's on the same recordings, with a percentile interval
  over record resamples drawn once for both: the two scores move together with the
  records drawn, so this interval is far narrower than either score's, and it, not
  whether two separate intervals overlap, says whether B beats A."""
  n = len(reference)
  if not len(predicted_a) == len(predicted_b) == n:
    raise ValueError(f"paired difference: {n} references, {len(predicted_a)} and "
                     f"{len(predicted_b)} predictions")
  difference = mean_paired_difference(reference, [(predicted_a, predicted_b)],
                                      resamples=resamples, seed=seed, level=level)
  del difference["pairs"]
  return difference


def mean_paired_difference(reference: np.ndarray, pairs: list, *, resamples: int = 1000,
                           seed: int = 0, level: float = 0.95) -> dict:
  """The mean over `pairs` [(predicted A, predicted B), ...] (a sweep's seeds) of B's
  score minus A's on the same recordings, its interval from record resamples drawn once
  for every pair (as the sweep's AUROC differences are)."""
  n = len(reference)
  ones = np.ones((1, n))
  weights = bootstrap.patient_weights(np.arange(n), resamples, seed)
  point = float(np.mean([_scores(reference, b, ones)[0] - _scores(reference, a, ones)[0]
                         for a, b in pairs]))
  draws = np.mean([_scores(reference, b, weights) - _scores(reference, a, weights)
                   for a, b in pairs], axis=0)
  ci = bootstrap.percentile_interval(point, draws, level)
  return {"value": ci.estimate, "ci_low": ci.low, "ci_high": ci.high, "records": n,
          "pairs": len(pairs), "resamples": resamples}


def tested_classes(predictions: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(recording keys, reference class, classified class) of a run's test split from
  its predictions.npz arrays, in key order; classes index CLASSES (a recording is its
  own patient in this archive: `test_patients` holds its key)."""
  columns = [list(predictions["names"]).index(c) for c in CLASSES]
  keys = np.asarray(predictions["test_patients"])
  order = np.argsort(keys)
  labels = np.asarray(predictions["test_labels"])[order][:, columns]
  scores = np.asarray(predictions["test_log_odds"])[order][:, columns]
  return keys[order], labels.argmax(axis=1), scores.argmax(axis=1)
