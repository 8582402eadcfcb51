"""What a run's results.json costs in bootstrap intervals: `results.evaluate_predictions`
on test predictions shaped like a real run's, with bootstrap's AUROC and AUPRC as they are
(`np.take` into rows, tie groups summed by `np.add.reduceat` where there are ties) and
its sensitivity and specificity (matrix-vector products) against the implementation they
replaced (a strided gather, then a scatter, `np.add.at`; elementwise sums), the two
alternating in one run, medians of `--repeats`. Both must give the same results.json to
the last bit, which is checked.

  python benchmarks/bootstrap_intervals.py [--repeats 5] \
      [--out benchmarks/results/bootstrap_intervals_cpu.jsonl]

The shapes: the demo's pretraining test split (1,668 ECGs, 39 labels) and a PTB-XL-sized
one (2,163 ECGs, 71 labels), 1,000 patient resamples each, as results.json uses. Scores are
float32 log-odds, as a model's are; `ties` is the demo's shape with them rounded to 0.1,
so that most scores share a tie group.
"""

import argparse
import datetime
import json
import os
import socket
import statistics
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from benchmarks.emit import emit  # noqa: E402
from ecgjax.evaluation import bootstrap, results  # noqa: E402

SHAPES = {"demo_pretraining_test": (1668, 39, False), "ptbxl_test": (2163, 71, False),
          "ties": (1668, 39, True)}


# The implementation this replaced (ecgjax 0.2.0), verbatim: each ECG's weight added to
# its tie group's column by a scatter, after a gather that leaves columns strided.
def _previous_tie_groups(score):
  order = np.argsort(score, kind="stable")
  sorted_score = score[order]
  group = np.concatenate([[0], np.cumsum(sorted_score[1:] != sorted_score[:-1])])
  return order, group, group[-1] + 1


def _previous_group_sums(w, group, n_groups):
  out = np.zeros((w.shape[0], n_groups))
  np.add.at(out.T, group, w.T)
  return out


def previous_weighted_auroc(y, score, w):
  order, group, n_groups = _previous_tie_groups(score)
  y_sorted, w_sorted = y[order], w[:, order]
  pos = _previous_group_sums(w_sorted * (y_sorted == 1), group, n_groups)
  neg = _previous_group_sums(w_sorted * (y_sorted == 0), group, n_groups)
  neg_below = np.cumsum(neg, axis=1) - neg
  total_pos, total_neg = pos.sum(axis=1), neg.sum(axis=1)
  with np.errstate(invalid="ignore", divide="ignore"):
    return (pos * (neg_below + 0.5 * neg)).sum(axis=1) / (total_pos * total_neg)


def previous_weighted_average_precision(y, score, w):
  order, group, n_groups = _previous_tie_groups(-score)
  y_sorted, w_sorted = y[order], w[:, order]
  pos = _previous_group_sums(w_sorted * (y_sorted == 1), group, n_groups)
  every = _previous_group_sums(w_sorted, group, n_groups)
  with np.errstate(invalid="ignore", divide="ignore"):
    precision = np.cumsum(pos, axis=1) / np.cumsum(every, axis=1)
    return np.nansum(pos * precision, axis=1) / pos.sum(axis=1)


def previous_weighted_sensitivity(y, score, w, threshold):
  hit = (score >= threshold) & (y == 1)
  with np.errstate(invalid="ignore", divide="ignore"):
    return (w * hit).sum(axis=1) / (w * (y == 1)).sum(axis=1)


def previous_weighted_specificity(y, score, w, threshold):
  hit = (score < threshold) & (y == 0)
  with np.errstate(invalid="ignore", divide="ignore"):
    return (w * hit).sum(axis=1) / (w * (y == 0)).sum(axis=1)


METRICS = ("weighted_auroc", "weighted_average_precision", "weighted_sensitivity",
           "weighted_specificity")
VARIANTS = {
    "current": {name: getattr(bootstrap, name) for name in METRICS},
    "previous": {name: globals()[f"previous_{name}"] for name in METRICS},
}


def predictions(n: int, labels: int, ties: bool = False, seed: int = 0):
  """Labels with prevalences from 0.5% to 30%, float32 log-odds that separate them,
  patients with one to three ECGs each, and operating points chosen on a validation
  split drawn the same way, as a run chooses them."""
  rng = np.random.default_rng(seed)
  prevalence = np.geomspace(0.005, 0.3, labels)

  def split(size):
    y = (rng.uniform(size=(size, labels)) < prevalence).astype(np.float32)
    y[0], y[1] = 1, 0                  # every label defined
    return y, (rng.normal(size=(size, labels)) + 2.0 * y - 2.5).astype(np.float32)

  names = [f"label_{k}" for k in range(labels)]
  points = results.operating_points(names, *split(n))
  y, log_odds = split(n)
  if ties:
    log_odds = np.round(log_odds, 1)
  patients = np.repeat(np.arange(n), rng.integers(1, 4, size=n))[:n].astype(str)
  return names, y, log_odds, patients, points


def timed_evaluation(metrics: dict, inputs) -> tuple[float, str]:
  """results.json's evaluation with `metrics` in place of bootstrap's."""
  original = {name: getattr(bootstrap, name) for name in metrics}
  for name, function in metrics.items():
    setattr(bootstrap, name, function)
  try:
    start = time.perf_counter()
    out = results.evaluate_predictions(*inputs, resamples=1000, seed=0)
    return time.perf_counter() - start, json.dumps(out, sort_keys=True)
  finally:
    for name, function in original.items():
      setattr(bootstrap, name, function)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--out", default=None)
  args = parser.parse_args()
  for shape, (n, labels, ties) in SHAPES.items():
    inputs = predictions(n, labels, ties)
    seconds = {name: [] for name in VARIANTS}
    outputs = {}
    for _ in range(args.repeats):
      for name, metrics in VARIANTS.items():       # alternating, so drift hits both
        elapsed, outputs[name] = timed_evaluation(metrics, inputs)
        seconds[name].append(elapsed)
    if outputs["current"] != outputs["previous"]:
      raise SystemExit(f"{shape}: the two implementations gave different results.json")
    medians = {name: statistics.median(v) for name, v in seconds.items()}
    emit({"benchmark": "bootstrap_intervals", "shape": shape, "ecgs": n, "labels": labels,
          "ties": ties,
          "resamples": 1000, "repeats": args.repeats,
          "current_s": medians["current"], "previous_s": medians["previous"],
          "speedup": medians["previous"] / medians["current"], "same_results": True,
          "host": socket.gethostname(), "cpus": os.cpu_count(),
          "date": datetime.date.today().isoformat()}, args.out)


if __name__ == "__main__":
  main()
