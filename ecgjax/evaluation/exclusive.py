"""Figures for a group of exclusive classes (models.head): each ECG is classified as
its group's most probable class and compared with the one class it has.

Per class F1 = 2TP / (2TP + FP + FN) (rows of the confusion matrix are the reference,
columns the classification); the macro F1 is their mean, with a percentile interval
over patient resamples, as every other interval here.
"""

import warnings

import numpy as np

from ecgjax.evaluation import bootstrap


NOT_THE_CLASS = -1.0


def decision_scores(probabilities: np.ndarray, groups, top: np.ndarray | None = None
                    ) -> np.ndarray:
  """Calibrated probabilities as labels are called on them: in each exclusive group
  (column indices), only the group's most probable class keeps its probability and the
  others get NOT_THE_CLASS, below any threshold (which are probabilities, >= 0), so a
  class is called only where it is the ECG's `class` (predict's column); independent
  labels are unchanged.

  `top` (the shape of `probabilities`, from is_top over the whole head): where the
  columns hold only part of a group (an evaluation of some of its classes), whether
  each is its whole group's most probable, which the part alone cannot tell."""
  out = np.array(probabilities, np.float64)
  if top is not None:
    grouped = np.zeros(out.shape[1], bool)
    grouped[[k for group in groups for k in group]] = True
    return np.where(grouped & ~np.asarray(top, bool), NOT_THE_CLASS, out)
  return np.where(is_top(out, groups), out, NOT_THE_CLASS)


def is_top(scores: np.ndarray, groups) -> np.ndarray:
  """(n, labels) bool: True for an independent label, and for a class of an exclusive
  group (column indices) where it is its group's most probable. Probabilities and
  log-odds (models.head.log_odds, increasing in the class's logit and decreasing in the
  others') give the same answer."""
  scores = np.asarray(scores)
  out = np.ones(scores.shape, bool)
  rows = np.arange(len(scores))
  for group in groups:
    columns = np.asarray(group)
    best = scores[:, columns].argmax(axis=1)
    out[:, columns] = False
    out[rows, columns[best]] = True
  return out


def per_class_f1(reference: np.ndarray, predicted: np.ndarray, weights: np.ndarray,
                 n_classes: int) -> np.ndarray:
  """(B, n_classes) F1 of each class under each row of `weights` (B, n); NaN where a
  class is neither in the reference nor predicted."""
  out = np.empty((weights.shape[0], n_classes))
  for c in range(n_classes):
    hit = bootstrap.weight_of(weights, (reference == c) & (predicted == c))
    row = bootstrap.weight_of(weights, reference == c)
    column = bootstrap.weight_of(weights, predicted == c)
    with np.errstate(invalid="ignore", divide="ignore"):
      out[:, c] = 2 * hit / (row + column)
  return out


def confusion(reference: np.ndarray, predicted: np.ndarray, n_classes: int) -> list[list[int]]:
  counts = np.zeros((n_classes, n_classes), int)
  np.add.at(counts, (reference, predicted), 1)
  return counts.tolist()


def group_results(classes, labels: np.ndarray, scores: np.ndarray, patients: np.ndarray, *,
                  resamples: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
  """results.json's entry for one exclusive group: `labels` and `scores` are the
  group's columns (n, k); rows that do not name exactly one class (not annotated) are
  left out."""
  labels = np.asarray(labels, np.float64)
  one_class = np.isfinite(labels).all(axis=1) & (np.nan_to_num(labels).sum(axis=1) == 1)
  reference = labels[one_class].argmax(axis=1)
  predicted = np.asarray(scores)[one_class].argmax(axis=1)
  n, k = len(reference), len(classes)
  entry = {"classes": list(classes), "examples": int(n)}
  if n == 0:
    return {**entry, "undefined": "no test example names exactly one class of the group",
            "f1": {c: None for c in classes}, "macro_f1": None, "accuracy": None,
            "confusion": None}
  point = per_class_f1(reference, predicted, np.ones((1, n)), k)[0]
  weights = bootstrap.patient_weights(np.asarray(patients)[one_class], resamples, seed)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)    # a resample with no defined class
    draws = np.nanmean(per_class_f1(reference, predicted, weights, k), axis=1)
  ci = bootstrap.percentile_interval(float(np.nanmean(point)), draws, level)
  return {**entry, "undefined": None,
          "f1": {c: None if np.isnan(v) else float(v) for c, v in zip(classes, point)},
          "macro_f1": {"value": ci.estimate, "ci_low": ci.low, "ci_high": ci.high},
          "accuracy": float((reference == predicted).mean()),
          "confusion": {"rows": "reference", "columns": "classified",
                        "counts": confusion(reference, predicted, k)}}
