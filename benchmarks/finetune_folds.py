"""Fine-tuning on a small real archive by K-fold cross-validation: pretrained start
against scratch, every record tested once.

  python benchmarks/finetune_folds.py --init_from MODEL --workdir DIR
      [--archive cinc2017|cpsc2018|ptbxl] [--folds 10] [--seeds 0]
      [--out results/finetune_folds.jsonl]
      [--config.FIELD=VALUE ...]       (passed to every fold's sweep)

MODEL: a lead-I model for cinc2017 (the AliveCor recordings), a 12-lead one for the
CPSC 2018 and PTB-XL samples. PTB-XL takes --folds 10 only (its strat_folds).

A test split of 15 recordings cannot tell two starts apart (docs/sim-to-real.md,
"Fine-tuning on real samples"). Here the archive is built K times with
`EcgArchiveConfig(folds=K, fold=k)` (fold k tests, fold k+1 validates, the rest
trains), the comparison sweep (ecgjax/configs/compare.py: scratch, linear probe,
full) runs on each, and each mode's test predictions are pooled over the K folds:
each record is scored once, by the model that never trained on it. The pooled
predictions go through the sweep's own statistics (evaluation.sweep_statistics.summarize:
AUROC with patient-bootstrap CIs, pretrained minus scratch paired by resample).
Pooling scores of K models assumes they share a scale; each row's `fold_mean` is the
companion that does not (each fold's own AUROC, averaged over the folds that can score
the label, and the paired within-fold differences). One JSON line per run.
"""

import argparse
import datetime
import os
import subprocess
import sys

import numpy as np

from emit import emit
from shared_data import SHARED_DATA

from ecgjax.sim_to_real import sample_sets

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# name: (builder module, folder under --shared, label set, labels scored). The labels
# scored are those with at least 3 positives in the shared samples (counted zero-shot,
# benchmarks/results/sim_to_real.jsonl), fixed before any fold was run.
ARCHIVES = {
    "cinc2017": ("physionet2017", "cinc2017", "vocabulary", "atrial_fibrillation,sinus_rhythm"),
    "cpsc2018": ("physionet2021", "cinc2020", "cpsc2018",
                 "atrial_fibrillation,right_bundle_branch_block,"
                 "premature_ventricular_contractions"),
    "ptbxl": ("ptbxl", "ptbxl", "vocabulary", "sinus_rhythm,sinus_arrhythmia,atrial_flutter"),
}


def build_folds(archive: str, raw: str, data_dir: str, folds: int, rate: int) -> list[str]:
  """Builds the K fold configs; returns their dataset names."""
  import importlib

  import tensorflow_datasets as tfds

  from ecgjax.ecg import preprocess
  from tfds_builders import ecg_archive
  module, _, label_set, _ = ARCHIVES[archive]
  builder_module = importlib.import_module(f"tfds_builders.{module}.{module}_dataset_builder")
  names = []
  for k in range(folds):
    config = ecg_archive.EcgArchiveConfig(
        name=f"{label_set}_{rate}_fold{k}of{folds}", label_set=label_set, windows="all",
        recipe=preprocess.Recipe(sampling_rate=rate, duration=10.0), folds=folds, fold=k)
    builder = builder_module.Builder(config=config, data_dir=data_dir)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=sample_sets.manual_dir_for(module, [raw], data_dir)))
    names.append(f"{module}/{config.name}")
  return names


def run_sweep(dataset: str, data_dir: str, workdir: str, args, overrides: list[str]) -> None:
  """The comparison sweep on one fold (it skips runs that finished earlier)."""
  labels = ARCHIVES[args.archive][3]
  command = [sys.executable, "-m", "ecgjax.main", "--config=ecgjax/configs/compare.py",
             f"--workdir={workdir}", f"--config.init_from={args.init_from}",
             f"--config.dataset.name={dataset}", f"--config.dataset.data_dir={data_dir}",
             f"--config.labels={labels}", "--config.train_sizes=0",
             f"--config.seeds={args.seeds}", "--config.roc_train_size=0",
             f"--config.modes={args.modes}", "--config.model.dtype=float32", *overrides]
  done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
  if done.returncode:
    raise SystemExit(f"the sweep on {dataset} failed:\n{done.stderr[-3000:]}")


def load_folds(fold_dirs: list[str]) -> list[list]:
  """Each fold's finished runs (sweep_runs.Run per mode and seed), read once."""
  from ecgjax.evaluation import sweep_runs
  folds = []
  for d in fold_dirs:
    runs = []
    for mode in sorted(os.listdir(os.path.join(d, "runs"))):
      root = os.path.join(d, "runs", mode, "nall")
      runs += sweep_runs.load_runs([os.path.join(root, s) for s in sorted(os.listdir(root))])
    folds.append(runs)
  return folds


def pooled_runs(folds: list[list]):
  """Per (mode, seed): the K folds' test predictions, concatenated, as one sweep_runs.Run."""
  from ecgjax.evaluation import sweep_runs
  by_run: dict = {}
  for fold in folds:
    for run in fold:
      by_run.setdefault((run.mode, run.seed), []).append(run.predictions)
  runs = []
  for (mode, seed), parts in sorted(by_run.items()):
    if len(parts) != len(folds):
      raise SystemExit(f"{mode} seed {seed}: {len(parts)} of {len(folds)} folds finished")
    names = [str(n) for n in parts[0]["names"]]
    if any([str(n) for n in p["names"]] != names for p in parts):
      raise SystemExit(f"{mode} seed {seed}: the folds' labels differ")
    pooled = {"names": parts[0]["names"]}
    for key in ("test_log_odds", "test_labels", "test_patients"):
      pooled[key] = np.concatenate([p[key] for p in parts])
    runs.append(sweep_runs.Run(mode, 0, seed, {}, pooled))
  return runs


def fold_mean_auroc(folds: list[list]) -> dict:
  """Per label: each mode's test AUROC computed within each fold (one model's scores),
  averaged over the folds and seeds that can score the label (a positive and a negative
  among its known labels), with that count; and full (or linear probe) minus scratch
  averaged over the same (fold, seed) pairs. The pooled AUROC compares scores of K
  models; this companion never does, at the price of folds with one or two positives."""
  from ecgjax.evaluation import metrics
  per: dict = {}                       # (label, mode) -> {(fold, seed): AUROC}
  for k, fold in enumerate(folds):
    for run in fold:
      p = run.predictions
      names = [str(n) for n in p["names"]]
      aurocs = metrics.per_label_auroc(p["test_labels"], p["test_log_odds"], names)["auroc"]
      for name, value in aurocs.items():
        if value is not None:
          per.setdefault((name, run.mode), {})[(k, run.seed)] = value
  out: dict = {}
  for (name, mode), by_fold in sorted(per.items()):
    entry = out.setdefault(name, {"modes": {}})
    entry["modes"][mode] = {"auroc": float(np.mean(list(by_fold.values()))),
                            "fold_seeds": len(by_fold)}
  for name, entry in out.items():
    scratch = per.get((name, "scratch"), {})
    for mode in ("full", "linear_probe"):
      pairs = [(v, scratch[key]) for key, v in per.get((name, mode), {}).items()
               if key in scratch]
      if pairs:
        entry[f"{mode}_minus_scratch"] = {
            "difference": float(np.mean([a - b for a, b in pairs])),
            "ahead": sum(a > b for a, b in pairs), "behind": sum(a < b for a, b in pairs),
            "fold_seeds": len(pairs)}
  return out


def kept_steps(folds: list[list]) -> dict[str, list[int]]:
  """Per mode: the step of the model each (fold, seed) kept (0: the starting model,
  which is a candidate when the head came from the checkpoint), in fold order."""
  kept: dict = {}
  for fold in folds:
    for run in fold:
      kept.setdefault(run.mode, []).append(int(run.results["best_step"]))
  return kept


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--init_from", required=True, help="the pretrained model's workdir")
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--archive", default="cinc2017", choices=sorted(ARCHIVES))
  parser.add_argument("--shared", default=SHARED_DATA,
                      help="the folder holding the archive")
  parser.add_argument("--folds", type=int, default=10)
  parser.add_argument("--rate", type=int, default=100)
  parser.add_argument("--seeds", default="0")
  parser.add_argument("--modes", default="scratch,linear_probe,full")
  parser.add_argument("--resamples", type=int, default=1000)
  parser.add_argument("--out")
  args, overrides = parser.parse_known_args()      # the rest: --config.FIELD=VALUE
  unknown = [o for o in overrides if not o.startswith("--config.")]
  if unknown:
    parser.error(f"unrecognised arguments: {' '.join(unknown)} (the sweeps take "
                 "--config.FIELD=VALUE)")
  from ecgjax.evaluation import sweep_statistics, sweep_tables
  data_dir = os.path.join(args.workdir, "data")
  raw = os.path.join(args.shared, ARCHIVES[args.archive][1])
  if not os.path.isdir(raw):
    raise SystemExit(f"{raw} not found: --shared must hold the {args.archive} records")
  datasets = build_folds(args.archive, raw, data_dir, args.folds, args.rate)
  fold_dirs = []
  for k, dataset in enumerate(datasets):
    fold_dirs.append(os.path.join(args.workdir, f"fold{k}"))
    print(f"[fold {k + 1}/{args.folds}] {dataset}", file=sys.stderr)
    run_sweep(dataset, data_dir, fold_dirs[-1], args, overrides)
  folds = load_folds(fold_dirs)
  runs = pooled_runs(folds)
  summary = sweep_statistics.summarize(runs, resamples=args.resamples, seed=0)
  print("\n".join(sweep_tables.summary_table(summary)), file=sys.stderr)
  rows = []
  for row in summary["table"]:
    rows.append({"label": row["label"], "n_test_pos": row["n_test_pos"],
                 "modes": {m: dict(zip(("auroc", "ci_low", "ci_high", "seeds"), v))
                           for m, v in row["modes"].items()},
                 **{k: dict(zip(("difference", "ci_low", "ci_high", "p"), row[k]))
                    for k in ("full_minus_scratch", "linear_probe_minus_scratch") if k in row}})
  by_fold = fold_mean_auroc(folds)
  for row in rows:
    row["fold_mean"] = by_fold.get(row["label"], {})
  print("Within-fold AUROC, mean over the (fold, seed) pairs that can score each label:",
        file=sys.stderr)
  for name, entry in by_fold.items():
    print(f"  {name}: " + ", ".join(f"{m} {v['auroc']:.3f} ({v['fold_seeds']})"
                                    for m, v in entry["modes"].items())
          + "".join(f"; {k} {v['difference']:+.3f} (ahead {v['ahead']}, behind {v['behind']})"
                    for k, v in entry.items() if k.endswith("_minus_scratch")),
          file=sys.stderr)
  steps = kept_steps(folds)
  print("Steps kept (0: the start): " + "; ".join(f"{m} {v}" for m, v in steps.items()),
        file=sys.stderr)
  first = runs[0].predictions
  emit({"benchmark": "finetune_folds", "archive": args.archive, "folds": args.folds,
        "init_from": args.init_from, "test_records": int(len(first["test_labels"])),
        "seeds": args.seeds, "rows": rows, "kept_steps": steps,
        "command": "python " + " ".join(sys.argv),
        "date": datetime.date.today().isoformat()}, args.out)


if __name__ == "__main__":
  main()
