"""The sweep: fine-tuning modes x training-set sizes x seeds, then the report.

  python -m ecgjax.main --config=ecgjax/configs/compare.py --workdir=DIR --config.init_from=PRETRAIN_DIR

Each run lives in DIR/runs/MODE/nSIZE/seedSEED and counts as finished only once
its results.json exists (written last, atomically). A killed sweep, run again,
skips finished runs and resumes a half-finished one from its last train state
(training.loop), bit-identical to a run never stopped. Runs of one size and
seed train on the same patients, so modes are compared on paired data.
"""

import os

import jax

from absl import logging

from ecgjax.configs import common
from ecgjax.evaluation import report
from ecgjax.experiments import fine_tuning, validation
from ecgjax.training import workdir_files


def run_configs(config) -> list:
  """The fine-tuning config of every run in the sweep, in run order."""
  sizes = validation.int_list(config, "train_sizes")
  seeds = validation.int_list(config, "seeds")
  modes = [m.strip() for m in config.modes.split(",") if m.strip()]
  schema = common.finetune_defaults()
  out = []
  for size in sizes:
    for seed in seeds:
      for mode in modes:
        c = schema.copy_and_resolve_references()
        for key in schema:
          c[key] = config[key]
        c.experiment, c.mode, c.train_size, c.seed = "finetune", mode, size, seed
        out.append(c)
  return out


def run_dir(workdir: str, c) -> str:
  return os.path.join(workdir, "runs", c.mode, f"n{report.size_name(c.train_size)}",
                      f"seed{c.seed}")


def compare_and_report(config, workdir: str) -> dict:
  specs = validation.validate_compare(config, run_configs)
  workdir_files.write_config(config, workdir)
  configs = run_configs(config)
  for i, (c, spec) in enumerate(zip(configs, specs)):
    d = run_dir(workdir, c)
    if os.path.exists(os.path.join(d, "results.json")):
      logging.info("[%d/%d] %s: finished earlier, skipped", i + 1, len(configs), d)
      continue
    logging.info("[%d/%d] %s%s", i + 1, len(configs), d,
                 ": unfinished, resuming" if os.path.exists(d) else "")
    fine_tuning.train(c, spec, d)
  runs = report.load_runs([run_dir(workdir, c) for c in configs])
  report.write_results_csv(runs, os.path.join(workdir, "results.csv"))
  summary = report.summarize(runs, resamples=config.bootstrap_resamples, seed=config.seed)
  plots = report.write_report(summary, runs, workdir, config.roc_train_size)
  logging.info("report: %s", os.path.join(workdir, "report.md"))
  if jax.process_index() == 0:
    print_summary(summary, workdir, plots)
  return summary


def print_summary(summary: dict, workdir: str, plots: list[str]) -> None:
  """What a user looks at first, on stdout: the table and where everything is."""
  print("\n".join(["", "Fine-tuning comparison (test split, mean AUROC over seeds):", "",
                    *report.summary_table(summary), "",
                    f"report:      {os.path.join(workdir, 'report.md')}",
                    f"plots:       {', '.join(plots)} (in {workdir})",
                    f"every run:   {os.path.join(workdir, 'results.csv')}, "
                    f"{os.path.join(workdir, 'comparisons.csv')}",
                    f"checkpoints and model cards: {os.path.join(workdir, 'runs')}"
                    "/MODE/nSIZE/seedSEED/", ""]), flush=True)
