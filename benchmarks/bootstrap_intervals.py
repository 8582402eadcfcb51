"""What a run's results.json costs in bootstrap intervals: `results.evaluate_predictions`
on test predictions shaped like a real run's, with the bootstrap as it is against an
implementation it replaced (kept below, verbatim; `--peer`), the two alternating in one
run, medians of `--repeats`, and the peak memory each allocates (tracemalloc, in a run of
its own).

The current one draws the patient weights a block of resamples at a time and keeps them
as one-byte counts (`bootstrap.patient_weights`), which every metric reads a block of
rows at a time as they are, summing in 64 bits (`bootstrap.BLOCK_BYTES`); each label is
ranked once (`bootstrap.Ranking`) and AUROC and AUPRC are read from prefix sums over the
negatives and the positives; calibration's ECE and Brier score go by the same blocks.
The peers:

- `float64_weights` (the default): ecgjax at 8662762, the same but for weights drawn in
  one call and held in float64 (8 bytes a weight, and the int64 draws beside them).
  Every figure must agree to the last bit.
- `66e7df1`: ecgjax at 66e7df1, which gathered every ECG's weights into score order
  per metric, masked them into positives and negatives, and summed tie groups with
  `np.add.reduceat`, over all resamples at once; its ECE summed bins by a matrix
  product. AUROC, sensitivity and specificity must agree to the last bit; AUPRC, ECE and
  Brier to `RELATIVE_TOLERANCE` (a float sum taken in another order), which is checked
  and the largest difference recorded.

  python benchmarks/bootstrap_intervals.py [--peer float64_weights|66e7df1] [--repeats 5] \
      [--large_repeats 3] [--out benchmarks/results/bootstrap_intervals_cpu.jsonl]

The shapes: the demo's pretraining test split (1,668 ECGs, 39 labels), a PTB-XL-sized
one (2,163 ECGs, 71 labels), the demo's with scores rounded to 0.1 (`ties`: most scores
share a tie group), and an archive's (100,000 ECGs, as a MIMIC-IV-ECG or CODE test split
holds; 4 labels, so that the 66e7df1 peer finishes: per label it scales), 1,000 patient
resamples each, as results.json uses. Scores are float32 log-odds, as a model's are.
"""

import argparse
import datetime
import json
import math
import os
import socket
import statistics
import sys
import time
import tracemalloc

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from benchmarks.emit import emit  # noqa: E402
from ecgjax.evaluation import bootstrap, calibration, results  # noqa: E402

SHAPES = {"demo_pretraining_test": (1668, 39, False), "ptbxl_test": (2163, 71, False),
          "ties": (1668, 39, True), "archive_test": (100_000, 4, False)}
LARGE = {"archive_test"}
RELATIVE_TOLERANCE = 1e-12
EXACT = ("auroc", "sensitivity", "specificity")


# The implementation this replaced (ecgjax at 8662762), verbatim but for names.
def float64_patient_weights(patients, resamples, seed):
  _, index = np.unique(patients, return_inverse=True)
  n_patients = index.max() + 1
  rng = np.random.default_rng(seed)
  counts = rng.multinomial(n_patients, np.full(n_patients, 1 / n_patients), size=resamples)
  return np.take(counts.astype(np.float64), index, axis=1)


def float64_weight_of(w, chosen):
  return w @ chosen.astype(w.dtype)


# The implementation before that (ecgjax at 66e7df1), verbatim but for names.
def previous_patient_weights(patients, resamples, seed):
  _, index = np.unique(patients, return_inverse=True)
  n_patients = index.max() + 1
  rng = np.random.default_rng(seed)
  counts = rng.multinomial(n_patients, np.full(n_patients, 1 / n_patients), size=resamples)
  return counts[:, index].astype(np.float64)


def _previous_tie_groups(score):
  order = np.argsort(score, kind="stable")
  sorted_score = score[order]
  starts = np.flatnonzero(np.concatenate([[True], sorted_score[1:] != sorted_score[:-1]]))
  return order, starts


def _previous_group_sums(w, starts):
  if len(starts) == w.shape[1]:
    return w
  return np.add.reduceat(w, starts, axis=1)


def previous_weighted_auroc(y, score, w):
  order, starts = _previous_tie_groups(score)
  y_sorted, w_sorted = y[order], np.take(w, order, axis=1)
  pos = _previous_group_sums(w_sorted * (y_sorted == 1), starts)
  neg = _previous_group_sums(w_sorted * (y_sorted == 0), starts)
  neg_below = np.cumsum(neg, axis=1) - neg
  total_pos, total_neg = pos.sum(axis=1), neg.sum(axis=1)
  with np.errstate(invalid="ignore", divide="ignore"):
    return (pos * (neg_below + 0.5 * neg)).sum(axis=1) / (total_pos * total_neg)


def previous_weighted_average_precision(y, score, w):
  order, starts = _previous_tie_groups(-score)
  y_sorted, w_sorted = y[order], np.take(w, order, axis=1)
  pos = _previous_group_sums(w_sorted * (y_sorted == 1), starts)
  every = _previous_group_sums(w_sorted, starts)
  with np.errstate(invalid="ignore", divide="ignore"):
    precision = np.cumsum(pos, axis=1) / np.cumsum(every, axis=1)
    return np.nansum(pos * precision, axis=1) / pos.sum(axis=1)


def previous_weighted_ece(y, score, w):
  bins = np.minimum((np.asarray(score) * calibration.ECE_BINS).astype(int),
                    calibration.ECE_BINS - 1)
  onehot = np.eye(calibration.ECE_BINS)[bins]
  gap = (w * (score - y)) @ onehot
  with np.errstate(invalid="ignore", divide="ignore"):
    return np.abs(gap).sum(axis=1) / w.sum(axis=1)


def previous_weighted_brier(y, score, w):
  with np.errstate(invalid="ignore", divide="ignore"):
    return (w * (score - y) ** 2).sum(axis=1) / w.sum(axis=1)


class PreviousRanking:
  """The previous functions behind Ranking's interface, each metric its own pass."""

  def __init__(self, y, score):
    self.y, self.score = y, score

  def auroc(self, w):
    return previous_weighted_auroc(self.y, self.score, w)

  def average_precision(self, w):
    return previous_weighted_average_precision(self.y, self.score, w)

  def auroc_and_average_precision(self, w):
    return self.auroc(w), self.average_precision(w)


PEERS = {
    "float64_weights": {(bootstrap, "patient_weights"): float64_patient_weights,
                        (bootstrap, "weight_of"): float64_weight_of},
    "66e7df1": {(bootstrap, "patient_weights"): previous_patient_weights,
                (bootstrap, "Ranking"): PreviousRanking,
                (calibration, "weighted_ece"): previous_weighted_ece,
                (calibration, "weighted_brier"): previous_weighted_brier},
}
PEER_EXACT = {"float64_weights": "all", "66e7df1": EXACT}
PEER_NAME = {"float64_weights": "ecgjax at 8662762 (float64 weights drawn in one call)",
             "66e7df1": "ecgjax at 66e7df1 (tie groups by np.add.reduceat)"}


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


def evaluation(patches: dict, inputs, measure_memory: bool = False):
  """(seconds, peak bytes allocated or None, results.json) of results.json's evaluation
  with `patches` ((module, name) -> replacement) in place."""
  original = {key: getattr(*key) for key in patches}
  for (module, name), replacement in patches.items():
    setattr(module, name, replacement)
  try:
    if measure_memory:
      tracemalloc.start()
    start = time.perf_counter()
    out = results.evaluate_predictions(*inputs, resamples=1000, seed=0)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] if measure_memory else None
    return elapsed, peak, out
  finally:
    if measure_memory:
      tracemalloc.stop()
    for (module, name), function in original.items():
      setattr(module, name, function)


def largest_differences(a, b, path=()) -> dict:
  """{metric: largest relative difference} between two results.json, by the metric a
  value belongs to (the first key naming one); raises where anything but a float
  differs."""
  found = {}
  if isinstance(a, dict):
    if set(a) != set(b):
      raise SystemExit(f"results.json keys differ at {path}")
    for key in a:
      for metric, d in largest_differences(a[key], b[key], path + (key,)).items():
        found[metric] = max(found.get(metric, 0.0), d)
  elif isinstance(a, list):
    for x, y in zip(a, b, strict=True):
      for metric, d in largest_differences(x, y, path).items():
        found[metric] = max(found.get(metric, 0.0), d)
  elif isinstance(a, float) and isinstance(b, float):
    if a != b and not (math.isnan(a) and math.isnan(b)):
      metric = next((p for p in path if p in ("auroc", "auprc", "sensitivity",
                                               "specificity", "ece", "brier")), "/".join(
                                                   map(str, path)))
      found[metric] = abs(a - b) / max(abs(a), abs(b))
  elif a != b:
    raise SystemExit(f"results.json differs at {path}: {a!r} against {b!r}")
  return found


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--peer", choices=list(PEERS), default="float64_weights")
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--large_repeats", type=int, default=3)
  parser.add_argument("--shapes", default=",".join(SHAPES))
  parser.add_argument("--out", default=None)
  args = parser.parse_args()
  variants = {"current": {}, "previous": PEERS[args.peer]}
  for shape in args.shapes.split(","):
    n, labels, ties = SHAPES[shape]
    inputs = predictions(n, labels, ties)
    repeats = args.large_repeats if shape in LARGE else args.repeats
    seconds = {name: [] for name in variants}
    outputs = {}
    for _ in range(repeats):
      for name, patches in variants.items():       # alternating, so drift hits both
        elapsed, _, outputs[name] = evaluation(patches, inputs)
        seconds[name].append(elapsed)
    peaks = {name: evaluation(patches, inputs, measure_memory=True)[1]
             for name, patches in variants.items()}
    differences = largest_differences(outputs["previous"], outputs["current"])
    exact = PEER_EXACT[args.peer]
    inexact = list(differences) if exact == "all" else [m for m in exact if m in differences]
    if inexact or max(differences.values(), default=0.0) > RELATIVE_TOLERANCE:
      raise SystemExit(f"{shape}: the implementations disagree: {differences}")
    medians = {name: statistics.median(v) for name, v in seconds.items()}
    emit({"benchmark": "bootstrap_intervals", "shape": shape, "ecgs": n, "labels": labels,
          "ties": ties, "resamples": 1000, "repeats": repeats,
          "current_s": medians["current"], "previous_s": medians["previous"],
          "speedup": medians["previous"] / medians["current"],
          "current_peak_bytes": peaks["current"], "previous_peak_bytes": peaks["previous"],
          "exact": exact if exact == "all" else list(exact),
          "largest_relative_difference": differences, "previous": PEER_NAME[args.peer],
          "command": "python benchmarks/bootstrap_intervals.py " + " ".join(sys.argv[1:]),
          "host": socket.gethostname(), "cpus": os.cpu_count(),
          "date": datetime.date.today().isoformat()}, args.out)


if __name__ == "__main__":
  main()
