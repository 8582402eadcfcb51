"""The sweep's plots, one panel per label: test AUROC against training-set size per
mode, the ROC curves and the reliability diagrams at one size. Each returns the file
names it wrote into `outdir` (local or gs://), none where there is nothing to draw."""

import contextlib

import numpy as np

from ecgjax import storage
from ecgjax.evaluation import calibration, log_odds
from ecgjax.evaluation.sweep_runs import Run, known_rows, size_name

DPI = 110
MODE_COLOURS = ("C0", "C1", "C2", "C3")


@contextlib.contextmanager
def _panels(outdir: str, name: str, count: int, panel_inches: tuple[float, float]):
  """One row of `count` axes, written to OUTDIR/NAME when the block ends."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, axes = plt.subplots(1, count, figsize=(panel_inches[0] * count, panel_inches[1]),
                           squeeze=False)
  try:
    yield axes[0]
    fig.tight_layout()
    storage.savefig(fig, storage.join(outdir, name), dpi=DPI)
  finally:
    plt.close(fig)


def auroc_vs_size(summary: dict, outdir: str) -> list[str]:
  """Each mode's mean test AUROC with its CI band, per training-set size."""
  labels = sorted({r["label"] for r in summary["table"]})
  if not labels:    # no label had an AUROC on test (no positives there): nothing to draw
    return []
  name = "auroc_vs_train_size.png"
  with _panels(outdir, name, len(labels), (4.5, 3.6)) as axes:
    for ax, label in zip(axes, labels, strict=True):
      rows = [r for r in summary["table"] if r["label"] == label]
      for mode in summary["modes"]:
        pts = [(r["train_size"], r["modes"][mode]) for r in rows if mode in r["modes"]]
        if not pts:
          continue
        xs = np.arange(len(pts))
        ax.plot(xs, [v[0] for _, v in pts], marker="o", label=mode)
        ax.fill_between(xs, [v[1] for _, v in pts], [v[2] for _, v in pts], alpha=0.2)
        ax.set_xticks(xs, [size_name(s) for s, _ in pts])
      ax.axhline(0.5, color="grey", lw=0.8, ls=":")
      ax.set_title(label)
      ax.set_xlabel("training ECGs")
      ax.set_ylabel("test AUROC")
      ax.set_ylim(0.3, 1.0)
    axes[0].legend()
  return [name]


def runs_at(runs: list[Run], summary: dict, roc_size: int | None) -> tuple[int, dict]:
  """The requested size if the sweep has it, else its smallest; each mode's
  lowest-seed run there."""
  size = roc_size if roc_size in summary["sizes"] else summary["sizes"][0]
  chosen = {}
  for r in sorted(runs, key=lambda r: r.seed):
    if r.train_size == size:
      chosen.setdefault(r.mode, r)
  return size, chosen


def _at_size(runs: list[Run], summary: dict, roc_size: int | None, stem: str):
  """(size, each mode's run there, the plot's file name); None where no run is there."""
  size, chosen = runs_at(runs, summary, roc_size)
  return (size, chosen, f"{stem}_train_size_{size_name(size)}.png") if chosen else None


def _finish_panel(ax, label: str, size: int) -> None:
  """The diagonal (chance, or perfect calibration) and the panel's title."""
  ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
  ax.set_title(f"{label}, {size_name(size)} training ECGs")


def roc_curves(runs: list[Run], summary: dict, outdir: str, roc_size: int | None) -> list[str]:
  from sklearn import metrics as skm
  if not (found := _at_size(runs, summary, roc_size, "roc")):
    return []
  size, chosen, name = found
  names = summary["names"]
  with _panels(outdir, name, len(names), (4.2, 4)) as axes:
    for k, (ax, label) in enumerate(zip(axes, names, strict=True)):
      for mode, run in sorted(chosen.items()):
        rows, y = known_rows(run.predictions, k)
        if not len(y) or y.min() == y.max():
          continue
        scores = run.predictions["test_log_odds"][rows, k]
        fpr, tpr, _ = skm.roc_curve(y, scores)
        ax.plot(fpr, tpr, label=f"{mode} ({skm.roc_auc_score(y, scores):.2f})")
      _finish_panel(ax, label, size)
      ax.set_xlabel("1 - specificity")
      ax.set_ylabel("sensitivity")
      ax.legend(loc="lower right", fontsize=8)
  return [name]


def reliability(runs: list[Run], summary: dict, outdir: str, roc_size: int | None) -> list[str]:
  """Observed frequency against predicted probability on test, in ten bins (those of at
  least 5 ECGs), each mode calibrated as its model card says (solid) and raw (dashed)."""
  if not (found := _at_size(runs, summary, roc_size, "reliability")):
    return []
  size, chosen, name = found
  names = summary["names"]
  with _panels(outdir, name, len(names), (4.2, 4)) as axes:
    for k, (ax, label) in enumerate(zip(axes, names, strict=True)):
      for (mode, run), colour in zip(sorted(chosen.items()), MODE_COLOURS):
        entry = run.results["labels"].get(label, {})
        if entry.get("calibration") is None:
          continue
        rows, y = known_rows(run.predictions, k)
        scores = run.predictions["test_log_odds"][rows, k]
        raw = log_odds.to_probabilities(scores)
        calibrated = calibration.apply_platt(scores[:, None], [entry["calibration"]])[:, 0]
        for probabilities, style, ece in ((calibrated, "-", entry["ece"]["after"]["value"]),
                                          (raw, "--", entry["ece"]["before"]["value"])):
          predicted, observed, count = calibration.reliability_curve(y, probabilities)
          enough = count >= 5         # a bin of one or two ECGs says nothing
          ax.plot(predicted[enough], observed[enough], style, marker="o", ms=3, color=colour,
                  label=f"{mode}{'' if style == '-' else ' raw'} (ECE {ece:.3f})")
      _finish_panel(ax, label, size)
      ax.set_xlabel("predicted probability")
      ax.set_ylabel("observed frequency")
      ax.legend(loc="upper left", fontsize=7)
  return [name]
