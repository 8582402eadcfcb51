"""The sweep: fine-tuning modes x training-set sizes x seeds, then the report.

  python -m ecgjax.main --config=ecgjax/configs/compare.py --workdir=DIR --config.init_from=PRETRAIN_DIR

Each run lives in DIR/runs/MODE/nSIZE/seedSEED and counts as finished only once
its results are committed (training.completion: results.json, written last,
whole). A killed sweep, run again, skips finished runs and resumes a half-finished
one from its last train state (training.loop), bit-identical to a run never
stopped; a signal between runs stops it before the next. Runs of one size and
seed train on the same patients, so modes are compared on paired data.
"""

import os

import jax

from absl import logging

from ecgjax import failpoints, storage
from ecgjax.configs import common
from ecgjax.evaluation import report, sweep_runs, sweep_statistics, sweep_tables
from ecgjax.experiments import fine_tuning, validation
from ecgjax.training import completion, interrupt, workdir_files


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
  return os.path.join(workdir, "runs", c.mode, f"n{sweep_runs.size_name(c.train_size)}",
                      f"seed{c.seed}")


def compare_and_report(config, workdir: str) -> dict:
  specs = validation.validate_compare(config, run_configs)
  workdir_files.write_config(config, workdir)
  configs = run_configs(config)
  # Between runs a signal is acknowledged and the sweep stops before the next one
  # starts; inside a run the loop saves and stops (training.interrupt).
  with interrupt.during("between_runs"):
    for i, (c, spec) in enumerate(zip(configs, specs)):
      failpoints.reached("between_runs")
      interrupt.raise_if_requested(f"between runs, with {i} of {len(configs)} finished")
      d = run_dir(workdir, c)
      if completion.finished(d, c.total_steps) is not None:
        logging.info("[%d/%d] %s: finished earlier, skipped", i + 1, len(configs), d)
        completion.clean_up(d)
        continue
      logging.info("[%d/%d] %s%s", i + 1, len(configs), d,
                   ": unfinished, resuming" if storage.exists(d) else "")
      fine_tuning.train(c, spec, d)
    interrupt.raise_if_requested(f"before the report, with all {len(configs)} runs finished")
  # The report: every file written whole (storage), each from the runs' committed
  # results, so a signal here (the command's `concluding` phase) lets it finish, and a
  # rerun writes the same files again.
  with interrupt.during("concluding"):
    runs = sweep_runs.load_runs([run_dir(workdir, c) for c in configs])
    summary = sweep_statistics.summarize(runs, resamples=config.bootstrap_resamples,
                                         seed=config.seed)
    if jax.process_index() == 0:
      sweep_tables.write_results_csv(runs, storage.join(workdir, "results.csv"))
      plots = report.write_report(summary, runs, workdir, config.roc_train_size)
      logging.info("report: %s", storage.join(workdir, "report.md"))
      print_summary(summary, workdir, plots)
  return summary


def print_summary(summary: dict, workdir: str, plots: list[str]) -> None:
  """What a user looks at first, on stdout: the table and where everything is."""
  print("\n".join(["", "Fine-tuning comparison (test split, mean AUROC over seeds):", "",
                    *sweep_tables.summary_table(summary), "",
                    f"report:      {os.path.join(workdir, 'report.md')}",
                    f"plots:       {', '.join(plots)} (in {workdir})",
                    f"every run:   {os.path.join(workdir, 'results.csv')}, "
                    f"{os.path.join(workdir, 'comparisons.csv')}",
                    f"checkpoints and model cards: {os.path.join(workdir, 'runs')}"
                    "/MODE/nSIZE/seedSEED/", ""]), flush=True)
