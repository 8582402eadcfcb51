"""What sim-to-real's median-AUROC interval costs (`zero_shot.bootstrap_median_ci`, in every
zero-shot line, `python -m ecgjax.release` and benchmarks/sim_to_real.py): the current
implementation, every resample scored at once from how often it drew each record
(`bootstrap.Ranking`), against the one it replaced (kept below, verbatim but for names),
which ranked each resample's drawn records with scikit-learn's `roc_auc_score`, one call
per resample and label. The two alternate in one run; medians of `--repeats`; the
intervals must agree to `TOLERANCE` (the same draws; the AUROCs differ in the last bit,
a float sum in another order).

  python benchmarks/median_auroc_ci.py [--repeats 3] \
      [--out benchmarks/results/median_auroc_ci_cpu.jsonl]

The shapes, 1,000 resamples each as the zero-shot lines use, scores and labels drawn
like a model's on them: the packaged samples (two twelve-lead sets of 40 records, 10
labels counted each); PTB-XL's large set (2,055 records, 25 labels counted); CinC
2017's (4,825 recordings, 4 labels).
"""

import argparse
import datetime
import os
import socket
import statistics
import sys
import time

import numpy as np
import sklearn.metrics

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from benchmarks.emit import emit  # noqa: E402
from ecgjax.sim_to_real import scored_sets, zero_shot  # noqa: E402

SHAPES = {"samples": [(40, 10), (40, 10)], "ptbxl_2055": [(2055, 25)],
          "cinc2017_4825": [(4825, 4)]}
TOLERANCE = 1e-12


# The implementation this replaced (ecgjax at 52994a2), verbatim but for its name.
def previous_bootstrap_median_ci(groups, resamples=1000, seed=0):
  if not any(pairs for _, pairs in groups):
    return None
  rng = np.random.default_rng(seed)
  medians = []
  for _ in range(resamples):
    values = []
    for scored, pairs in groups:
      rows = rng.integers(len(scored.truth), size=len(scored.truth))
      for k, m in pairs:
        keep = rows[scored.known[rows, k]]
        y = scored.truth[keep, k]
        if 0 < y.sum() < len(y):
          values.append(sklearn.metrics.roc_auc_score(y, scored.probabilities[keep, m]))
    if values:
      medians.append(statistics.median(values))
  if not medians:
    return None
  return [float(np.percentile(medians, 2.5)), float(np.percentile(medians, 97.5))]


def scored_set(records: int, labels: int, seed: int) -> scored_sets.ScoredSet:
  """Prevalences from 3% to 40%, a few labels unknown on some records, calibrated
  probabilities that separate the classes (rounded to 3 decimals: some ties)."""
  rng = np.random.default_rng(seed)
  truth = rng.uniform(size=(records, labels)) < np.geomspace(0.03, 0.4, labels)
  truth[:3], truth[3:6] = True, False             # every label counted
  known = rng.uniform(size=(records, labels)) < 0.95
  known[:6] = True
  log_odds = rng.normal(size=(records, labels)) + 2.0 * truth - 1.5
  names = [f"label_{k}" for k in range(labels)]
  return scored_sets.ScoredSet(labels=names, truth=truth, known=known, model_labels=names,
                               probabilities=np.round(1 / (1 + np.exp(-log_odds)), 3),
                               log_odds=log_odds, patients=np.arange(records))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--shapes", default=",".join(SHAPES))
  parser.add_argument("--out", default=None)
  args = parser.parse_args()
  variants = {"current": zero_shot.bootstrap_median_ci,
              "previous": previous_bootstrap_median_ci}
  for shape in args.shapes.split(","):
    groups = []
    for i, (records, labels) in enumerate(SHAPES[shape]):
      scored = scored_set(records, labels, seed=i)
      groups.append((scored, scored_sets.counted_columns(scored, scored.labels, 3)))
    seconds = {name: [] for name in variants}
    intervals = {}
    for _ in range(args.repeats):
      for name, function in variants.items():      # alternating, so drift hits both
        start = time.perf_counter()
        intervals[name] = function(groups, resamples=1000, seed=0)
        seconds[name].append(time.perf_counter() - start)
    difference = max(abs(a - b) for a, b in zip(intervals["current"], intervals["previous"]))
    if difference > TOLERANCE:
      raise SystemExit(f"{shape}: the intervals differ: {intervals}")
    medians = {name: statistics.median(v) for name, v in seconds.items()}
    emit({"benchmark": "median_auroc_ci", "shape": shape,
          "sets": [list(s) for s in SHAPES[shape]],
          "labels_counted": sum(len(pairs) for _, pairs in groups), "resamples": 1000,
          "repeats": args.repeats, "current_s": medians["current"],
          "previous_s": medians["previous"],
          "speedup": medians["previous"] / medians["current"],
          "interval": intervals["current"], "largest_difference": difference,
          "previous": "ecgjax at 52994a2 (roc_auc_score per resample and label)",
          "command": "python benchmarks/median_auroc_ci.py " + " ".join(sys.argv[1:]),
          "host": socket.gethostname(), "cpus": os.cpu_count(),
          "date": datetime.date.today().isoformat()}, args.out)


if __name__ == "__main__":
  main()
