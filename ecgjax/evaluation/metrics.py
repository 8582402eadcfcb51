"""Per-label discrimination metrics for multi-label ECG classification.

A label whose evaluation set has no positives (or no negatives) has no AUROC:
it is reported as undefined with the reason, never as NaN, and every median
says how many labels it covers.

A label value of NaN means "not annotated": the example's dataset does not
annotate that label (a mixture of archives), so it is neither positive nor
negative and each label is scored on its annotated examples only (`annotated`).
"""

import numpy as np
from sklearn import metrics as skm


NOT_ANNOTATED = "not annotated by any dataset of this split"


def annotated(y_true: np.ndarray) -> np.ndarray:
  """Boolean rows of a label column that carry a 0/1 value (NaN: not annotated)."""
  return ~np.isnan(np.asarray(y_true, dtype=np.float64))


def undefined_reason(y_true: np.ndarray) -> str | None:
  if len(y_true) == 0:
    return NOT_ANNOTATED
  positives = int(y_true.sum())
  if positives == 0:
    return "no positive examples"
  if positives == len(y_true):
    return "no negative examples"
  return None


def per_label_auroc(y_true: np.ndarray, y_score: np.ndarray,
                    names: list[str]) -> dict:
  """AUROC per label (scikit-learn), with undefined labels named and explained.

  Returns {"auroc": {name: value or None}, "undefined": {name: reason},
  "auroc_median": float or None, "auroc_mean": ..., "labels_defined": int,
  "labels_total": int}.
  """
  y_true = np.asarray(y_true)
  y_score = np.asarray(y_score, dtype=np.float64)
  if y_true.shape != y_score.shape or y_true.ndim != 2 or y_true.shape[1] != len(names):
    raise ValueError(f"per_label_auroc: y_true {y_true.shape}, y_score {y_score.shape} "
                     f"and {len(names)} names do not agree")
  auroc, undefined = {}, {}
  for k, name in enumerate(names):
    rows = annotated(y_true[:, k])
    y, score = y_true[rows, k], y_score[rows, k]
    reason = undefined_reason(y)
    if reason:
      auroc[name], undefined[name] = None, reason
    else:
      auroc[name] = float(skm.roc_auc_score(y, score))
  defined = [v for v in auroc.values() if v is not None]
  return {
      "auroc": auroc,
      "undefined": undefined,
      "auroc_median": float(np.median(defined)) if defined else None,
      "auroc_mean": float(np.mean(defined)) if defined else None,
      "labels_defined": len(defined),
      "labels_total": len(names),
  }
