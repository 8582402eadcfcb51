"""Two synthetic-pretrained models scored zero-shot on the same real ECGs, paired.

Two models' medians, each with its own CI (zero_shot.score), can overlap while one
model is better on every resample: the ECGs that are hard for one are hard for the
other. Scored on the same records, the difference is measured directly: every
resample draws the set's records once and scores both models on them, so the CI is
of "B minus A" itself. This is what "the 5,000-step model is at least as good as the
600-step one" asks of the 80 shared 12-lead ECGs, where separate CIs cannot answer.

Per label: both AUROCs, the difference with its paired-bootstrap CI and DeLong's
p-value (evaluation.comparison). Per set and pooled over the sample sets (not the
large ones, as in zero_shot.score): the median over the labels with at least
`min_positives` positives of each model, and the difference of the medians with its
paired CI. Patients are resampled (resample_weights): in the samples, one ECG each,
that is zero_shot's record bootstrap; PTB-XL's large set has patients with several
ECGs, which must be drawn together.
"""

import dataclasses
import os
import warnings

import numpy as np

from ecgjax.evaluation import bootstrap, comparison
from ecgjax.inference import scoring
from ecgjax.models import model_card, shipped
from ecgjax.sim_to_real import sample_sets, scored_sets, zero_shot


def _input(card: dict) -> tuple[int, list[str]]:
  return int(card["input"]["sampling_rate"]), list(card["input"]["leads"])


def _median_per_resample(per_label: list[np.ndarray]) -> np.ndarray:
  """The median over labels in each resample, labels undefined there left out (NaN
  where none is defined)."""
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)     # an all-NaN resample is NaN
    return np.nanmedian(np.stack(per_label), axis=0)


def _interval(estimate: float, values: np.ndarray) -> dict:
  ci = bootstrap.percentile_interval(estimate, values)
  return {"value": estimate, "ci": [ci.low, ci.high]}


@dataclasses.dataclass
class PairedLabels:
  """One set's labels scored by both models: per label its figures (`labels`), and
  its AUROC under every resample for A and for B (rows in the order of `labels`)."""
  labels: dict
  resampled_a: list
  resampled_b: list


def resample_weights(patients: np.ndarray, resamples: int, seed: int) -> np.ndarray:
  """(resamples, records) weights of a patient bootstrap. Where every record is its
  own patient they are drawn by record position, as before PTB-XL's large set (whose
  2,055 records are 2,020 patients' ECGs), so earlier recorded comparisons reproduce."""
  if len(np.unique(patients)) == len(patients):
    return bootstrap.patient_weights(np.arange(len(patients)), resamples, seed)
  return bootstrap.patient_weights(patients, resamples, seed)


def paired_labels(a: scored_sets.ScoredSet, b: scored_sets.ScoredSet, annotated: list[str],
                  weights: np.ndarray, min_positives: int) -> PairedLabels:
  """A's and B's scores of one set (the same records in the same order), the labels
  the set annotates and record weights (resamples, records): the labels both models
  name with at least `min_positives` known positives and a known negative."""
  if not np.array_equal(a.truth, b.truth):
    raise ValueError("the two models were not scored on the same records")
  out = PairedLabels({}, [], [])
  for k, column_a in scored_sets.counted_columns(a, annotated, min_positives):
    name = a.labels[k]
    if name not in b.model_labels:
      continue
    rows = a.known[:, k]
    y = a.truth[rows, k].astype(int)
    if y.all():           # no known negative: the AUROC is undefined, as in zero_shot
      continue
    score_a = a.probabilities[rows, column_a]
    score_b = b.probabilities[rows, b.model_labels.index(name)]
    w = weights[:, rows]
    difference = comparison.paired_bootstrap_difference(y, score_b, score_a, w)
    n_neg = int(len(y) - y.sum())
    auroc_a, auroc_b = (float(bootstrap.weighted_auroc(y, s, np.ones((1, len(y))))[0])
                        for s in (score_a, score_b))
    out.labels[name] = {"n_pos": int(y.sum()), "n_neg": n_neg,
                        "auroc_a": auroc_a, "auroc_b": auroc_b,
                        "difference": difference.estimate,
                        "difference_ci": [difference.low, difference.high],
                        # DeLong needs two of each class.
                        "delong_p": (comparison.delong_test(y, score_a, score_b).p_value
                                     if n_neg >= 2 else None)}
    out.resampled_a.append(bootstrap.weighted_auroc(y, score_a, w))
    out.resampled_b.append(bootstrap.weighted_auroc(y, score_b, w))
  return out


def summary(parts: list[PairedLabels]) -> dict:
  """Over every label of `parts` (one set's, or several sets' pooled; a label of two
  sets counts twice): each model's median with its CI, and B - A with its paired CI."""
  labels = [v for part in parts for v in part.labels.values()]
  if not labels:
    return {"labels_counted": 0, "median_a": None, "median_b": None, "difference": None}
  median_a = float(np.median([v["auroc_a"] for v in labels]))
  median_b = float(np.median([v["auroc_b"] for v in labels]))
  per_resample_a = _median_per_resample([r for part in parts for r in part.resampled_a])
  per_resample_b = _median_per_resample([r for part in parts for r in part.resampled_b])
  return {"labels_counted": len(labels),
          "median_a": _interval(median_a, per_resample_a),
          "median_b": _interval(median_b, per_resample_b),
          "difference": _interval(median_b - median_a, per_resample_b - per_resample_a)}


def compare(model_a: str, model_b: str, real_data: str, scratch: str, min_positives: int = 3,
            large_sets: bool = False, resamples: int = 1000, seed: int = 0) -> dict:
  """Models A and B (directories or shipped models' names; both 12-lead, or both lead
  I, at one sampling rate) on every set under `real_data` they read (sample_sets.SETS),
  paired: {'sets': {name: ...}, 'pooled': ... over the sample sets}. Sets are built
  under `scratch` as zero_shot.score builds them, so one scratch serves both
  benchmarks."""
  model_a, model_b = shipped.resolve(model_a), shipped.resolve(model_b)
  card_a, card_b = model_card.read(model_a), model_card.read(model_b)
  rate, leads = _input(card_a)
  if _input(card_b) != (rate, leads):
    raise ValueError(f"{model_a} reads {leads} at {rate} Hz and {model_b} reads "
                     f"{_input(card_b)[1]} at {_input(card_b)[0]} Hz: a paired comparison "
                     "needs both to read the same ECGs")
  one_lead = leads == ["I"]
  os.environ.setdefault("ECGJAX_PATIENT_SALT", "sim-to-real")   # as zero_shot.score
  loaded_a, loaded_b = scoring.load(model_a), scoring.load(model_b)
  sets, pooled = {}, []
  for name in sample_sets.present_sets(real_data, large_sets):
    module, config, folders, set_one_lead = sample_sets.SETS[name]
    if set_one_lead != one_lead:
      continue
    data_dir = os.path.join(scratch, name)
    dataset, annotated, _ = sample_sets.build(
        module, config.format(rate=rate), [os.path.join(real_data, f) for f in folders],
        data_dir)
    a = scored_sets.score_set(loaded_a, dataset, data_dir)
    b = scored_sets.score_set(loaded_b, dataset, data_dir)
    weights = resample_weights(a.patients, resamples, seed)
    part = paired_labels(a, b, annotated, weights, min_positives)
    sets[name] = {"dataset": dataset, "records": len(a.truth), "labels": part.labels,
                  **summary([part])}
    if name not in sample_sets.LARGE_SETS:
      pooled.append(part)
  if not sets:
    raise ValueError(f"no set under {real_data} is read by a model with leads {leads}")
  return {"model_a": model_a, "model_b": model_b,
          "generator_a": zero_shot.generator_version(model_a),
          "generator_b": zero_shot.generator_version(model_b),
          "steps_a": card_a["training"]["steps"], "steps_b": card_b["training"]["steps"],
          "min_positives": min_positives, "resamples": resamples, "sets": sets,
          "pooled": {"labels": {f"{name}:{label}": v for name, s in sets.items()
                                if name not in sample_sets.LARGE_SETS
                                for label, v in s["labels"].items()},
                     **summary(pooled)}}


def summary_lines(result: dict) -> list[str]:
  """One line per set and the pooled one: medians and B - A with their CIs."""
  def fmt(entry):
    return f"{entry['value']:.3f} [{entry['ci'][0]:.3f}, {entry['ci'][1]:.3f}]"
  lines = []
  for name, s in [*result["sets"].items(), ("pooled samples", result["pooled"])]:
    if not s["labels_counted"]:
      lines.append(f"{name}: no label with >= {result['min_positives']} positives")
      continue
    lines.append(f"{name}: A {fmt(s['median_a'])}, B {fmt(s['median_b'])}, "
                 f"B - A {fmt(s['difference'])} over {s['labels_counted']} labels")
  return lines
