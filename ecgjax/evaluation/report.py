"""The comparison report: results.csv, comparisons.csv, report.md and plots.

Every run of a sweep scored the same test ECGs, so the statistics pair runs:
each bootstrap resample draws one set of patients and scores every run on it.
A mode's AUROC at a training-set size is the mean over seeds, with a 95% CI from
those resamples; the difference between two modes is the mean over seeds of
their paired differences, with its CI and a two-sided bootstrap p-value (twice
the smaller tail). DeLong's p-value is given per seed in comparisons.csv.
"""

import contextlib
import csv
import dataclasses
import io
import warnings

import numpy as np

from ecgjax import storage
from ecgjax.evaluation import (auroc_interval, bootstrap, calibration, challenge2017, comparison,
                               log_odds, metrics)

RESULTS_COLUMNS = ["label", "mode", "train_size", "seed", "auroc", "auroc_ci_low",
                   "auroc_ci_high", "auprc", "sensitivity", "specificity", "threshold",
                   "n_test_pos", "n_test_neg", "train_examples", "ece_before", "ece_after",
                   "brier_before", "brier_after"]

# The fine-tuning modes in the order tables show them, and those compared with scratch:
# `random_probe` (a linear probe on the architecture's random, frozen features) is the
# control that says how much of a probe's score the pretraining earned.
MODE_ORDER = ("scratch", "random_probe", "linear_probe", "full")
AGAINST_SCRATCH = ("full", "linear_probe", "random_probe")


@dataclasses.dataclass
class Run:
  mode: str
  train_size: int
  seed: int
  results: dict
  predictions: dict          # arrays of predictions.npz (read_predictions)


def read_predictions(run_dir: str) -> dict:
  """A run's predictions.npz: names, {val,test}_labels, {val,test}_log_odds and
  test_patients. A run written before ecgjax kept log-odds stored probabilities as
  `*_scores`; those are read back as log-odds (confident scores there had already
  rounded to 1.0 and still tie)."""
  predictions = storage.load_npz(storage.join(run_dir, "predictions.npz"))
  for split in ("val", "test"):
    if f"{split}_log_odds" not in predictions and f"{split}_scores" in predictions:
      predictions[f"{split}_log_odds"] = log_odds.from_probabilities(
          predictions.pop(f"{split}_scores"))
  return predictions


def load_runs(run_dirs: list[str]) -> list[Run]:
  runs = []
  for d in run_dirs:
    r = storage.read_json(storage.join(d, "results.json"))
    runs.append(Run(r["mode"], r["train_size"], r["seed"], r, read_predictions(d)))
  return runs


def size_name(size: int) -> str:
  return "all" if size == 0 else str(size)


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


def known_rows(predictions: dict, k: int) -> tuple[np.ndarray, np.ndarray]:
  """The test rows whose label k is known (NaN marks a mixture's unannotated label or a
  record's unknown one) and their 0/1 labels."""
  y = predictions["test_labels"][:, k]
  rows = metrics.annotated(y)
  return rows, y[rows].astype(int)


def _pct(values: np.ndarray) -> tuple[float, float]:
  values = values[np.isfinite(values)]
  return tuple(np.percentile(values, [2.5, 97.5])) if len(values) else (np.nan, np.nan)


def summarize(runs: list[Run], resamples: int = 1000, seed: int = 0) -> dict:
  """Per (label, size): each mode's seed-mean AUROC with CI, and paired differences."""
  first = runs[0].predictions
  names = [str(n) for n in first["names"]]
  weights = bootstrap.patient_weights(first["test_patients"], resamples, seed)
  modes = sorted({r.mode for r in runs})
  sizes = sorted({r.train_size for r in runs}, key=lambda s: (s == 0, s))
  table, comparisons = [], []
  macro: dict = {}            # (size, mode) -> [(point, draws)] over labels
  for k, label in enumerate(names):
    rows, y = known_rows(first, k)
    if not len(y) or y.min() == y.max():
      continue
    w = weights[:, rows]
    for size in sizes:
      per_mode, boot = {}, {}
      for mode in modes:
        chosen = [r for r in runs if r.mode == mode and r.train_size == size]
        if not chosen:
          continue
        scores = {r.seed: r.predictions["test_log_odds"][rows, k] for r in chosen}
        point = np.mean([bootstrap.weighted_auroc(y, s, np.ones((1, len(y))))[0]
                         for s in scores.values()])
        draws = np.mean([bootstrap.weighted_auroc(y, s, w) for s in scores.values()], 0)
        # The bootstrap percentile interval, widened to Newcombe's where that is wider
        # (results.AUROC_INTERVAL_METHOD): it must not collapse at AUROC 1.
        low, high, _, _ = auroc_interval.widen(float(point), *_pct(draws), int(y.sum()),
                                               int(len(y) - y.sum()))
        per_mode[mode] = (point, low, high, len(scores))
        boot[mode] = (scores, draws)
        macro.setdefault((size, mode), []).append((point, draws))
      row = {"label": label, "train_size": size, "n_test_pos": int(y.sum()), "modes": per_mode}
      row.update(_differences(per_mode, {m: b[1] for m, b in boot.items()}))
      for pretrained_mode in AGAINST_SCRATCH:
        if pretrained_mode in boot and "scratch" in boot:
          for s, a in boot[pretrained_mode][0].items():
            if s in boot["scratch"][0]:
              comparisons.append({"label": label, "train_size": size, "seed": s,
                                  "comparison": f"{pretrained_mode} - scratch",
                                  **_delong(y, a, boot["scratch"][0][s])})
      table.append(row)
  for size in sizes:
    per_mode, draws = {}, {}
    for mode in modes:
      entries = macro.get((size, mode))
      if entries:
        with warnings.catch_warnings():
          warnings.simplefilter("ignore", RuntimeWarning)   # a resample without positives
          draws[mode] = np.nanmean([d for _, d in entries], axis=0)
        per_mode[mode] = (float(np.mean([p for p, _ in entries])), *_pct(draws[mode]),
                          len([r for r in runs if r.mode == mode and r.train_size == size]))
    if per_mode:
      table.append({"label": MACRO_LABEL, "train_size": size, "n_test_pos": None,
                    "modes": per_mode, **_differences(per_mode, draws)})
  return {"names": names, "modes": modes, "sizes": sizes, "table": table,
          "comparisons": comparisons, "resamples": resamples}


MACRO_LABEL = "macro (mean over labels)"


def _delong(y: np.ndarray, score_a: np.ndarray, score_b: np.ndarray) -> dict:
  """DeLong's test of two AUROCs on the same ECGs; with fewer than 2 positives or 2
  negatives (a small fold's test split) it is undefined: the difference alone, NaN."""
  if min(int(y.sum()), int(len(y) - y.sum())) < 2:
    difference = (bootstrap.weighted_auroc(y, score_a, np.ones((1, len(y))))[0]
                  - bootstrap.weighted_auroc(y, score_b, np.ones((1, len(y))))[0])
    return {"difference": float(difference), "delong_z": float("nan"),
            "delong_p": float("nan")}
  d = comparison.delong_test(y, score_a, score_b)
  return {"difference": d.difference, "delong_z": d.z, "delong_p": d.p_value}


def _differences(per_mode: dict, draws: dict) -> dict:
  """Pretrained minus scratch: point difference, percentile CI and two-sided bootstrap p,
  from draws paired by resample."""
  out = {}
  for pretrained_mode in AGAINST_SCRATCH:
    if pretrained_mode in draws and "scratch" in draws:
      diff = draws[pretrained_mode] - draws["scratch"]
      point = per_mode[pretrained_mode][0] - per_mode["scratch"][0]
      finite = diff[np.isfinite(diff)]
      p = min(1.0, 2 * min((finite <= 0).mean(), (finite >= 0).mean())) if len(finite) else np.nan
      out[f"{pretrained_mode}_minus_scratch"] = (point, *_pct(diff), p)
  return out


def _fmt(v) -> str:
  return "n/a" if v is None or not np.isfinite(v) else f"{v:.3f}"


def _p(v) -> str:
  if not np.isfinite(v):
    return "n/a"
  return "<0.001" if v < 0.001 else f"{v:.3f}"


def write_report(summary: dict, runs: list[Run], outdir: str, roc_size: int | None) -> list[str]:
  """report.md, comparisons.csv and the plots; returns the plot file names."""
  with _csv_file(storage.join(outdir, "comparisons.csv")) as f:
    writer = csv.DictWriter(f, ["label", "train_size", "seed", "comparison", "difference",
                                "delong_z", "delong_p"])
    writer.writeheader()
    writer.writerows(summary["comparisons"])
  plots = (_plot_auroc_vs_size(summary, outdir) + _plot_roc(runs, summary, outdir, roc_size)
           + _plot_reliability(runs, summary, outdir, roc_size))
  lines = ["# Fine-tuning comparison", "",
           f"Test split scored once per run; AUROC is the mean over seeds, 95% CIs from "
           f"{summary['resamples']} patient-bootstrap resamples shared by all runs; the "
           "difference is paired (same resamples, same seeds), its p-value two-sided from the "
           "bootstrap. DeLong's p-value per seed is in comparisons.csv; every run in "
           "results.csv.", "", *summary_table(summary)]
  lines += challenge_2017_table(runs)
  lines += challenge_2017_summary(runs, summary["resamples"])
  lines += [""] + [f"![{p}]({p})" for p in plots] + [""]
  storage.write_text(storage.join(outdir, "report.md"), "\n".join(lines))
  return plots


@contextlib.contextmanager
def _csv_file(path: str):
  """A CSV written in memory, then to `path` whole."""
  buffer = io.StringIO(newline="")
  yield buffer
  storage.write_text(path, buffer.getvalue())


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
           "| train size | mode | seed | score [95% CI] | F1 normal | F1 AF | F1 other | recordings |",
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


def summary_table(summary: dict) -> list[str]:
  """The summary as markdown table lines: per label and size, each mode's AUROC with its
  CI and the pretrained-minus-scratch differences (report.md; printed at the end of a sweep)."""
  modes = [m for m in MODE_ORDER if m in summary["modes"]]
  differences = [d for d in AGAINST_SCRATCH if d in summary["modes"]
                 and "scratch" in summary["modes"]]
  header = (["label", "train size"] + [f"{m} AUROC [95% CI]" for m in modes]
            + [c for d in differences for c in (f"{d} - scratch [95% CI]", "p")])
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  for row in summary["table"]:
    cells = [row["label"], size_name(row["train_size"])]
    for m in modes:
      v = row["modes"].get(m)
      cells.append(f"{_fmt(v[0])} [{_fmt(v[1])}, {_fmt(v[2])}]" if v else "")
    for name in differences:
      d = row.get(f"{name}_minus_scratch")
      cells += ([f"{d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}]", _p(d[3])] if d else ["", ""])
    lines.append("| " + " | ".join(cells) + " |")
  return lines


def _plot_auroc_vs_size(summary: dict, outdir: str) -> list[str]:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  labels = sorted({r["label"] for r in summary["table"]})
  if not labels:    # no label had an AUROC on test (no positives there): nothing to draw
    return []
  fig, axes = plt.subplots(1, len(labels), figsize=(4.5 * len(labels), 3.6), squeeze=False)
  for ax, label in zip(axes[0], labels, strict=True):
    rows = [r for r in summary["table"] if r["label"] == label]
    for mode in summary["modes"]:
      pts = [(r["train_size"], r["modes"][mode]) for r in rows if mode in r["modes"]]
      if not pts:
        continue
      xs = np.arange(len(pts))
      mean = [v[0] for _, v in pts]
      ax.plot(xs, mean, marker="o", label=mode)
      ax.fill_between(xs, [v[1] for _, v in pts], [v[2] for _, v in pts], alpha=0.2)
      ax.set_xticks(xs, [size_name(s) for s, _ in pts])
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_title(label)
    ax.set_xlabel("training ECGs")
    ax.set_ylabel("test AUROC")
    ax.set_ylim(0.3, 1.0)
  axes[0][0].legend()
  fig.tight_layout()
  storage.savefig(fig, storage.join(outdir, "auroc_vs_train_size.png"), dpi=110)
  plt.close(fig)
  return ["auroc_vs_train_size.png"]


def _runs_at(runs: list[Run], summary: dict, roc_size: int | None) -> tuple[int, dict]:
  """The requested size if the sweep has it, else its smallest; each mode's
  lowest-seed run there."""
  size = roc_size if roc_size in summary["sizes"] else summary["sizes"][0]
  chosen = {}
  for r in sorted(runs, key=lambda r: r.seed):
    if r.train_size == size:
      chosen.setdefault(r.mode, r)
  return size, chosen


def _plot_roc(runs: list[Run], summary: dict, outdir: str, roc_size: int | None) -> list[str]:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  from sklearn import metrics as skm
  size, chosen = _runs_at(runs, summary, roc_size)
  if not chosen:
    return []
  names = summary["names"]
  fig, axes = _per_label_axes(plt, names)
  for k, (ax, label) in enumerate(zip(axes, names, strict=True)):
    for mode, run in sorted(chosen.items()):
      rows, y = known_rows(run.predictions, k)
      if not len(y) or y.min() == y.max():
        continue
      scores = run.predictions["test_log_odds"][rows, k]
      fpr, tpr, _ = skm.roc_curve(y, scores)
      ax.plot(fpr, tpr, label=f"{mode} ({skm.roc_auc_score(y, scores):.2f})")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    ax.set_title(f"{label}, {size_name(size)} training ECGs")
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.legend(loc="lower right", fontsize=8)
  fig.tight_layout()
  name = f"roc_train_size_{size_name(size)}.png"
  storage.savefig(fig, storage.join(outdir, name), dpi=110)
  plt.close(fig)
  return [name]


def _per_label_axes(plt, names):
  fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4), squeeze=False)
  return fig, axes[0]


def _plot_reliability(runs: list[Run], summary: dict, outdir: str,
                      roc_size: int | None) -> list[str]:
  """Reliability diagrams on test: observed frequency against predicted probability in
  ten bins (those of at least 5 ECGs), each mode calibrated as its model card says
  (solid) and raw (dashed)."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  size, chosen = _runs_at(runs, summary, roc_size)
  if not chosen:
    return []
  names = summary["names"]
  fig, axes = _per_label_axes(plt, names)
  for k, (ax, label) in enumerate(zip(axes, names, strict=True)):
    for (mode, run), colour in zip(sorted(chosen.items()), ("C0", "C1", "C2", "C3")):
      entry = run.results["labels"].get(label, {})
      if entry.get("calibration") is None:
        continue
      rows, y = known_rows(run.predictions, k)
      scores = run.predictions["test_log_odds"][rows, k]
      raw = log_odds.to_probabilities(scores)
      calibrated = calibration.apply_platt(scores[:, None], [entry["calibration"]])[:, 0]
      for scores, style, ece in ((calibrated, "-", entry["ece"]["after"]["value"]),
                                 (raw, "--", entry["ece"]["before"]["value"])):
        predicted, observed, count = calibration.reliability_curve(y, scores)
        enough = count >= 5         # a bin of one or two ECGs says nothing
        ax.plot(predicted[enough], observed[enough], style, marker="o", ms=3, color=colour,
                label=f"{mode}{'' if style == '-' else ' raw'} (ECE {ece:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    ax.set_title(f"{label}, {size_name(size)} training ECGs")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed frequency")
    ax.legend(loc="upper left", fontsize=7)
  fig.tight_layout()
  name = f"reliability_train_size_{size_name(size)}.png"
  storage.savefig(fig, storage.join(outdir, name), dpi=110)
  plt.close(fig)
  return [name]
