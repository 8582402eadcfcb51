"""Operating points chosen on the validation split, applied unchanged to test.

`youden` maximises sensitivity + specificity - 1; `specificity:0.9` takes the
most sensitive threshold whose specificity is at least 0.9; `sensitivity:0.9`
the most specific threshold whose sensitivity is at least 0.9.
"""

from typing import NamedTuple

import numpy as np
from sklearn import metrics as skm


class ThresholdRule(NamedTuple):
  """A parsed `threshold_rule`; str() gives back its config spelling."""
  name: str                    # youden, specificity or sensitivity
  target: float | None = None

  def __str__(self) -> str:
    return self.name if self.target is None else f"{self.name}:{self.target:g}"


def parse_rule(rule) -> ThresholdRule:
  if isinstance(rule, ThresholdRule):
    return rule
  if rule == "youden":
    return ThresholdRule(rule)
  name, _, value = str(rule).partition(":")
  if name in ("specificity", "sensitivity") and value:
    try:
      target = float(value)
    except ValueError:
      target = float("nan")
    if 0 < target < 1:
      return ThresholdRule(name, target)
  raise ValueError(f"threshold rule {rule!r}: expected 'youden', 'specificity:X' or "
                   "'sensitivity:X' with 0 < X < 1")


def choose_threshold(y_true: np.ndarray, y_score: np.ndarray,
                     rule: ThresholdRule | str = "youden") -> float:
  """A score threshold (predict positive when score >= threshold) for one label."""
  name, target = parse_rule(rule)
  fpr, tpr, thresholds = skm.roc_curve(y_true, y_score)
  # roc_curve's first threshold is +inf (nothing positive); keep only real ones.
  fpr, tpr, thresholds = fpr[1:], tpr[1:], thresholds[1:]
  if name == "youden":
    best = np.argmax(tpr - fpr)
  elif name == "specificity":
    ok = np.flatnonzero(1 - fpr >= target)
    best = ok[np.argmax(tpr[ok])] if len(ok) else 0
  else:
    ok = np.flatnonzero(tpr >= target)
    best = ok[np.argmin(fpr[ok])]
  return float(thresholds[best])


def sensitivity_specificity(y_true: np.ndarray, y_score: np.ndarray,
                            threshold: float) -> tuple[float, float]:
  predicted = y_score >= threshold
  positives, negatives = y_true == 1, y_true == 0
  return (float(predicted[positives].mean()) if positives.any() else float("nan"),
          float((~predicted[negatives]).mean()) if negatives.any() else float("nan"))
