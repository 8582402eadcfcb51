"""Final evaluation: what results.json holds (../shared/SPEC.md).

Thresholds come from the validation split; the test split is scored once at
them. Every metric carries a 95% CI from the patient bootstrap. A label the test
split cannot evaluate (no positives or no negatives), or whose threshold the
validation split cannot set, is reported undefined with the reason, and the
medians say how many labels they cover.
"""

import numpy as np

from ecgjax.evaluation import bootstrap, metrics, thresholds


def _interval(ci: bootstrap.Interval) -> dict:
  return {"value": ci.estimate, "ci_low": ci.low, "ci_high": ci.high}


def evaluate_predictions(names: list[str], val_labels: np.ndarray, val_scores: np.ndarray,
                         test_labels: np.ndarray, test_scores: np.ndarray,
                         test_patients: np.ndarray, *, threshold_rule: str = "youden",
                         resamples: int = 1000, seed: int = 0) -> dict:
  weights = bootstrap.patient_weights(test_patients, resamples, seed)
  per_label = {}
  for k, name in enumerate(names):
    y, s = test_labels[:, k].astype(int), test_scores[:, k]
    entry = {"n_pos": int(y.sum()), "n_neg": int(len(y) - y.sum())}
    reason = metrics.undefined_reason(y)
    if reason:
      per_label[name] = {**entry, "undefined": f"test split: {reason}"}
      continue
    entry["auroc"] = _interval(bootstrap.interval(bootstrap.weighted_auroc, y, s, weights))
    entry["auprc"] = _interval(bootstrap.interval(bootstrap.weighted_average_precision, y, s,
                                                  weights))
    val_reason = metrics.undefined_reason(val_labels[:, k])
    if val_reason:
      entry["undefined_threshold"] = f"validation split: {val_reason}"
    else:
      t = thresholds.choose_threshold(val_labels[:, k], val_scores[:, k], threshold_rule)
      entry["threshold"] = t
      entry["sensitivity"] = _interval(bootstrap.interval(bootstrap.weighted_sensitivity, y, s,
                                                          weights, t))
      entry["specificity"] = _interval(bootstrap.interval(bootstrap.weighted_specificity, y, s,
                                                          weights, t))
    per_label[name] = entry
  medians = {}
  for metric in ("auroc", "auprc", "sensitivity", "specificity"):
    values = [e[metric]["value"] for e in per_label.values() if metric in e]
    medians[metric] = {"value": float(np.median(values)) if values else None,
                       "labels_covered": len(values), "labels_total": len(names)}
  return {
      "labels": per_label,
      "medians": medians,
      "threshold_rule": threshold_rule,
      "bootstrap": {"resamples": resamples, "unit": "patient", "seed": seed, "level": 0.95},
      "test_examples": int(len(test_labels)),
      "test_patients": int(len(np.unique(test_patients))),
  }
