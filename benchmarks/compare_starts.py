"""Label-efficiency sweeps from several pretrained starts, compared on the same patients.

  python benchmarks/compare_starts.py --sweep=synthetic=SWEEP_A --sweep=ssl=SWEEP_B \
      [--sweep=...] [--pair=ssl/full:scratch --pair=ssl/full:synthetic/full ...] \
      [--resamples=1000] [--markdown=FILE] [--out=benchmarks/results/FILE.jsonl]

Each SWEEP is the workdir of a finished comparison sweep (`configs/compare.py`) on the
same dataset, labels, training sizes and seeds, each from its own `init_from`. A run's
training subset and data order depend on its seed and size only, and every run scores
the same test split, so runs of two sweeps pair as runs of one do
(evaluation.sweep_statistics). Modes are named START/MODE (`ssl/full`); `scratch` and
`random_probe` start from no checkpoint, so the first sweep's are named bare (`scratch`)
and a later sweep's START/MODE: the same runs again, or the same mode under other
settings (`standardized/random_probe`, a probe on standardized features).

Prints one JSON line per (training size, pair): the macro AUROC of both sides (mean
over labels, then seeds), the paired difference with its 95% CI and p-value, and each
side's macro AUPRC. `--markdown` writes the table of every mode's macro AUROC and
AUPRC per size with the pairs' differences.
"""

import argparse
import datetime
import glob
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from benchmarks.emit import emit  # noqa: E402
from ecgjax.evaluation import sweep_runs, sweep_statistics  # noqa: E402

UNSTARTED = ("scratch", "random_probe")     # modes that read no checkpoint


def named_runs(sweeps: list[tuple[str, str]]) -> list[sweep_runs.Run]:
  """Every finished run of the sweeps, its mode prefixed by its start's name."""
  runs = []
  for i, (start, workdir) in enumerate(sweeps):
    run_dirs = sorted(d for d in glob.glob(os.path.join(workdir, "runs", "*", "*", "*"))
                      if os.path.exists(os.path.join(d, "results.json")))
    for run in sweep_runs.load_runs(run_dirs):
      if i or run.mode not in UNSTARTED:
        run.mode = f"{start}/{run.mode}"
      runs.append(run)
  return runs


def markdown(summary: dict, pairs) -> list[str]:
  modes = summary["modes"]
  lines = ["| train size | " + " | ".join(f"{m} AUROC (AUPRC)" for m in modes) + " | "
           + " | ".join(f"{a} - {b} [95% CI], p" for a, b in pairs) + " |",
           "|---" * (1 + len(modes) + len(pairs)) + "|"]
  for row in summary["table"]:
    if row["label"] != sweep_statistics.MACRO_LABEL:
      continue
    cells = [sweep_runs.size_name(row["train_size"])]
    for m in modes:
      v = row["modes"].get(m)
      cells.append(f"{v[0]:.3f} ({row['auprc'][m]:.3f})" if v else "")
    for a, b in pairs:
      d = row.get(f"{a}_minus_{b}")
      cells.append(f"{d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}], "
                   + ("<0.001" if d[3] < 0.001 else f"{d[3]:.3f}") if d else "")
    lines.append("| " + " | ".join(cells) + " |")
  return lines


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sweep", action="append", required=True, help="START=WORKDIR")
  parser.add_argument("--pair", action="append", default=[], help="A:B, e.g. ssl/full:scratch")
  parser.add_argument("--resamples", type=int, default=1000)
  parser.add_argument("--markdown")
  parser.add_argument("--out")
  args = parser.parse_args()
  sweeps = [tuple(s.split("=", 1)) for s in args.sweep]
  pairs = tuple(tuple(p.split(":", 1)) for p in args.pair)
  runs = named_runs(sweeps)
  summary = sweep_statistics.summarize(runs, resamples=args.resamples, seed=0, pairs=pairs)
  for row in summary["table"]:
    if row["label"] != sweep_statistics.MACRO_LABEL:
      continue
    for a, b in pairs:
      d = row.get(f"{a}_minus_{b}")
      if d is None:
        continue
      emit({"benchmark": "compare_starts", "train_size": row["train_size"], "a": a, "b": b,
            "macro_auroc": {a: row["modes"][a][0], b: row["modes"][b][0]},
            "macro_auprc": {a: row["auprc"][a], b: row["auprc"][b]},
            "difference": d[0], "ci_low": d[1], "ci_high": d[2], "p": d[3],
            "seeds": row["modes"][a][3], "labels": summary["names"],
            "sweeps": dict(sweeps), "resamples": args.resamples,
            "command": "python " + " ".join(sys.argv),
            "date": datetime.date.today().isoformat()}, args.out)
  if args.markdown:
    with open(args.markdown, "w") as f:
      f.write("\n".join(markdown(summary, pairs)) + "\n")


if __name__ == "__main__":
  main()
