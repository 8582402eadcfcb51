"""The sweep: fine-tuning modes x training-set sizes x seeds, then the report.

  python -m ecgjax.main --config=ecgjax/configs/compare.py --workdir=DIR --config.init_from=PRETRAIN_DIR

Each run lives in DIR/runs/MODE/nSIZE/seedSEED and counts as finished only once
its results are committed (training.completion: results.json, written last,
whole). The runs of one mode train as stacked groups of up to `stack_size` (by
default 8 on an accelerator and 1, one run at a time, on a CPU; training.stacked: one
compiled program, each run with its own seed, patients, data order, selected model and
results; its train state in DIR/groups/MODE/stackN); a mode that cannot stack (the
probes, which train in seconds) runs one run at a time, and the log says why. A killed
sweep, run again, skips finished runs and resumes a half-finished one or group from its
last train state, bit-identical to a run never stopped; a signal between runs stops it
before the next. Runs of one size and seed
train on the same patients, so modes are compared on paired data.
"""

import os

import jax

from absl import logging

from ecgjax import failpoints, storage
from ecgjax.configs import common
from ecgjax.evaluation import report, sweep_runs, sweep_statistics, sweep_tables
from ecgjax.experiments import fine_tuning, validation
from ecgjax.training import completion, interrupt, stacked, workdir_files


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


def plan_groups(configs, stack_size: int) -> list[list[int]]:
  """The runs (indices into `configs`) in groups of one mode, at most `stack_size`
  each, in the order of their first run."""
  by_mode: dict[str, list[int]] = {}
  for i, c in enumerate(configs):
    by_mode.setdefault(c.mode, []).append(i)
  return [runs[k:k + stack_size] for runs in by_mode.values()
          for k in range(0, len(runs), stack_size)]


def group_dir(workdir: str, configs, group: list[int]) -> str:
  """Where a group's train state lives while it trains: by its mode and its place
  among that mode's groups, so a rerun with the same axes finds it."""
  mode = configs[group[0]].mode
  index = [i for i, c in enumerate(configs) if c.mode == mode].index(group[0])
  return os.path.join(workdir, "groups", mode, f"stack{index}")


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
    done = 0
    def between_runs():
      failpoints.reached("between_runs")
      interrupt.raise_if_requested(f"between runs, with {done} of {len(configs)} finished")

    stack_size = stacked.resolve_stack_size(config.stack_size)
    if stack_size > 1:
      logging.info("runs of one mode train as stacked groups of up to %d "
                   "(config.stack_size)", stack_size)
    for group in plan_groups(configs, stack_size):
      unfinished = []
      for i in group:
        d = run_dir(workdir, configs[i])
        if completion.finished(d, configs[i].total_steps) is not None:
          logging.info("[%d/%d] %s: finished earlier, skipped", i + 1, len(configs), d)
          completion.clean_up(d)
        else:
          unfinished.append(i)
      done += len(group) - len(unfinished)
      reason = (stacked.why_not_stacked([configs[i] for i in unfinished])
                if len(unfinished) > 1 else "")
      if reason is None:
        between_runs()
        dirs = [run_dir(workdir, configs[i]) for i in unfinished]
        logging.info("[%s/%d] %d runs of %s as one stacked group: %s",
                     ",".join(str(i + 1) for i in unfinished), len(configs), len(unfinished),
                     configs[unfinished[0]].mode, ", ".join(dirs))
        results = fine_tuning.train_group([configs[i] for i in unfinished],
                                          [specs[i] for i in unfinished], dirs,
                                          group_dir(workdir, configs, group))
        if all(results) and jax.process_index() == 0:     # not after a preemption
          storage.remove_tree(group_dir(workdir, configs, group))
        done += len(unfinished)
      else:
        if reason:
          logging.info("%s runs one at a time: %s", configs[unfinished[0]].mode, reason)
        for i in unfinished:
          between_runs()
          d = run_dir(workdir, configs[i])
          logging.info("[%d/%d] %s%s", i + 1, len(configs), d,
                       ": unfinished, resuming" if storage.exists(d) else "")
          fine_tuning.train(configs[i], specs[i], d)
          done += 1
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
