"""Final evaluation: what results.json holds (docs/using-a-model.md, "What a workdir holds").

Scores are the model's log-odds (evaluation.log_odds). Operating points come from
the validation split: per label a Platt calibration fitted on them and, on the
calibrated probabilities, a threshold by `threshold_rule`. The test split is
scored once at them. Every metric carries a 95% CI from the patient bootstrap.
AUROC and AUPRC rank the log-odds (calibration is monotone and leaves the ranking
unchanged); sensitivity and specificity are read at the threshold on calibrated
probabilities, exactly as `ecgjax.predict` reports positives; ECE and Brier are
given before calibration (the model's own probabilities) and after. A label the test split
cannot evaluate (no positives or no negatives), or whose threshold the
validation split cannot set, is reported undefined with the reason, and the
medians say how many labels they cover.
"""

import warnings

import numpy as np

from ecgjax.evaluation import (auroc_interval, bootstrap, calibration, challenge2017, exclusive,
                               log_odds, metrics, thresholds)


def _interval(ci: bootstrap.Interval) -> dict:
  return {"value": ci.estimate, "ci_low": ci.low, "ci_high": ci.high}


EXCLUSIVE_CALIBRATION = {"a": 1.0, "b": 0.0,
                         "reason": "an exclusive class: its softmax probability is used as is"}
# A threshold is chosen from the validation split only where it has this many positives:
# with fewer, the cut sits on one or two ECGs' scores (one AF positive once gave 0.002,
# which called AF on most normal ECGs), and a sensitivity read there has a 95% CI wider
# than 0.4 (Wilson, 9 of 10: [0.60, 0.98]).
MIN_THRESHOLD_POSITIVES = 10
# What such a label is called at instead: more likely than not on its calibrated
# probability (Platt's targets pull a small class's probabilities toward its prior).
FALLBACK_THRESHOLD = 0.5


def operating_points(names: list[str], val_labels: np.ndarray, val_log_odds: np.ndarray,
                     threshold_rule: thresholds.ThresholdRule | str = "youden",
                     exclusive_groups=(), top: np.ndarray | None = None) -> dict:
  """Per label: Platt calibration fitted on the validation log-odds and the threshold
  chosen on the calibrated probabilities: None, with the reason, where it cannot be;
  FALLBACK_THRESHOLD, with the reason, below MIN_THRESHOLD_POSITIVES positives. The
  classes of an exclusive group (`exclusive_groups`, by name) keep their softmax
  probabilities, which a per-label map would no longer make sum to 1, and are called
  only where they are their group's most probable (exclusive.decision_scores; `top`:
  where the labels hold part of a group, which rows are its whole group's most
  probable, from evaluating.Scored)."""
  exclusive_names = {n for group in exclusive_groups for n in group}
  calibrations = {}
  for k, name in enumerate(names):
    rows = metrics.annotated(val_labels[:, k])
    calibrations[name] = (dict(EXCLUSIVE_CALIBRATION) if name in exclusive_names
                          else calibration.fit_platt(val_labels[rows, k], val_log_odds[rows, k]))
  decision = exclusive.decision_scores(
      calibration.apply_platt(val_log_odds, [calibrations[n] for n in names]),
      [[names.index(n) for n in group] for group in exclusive_groups], top)
  chosen, undefined, fallback = {}, {}, {}
  for k, name in enumerate(names):
    rows = metrics.annotated(val_labels[:, k])
    y = val_labels[rows, k]
    reason = metrics.undefined_reason(y)
    if reason:
      chosen[name], undefined[name] = None, f"validation split: {reason}"
    elif y.sum() < MIN_THRESHOLD_POSITIVES:
      chosen[name] = FALLBACK_THRESHOLD
      fallback[name] = (f"{int(y.sum())} positive(s) in the split thresholds are chosen on, "
                        f"fewer than the {MIN_THRESHOLD_POSITIVES} a threshold is chosen from; "
                        f"called at a calibrated probability of {FALLBACK_THRESHOLD:g} instead")
    else:
      chosen[name] = thresholds.choose_threshold(y, decision[rows, k], threshold_rule)
      if name in exclusive_names:
        # A rule that would reach into ECGs of another class (sensitivity:0.99) calls
        # the class wherever it is the class, and nowhere else.
        chosen[name] = max(chosen[name], 0.0)
  return {"threshold_rule": str(threshold_rule), "thresholds": chosen,
          "thresholds_undefined": undefined, "thresholds_fallback": fallback,
          "calibration": {"method": "platt", "labels": calibrations},
          "validation_examples": int(len(val_labels))}


def evaluate_predictions(names: list[str], test_labels: np.ndarray, test_log_odds: np.ndarray,
                         test_patients: np.ndarray, points: dict, *, resamples: int = 1000,
                         seed: int = 0, exclusive_groups=(), top: np.ndarray | None = None
                         ) -> dict:
  """results.json for the model's test log-odds at `points` (from `operating_points`,
  or a model card's); `top` as operating_points takes it."""
  weights = bootstrap.patient_weights(test_patients, resamples, seed)
  platt = [points["calibration"]["labels"][name] for name in names]
  raw = log_odds.to_probabilities(test_log_odds)
  calibrated = calibration.apply_platt(test_log_odds, platt)
  # Sensitivity and specificity of the calls predict makes: an exclusive class only
  # where it is its group's most probable.
  decision = exclusive.decision_scores(
      calibrated, [[names.index(n) for n in group] for group in exclusive_groups], top)
  per_label = {}
  auroc_resamples = []       # per defined label: its AUROC in every resample
  for k, name in enumerate(names):
    rows = metrics.annotated(test_labels[:, k])     # all rows unless a mixture's
    y, s = test_labels[rows, k].astype(int), test_log_odds[rows, k]
    p, c, called = raw[rows, k], calibrated[rows, k], decision[rows, k]
    w = weights if rows.all() else weights[:, rows]
    entry = {"n_pos": int(y.sum()), "n_neg": int(len(y) - y.sum())}
    reason = metrics.undefined_reason(y)
    if reason:
      per_label[name] = _complete({**entry, "undefined": f"test split: {reason}"})
      continue

    def ci(metric, scores, *args, y=y, w=w):
      return _interval(bootstrap.interval(metric, y, scores, w, *args))

    # Ranked once; the estimates (unit weights) and the resamples each read in one pass.
    ranking = bootstrap.Ranking(y, s)
    auroc, auprc = (float(v[0]) for v in
                    ranking.auroc_and_average_precision(np.ones((1, len(y)))))
    resampled, resampled_ap = ranking.auroc_and_average_precision(w)
    entry["auroc"] = auroc_entry(y, auroc, resampled)
    auroc_resamples.append(resampled)
    entry["auprc"] = _interval(bootstrap.percentile_interval(auprc, resampled_ap))
    t = points["thresholds"].get(name)
    if t is None:
      entry["undefined_threshold"] = points["thresholds_undefined"].get(
          name, "no threshold in the model card")
    else:
      entry["threshold"] = t
      entry["threshold_fallback"] = points.get("thresholds_fallback", {}).get(name)
      entry["sensitivity"] = ci(bootstrap.weighted_sensitivity, called, t)
      entry["specificity"] = ci(bootstrap.weighted_specificity, called, t)
    entry["calibration"] = platt[k]
    entry["ece"] = {"before": ci(calibration.weighted_ece, p),
                    "after": ci(calibration.weighted_ece, c)}
    entry["brier"] = {"before": ci(calibration.weighted_brier, p),
                      "after": ci(calibration.weighted_brier, c)}
    per_label[name] = _complete(entry)
  medians = {}
  for metric in ("auroc", "auprc", "sensitivity", "specificity"):
    medians[metric] = _median([e[metric]["value"] for e in per_label.values()
                               if e.get(metric) is not None], len(names))
  for metric in ("ece", "brier"):
    for when in ("before", "after"):
      medians[f"{metric}_{when}"] = _median(
          [e[metric][when]["value"] for e in per_label.values() if e.get(metric) is not None],
          len(names))
  extra = {}
  if exclusive_groups:
    # Each ECG classified as its group's most probable class: F1 per class, macro F1
    # with its CI, the confusion matrix (evaluation.exclusive).
    extra["exclusive_groups"] = [
        exclusive.group_results(group, test_labels[:, [names.index(n) for n in group]],
                                test_log_odds[:, [names.index(n) for n in group]],
                                test_patients, resamples=resamples, seed=seed)
        for group in exclusive_groups]
  if set(challenge2017.CLASSES) <= set(names):
    extra["challenge2017"] = challenge_2017(names, test_labels, test_log_odds,
                                            resamples=resamples, seed=seed)
  return {
      **extra,
      "labels": per_label,
      "medians": medians,
      "macro_auroc": _macro_auroc(per_label, auroc_resamples, len(names)),
      "threshold_rule": points["threshold_rule"],
      "calibration": {"method": points["calibration"]["method"],
                      "ece_bins": calibration.ECE_BINS},
      "bootstrap": {"resamples": resamples, "unit": "patient", "seed": seed, "level": 0.95,
                    "auroc_interval": AUROC_INTERVAL_METHOD},
      "test_examples": int(len(test_labels)),
      "test_patients": int(len(np.unique(test_patients))),
  }


# Every label's entry in results.json has every field: a figure that cannot be computed
# is null, and `undefined` (the label's figures) or `undefined_threshold` (its operating
# point) says why; both are null where everything was computed. `threshold_fallback`
# says why a label's threshold is FALLBACK_THRESHOLD (null where it was chosen).
LABEL_FIELDS = ("n_pos", "n_neg", "undefined", "auroc", "auprc", "undefined_threshold",
                "threshold", "threshold_fallback", "sensitivity", "specificity",
                "calibration", "ece", "brier")


def _complete(entry: dict) -> dict:
  """`entry` with every LABEL_FIELDS key, in that order (null where not computed)."""
  return {field: entry.get(field) for field in LABEL_FIELDS}


def challenge_2017(names, labels: np.ndarray, scores: np.ndarray, *, resamples: int,
                   seed: int) -> dict:
  """The Challenge 2017 score of a model whose outputs include its four classes: each
  recording is classified as its highest-scoring class (the reference is its one
  class), as a Challenge entry answers one class per recording."""
  columns = [list(names).index(c) for c in challenge2017.CLASSES]
  reference = labels[:, columns]
  if not np.all(reference.sum(axis=1) == 1):
    raise ValueError("Challenge 2017 score: every recording needs exactly one of "
                     f"{challenge2017.CLASSES}")
  return challenge2017.challenge_score(reference.argmax(axis=1),
                                       scores[:, columns].argmax(axis=1),
                                       resamples=resamples, seed=seed)


AUROC_INTERVAL_METHOD = (
    "per label: the union of the patient-bootstrap percentile interval and Newcombe's "
    "(2006) method 5 score interval, which does not collapse to a point at AUROC 1 with "
    "few positives; macro: patient-bootstrap percentile of the mean over labels")


def auroc_entry(y: np.ndarray, estimate: float, resampled: np.ndarray) -> dict:
  """A label's AUROC with its 95% CI (AUROC_INTERVAL_METHOD), from its 0/1 labels `y`,
  its AUROC on the test split as it is and under each patient resample
  (bootstrap.Ranking.auroc)."""
  boot = bootstrap.percentile_interval(estimate, resampled)
  low, high, n_low, n_high = auroc_interval.widen(boot.estimate, boot.low, boot.high,
                                                  int(y.sum()), int(len(y) - y.sum()))
  return {"value": boot.estimate, "ci_low": low, "ci_high": high,
          "bootstrap_ci_low": boot.low, "bootstrap_ci_high": boot.high,
          "newcombe_ci_low": n_low, "newcombe_ci_high": n_high}


def _macro_auroc(per_label: dict, auroc_resamples: list[np.ndarray], total: int) -> dict:
  """The mean AUROC over the labels defined on the test split (the PTB-XL benchmark's
  headline), with the percentile interval of that mean over patient resamples."""
  values = [e["auroc"]["value"] for e in per_label.values() if e.get("auroc") is not None]
  if not values:
    return {"value": None, "ci_low": None, "ci_high": None, "labels_covered": 0,
            "labels_total": total}
  with np.errstate(invalid="ignore"), warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)      # a resample without positives
    means = np.nanmean(np.stack(auroc_resamples), axis=0)
  macro = bootstrap.percentile_interval(float(np.mean(values)), means)
  return {"value": macro.estimate, "ci_low": macro.low, "ci_high": macro.high,
          "labels_covered": len(values), "labels_total": total}


def _median(values: list[float], total: int) -> dict:
  return {"value": float(np.median(values)) if values else None,
          "labels_covered": len(values), "labels_total": total}
