"""The sweep's tables: results.csv (one row per run and label), comparisons.csv
(DeLong's test per seed), and the markdown tables of report.md, which the sweep
also prints when it ends."""

import contextlib
import csv
import io

import numpy as np

from ecgjax import storage
from ecgjax.evaluation import challenge2017, results
from ecgjax.evaluation.sweep_runs import Run, size_name
from ecgjax.evaluation.sweep_statistics import AGAINST_SCRATCH, MODE_ORDER


COMPARISONS_COLUMNS = ["label", "train_size", "seed", "comparison", "difference", "delong_z",
                       "delong_p"]
RESULTS_COLUMNS = ["label", "mode", "train_size", "seed", "auroc", "auroc_ci_low",
                   "auroc_ci_high", "auprc", "sensitivity", "specificity", "threshold",
                   "n_test_pos", "n_test_neg", "train_examples", "ece_before", "ece_after",
                   "brier_before", "brier_after"]


def write_results_csv(runs: list[Run], path: str) -> None:
  """One row per (label, mode, train_size, seed), replaced whole (local or gs://)."""
  with _csv_file(path) as f:
    writer = csv.DictWriter(f, RESULTS_COLUMNS)
    writer.writeheader()
    for run in sorted(runs, key=lambda r: (r.mode, r.train_size, r.seed)):
      for label, e in run.results["labels"].items():
        row = {"label": label, "mode": run.mode, "train_size": run.train_size,
               "seed": run.seed, "n_test_pos": e["n_pos"], "n_test_neg": e["n_neg"],
               "train_examples": run.results["train_examples"]}
        if e.get("auroc") is not None:     # null (with `undefined`) where not computed
          row.update(auroc=e["auroc"]["value"], auroc_ci_low=e["auroc"]["ci_low"],
                     auroc_ci_high=e["auroc"]["ci_high"], auprc=e["auprc"]["value"])
        if e.get("sensitivity") is not None:
          row.update(sensitivity=e["sensitivity"]["value"],
                     specificity=e["specificity"]["value"], threshold=e["threshold"])
        if e.get("ece") is not None:
          row.update(ece_before=e["ece"]["before"]["value"], ece_after=e["ece"]["after"]["value"],
                     brier_before=e["brier"]["before"]["value"],
                     brier_after=e["brier"]["after"]["value"])
        writer.writerow(row)


def write_comparisons_csv(summary: dict, path: str) -> None:
  """Each pretrained mode against scratch, per label, size and seed (DeLong's test)."""
  with _csv_file(path) as f:
    writer = csv.DictWriter(f, COMPARISONS_COLUMNS)
    writer.writeheader()
    writer.writerows(summary["comparisons"])


@contextlib.contextmanager
def _csv_file(path: str):
  """A CSV written in memory, then to `path` whole."""
  buffer = io.StringIO(newline="")
  yield buffer
  storage.write_text(path, buffer.getvalue())


def summary_table(summary: dict) -> list[str]:
  """The summary as markdown table lines: per label and size, each mode's AUROC with its
  CI and the pretrained-minus-scratch differences (report.md; printed at the end of a sweep)."""
  modes = [m for m in MODE_ORDER if m in summary["modes"]]
  differences = [d for d in AGAINST_SCRATCH if d in summary["modes"]
                 and "scratch" in summary["modes"]]
  header = (["label", "train size"] + [f"{m} AUROC [95% CI]" for m in modes]
            + [c for d in differences for c in (f"{d} - scratch [95% CI]", "p")])
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  few = results.MIN_THRESHOLD_POSITIVES
  marked = False
  for row in summary["table"]:
    thin = row.get("n_test_pos") is not None and row["n_test_pos"] < few
    marked |= thin
    cells = [row["label"] + (f" ({row['n_test_pos']} test positives) †" if thin else ""),
             size_name(row["train_size"])]
    for m in modes:
      v = row["modes"].get(m)
      spread = f" (seeds {_fmt(v[4])}-{_fmt(v[5])})" if v and v[3] > 1 else ""
      cells.append(f"{_fmt(v[0])} [{_fmt(v[1])}, {_fmt(v[2])}]{spread}" if v else "")
    for name in differences:
      d = row.get(f"{name}_minus_scratch")
      cells += ([f"{d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}]", _p(d[3])] if d else ["", ""])
    lines.append("| " + " | ".join(cells) + " |")
  macro_rows = [row for row in summary["table"] if "auprc" in row]
  if macro_rows:
    lines += ["", "Macro AUPRC (mean over labels of average precision, then over seeds; "
              "chance is each label's prevalence):", "",
              "| train size | " + " | ".join(modes) + " |", "|---" * (1 + len(modes)) + "|"]
    lines += [f"| {size_name(row['train_size'])} | "
              + " | ".join(_fmt(row["auprc"].get(m)) for m in modes) + " |"
              for row in macro_rows]
  if any(v[3] > 1 for row in summary["table"] for v in row["modes"].values()):
    lines += ["", "Each AUROC is the mean over seeds, its CI from patient resamples of the "
              "test split; (seeds A-B) is the lowest and highest seed's own AUROC."]
  if marked:
    lines += ["", f"† Fewer than {few} positives in the test split: the AUROC rests on a "
              "handful of ECGs, and its CI says how little it can tell."]
  return lines


def challenge_2017_table(runs: list[Run]) -> list[str]:
  """Runs scored with the Challenge 2017 score (physionet2017's four classes): one row per
  run, its score with the record-bootstrap CI and the three F1s in the mean."""
  scored = sorted((r for r in runs if "challenge2017" in r.results),
                  key=lambda r: (r.train_size == 0, r.train_size, r.mode, r.seed))
  if not scored:
    return []
  lines = ["", "## PhysioNet/CinC Challenge 2017 score", "",
           "The mean F1 of normal, AF and other (each recording's class is its highest "
           "output), with a 95% CI from record-bootstrap resamples.", "",
           "| train size | mode | seed | score [95% CI] | F1 normal | F1 AF | F1 other "
           "| recordings |",
           "|---|---|---|---|---|---|---|---|"]
  for run in scored:
    c = run.results["challenge2017"]
    score, f1 = c["score"], c["f1"]
    lines.append(f"| {size_name(run.train_size)} | {run.mode} | {run.seed} | "
                 f"{_fmt(score['value'])} [{_fmt(score['ci_low'])}, {_fmt(score['ci_high'])}] | "
                 f"{_fmt(f1['normal'])} | {_fmt(f1['af'])} | {_fmt(f1['other'])} | "
                 f"{c['records']} |")
  return lines


def challenge_2017_summary(runs: list[Run], resamples: int) -> list[str]:
  """Per training-set size: each mode's Challenge score, mean over seeds, and each
  mode minus scratch paired (same recordings, same seeds, one record bootstrap)."""
  scored = [r for r in runs if "challenge2017" in r.results]
  modes = [m for m in MODE_ORDER if any(r.mode == m for r in scored)]
  if not scored or "scratch" not in modes:
    return []
  against = [m for m in AGAINST_SCRATCH if m in modes]
  lines = ["", "### Challenge score: mean over seeds and paired differences", "",
           "A mode minus scratch: the mean over seeds of the paired differences, its 95% CI "
           f"from {resamples} record resamples drawn once for every run (seed-to-seed spread "
           "is in the table above).", "",
           "| train size | " + " | ".join(modes) + " | "
           + " | ".join(f"{m} - scratch [95% CI]" for m in against) + " |",
           "|---" * (1 + len(modes) + len(against)) + "|"]
  runs_at = {(r.train_size, r.mode, r.seed): r for r in scored}
  for size in sorted({r.train_size for r in scored}, key=lambda s: (s == 0, s)):
    means = []
    for mode in modes:
      values = [r.results["challenge2017"]["score"]["value"] for r in scored
                if r.train_size == size and r.mode == mode]
      means.append(_fmt(float(np.mean(values))) if values else "n/a")
    cells = []
    for mode in against:
      seeds = sorted(seed for (s, m, seed) in runs_at if s == size and m == mode
                     and (size, "scratch", seed) in runs_at)
      if not seeds:
        cells.append("n/a")
        continue
      reference, pairs = None, []
      for seed in seeds:
        keys, ref, a = challenge2017.tested_classes(runs_at[size, "scratch", seed].predictions)
        keys_b, ref_b, b = challenge2017.tested_classes(runs_at[size, mode, seed].predictions)
        if not (np.array_equal(keys, keys_b) and np.array_equal(ref, ref_b)) or (
            reference is not None and not np.array_equal(ref, reference)):
          raise ValueError(f"train size {size}, seed {seed}: {mode} and scratch were not "
                           "tested on the same recordings")
        reference = ref
        pairs.append((a, b))
      d = challenge2017.mean_paired_difference(reference, pairs, resamples=resamples)
      cells.append(f"{d['value']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]")
    lines.append(f"| {size_name(size)} | " + " | ".join(means) + " | " + " | ".join(cells)
                 + " |")
  return lines


def _fmt(v) -> str:
  return "n/a" if v is None or not np.isfinite(v) else f"{v:.3f}"


def _p(v) -> str:
  if not np.isfinite(v):
    return "n/a"
  return "<0.001" if v < 0.001 else f"{v:.3f}"
