"""`train_and_evaluate(config, workdir)`: one fine-tuning run (scratch, linear probe or
full) from a pretraining checkpoint, then one evaluation on the test split.

Wires the tf.data input (ecgjax.data), through the mode's start from the
checkpoint (ecgjax.training.model_init), to the TensorFlow-free training loop that
pretraining runs too (ecgjax.training.loop). `python -m ecgjax.finetune` and the
sweep call it; run again on the same workdir, it resumes.
"""

import os

from absl import logging

from ecgjax import storage
from ecgjax.data import run_input
from ecgjax.evaluation import results as eval_results
from ecgjax.experiments import validation
from ecgjax.training import completion, loop, model_init, run_spec, stacked, workdir_files


def train_and_evaluate(config, workdir: str) -> dict:
  return train(config, validation.validate_finetune(config), workdir)


def train(config, spec: run_spec.RunSpec, workdir: str) -> dict:
  """One validated run (`spec`: its parsed fields); the sweep calls this per run that
  trains alone."""
  concluded = completion.finished_earlier(workdir, config.total_steps)
  if concluded is not None:        # run again after it ended: nothing to train
    return concluded
  member = prepare(config, spec, workdir)
  return loop.run(config, spec, member.workdir, member.source, member.start)


def train_group(configs, specs, workdirs, group_dir: str) -> list[dict]:
  """Unfinished runs that share a program (stacked.why_not_stacked says None) trained as
  one stacked group in `group_dir`, each concluding into its own workdir."""
  members = [prepare(c, s, d) for c, s, d in zip(configs, specs, workdirs)]
  return stacked.run_group(members, group_dir)


def prepare(config, spec: run_spec.RunSpec, workdir: str) -> stacked.Member:
  """A run up to its first step: config checked against a resumed workdir, its input
  and patients, its start (transfer.json; LP-FT's probe) and config.json."""
  workdir_files.check_resumed_config(config, workdir)     # before any work
  source = run_input.make_input(config, spec)
  source.restrict_training_set(config.train_size, config.min_positives, config.seed)
  logging.info("fine-tuning %s on %d training ECGs, labels %s", config.mode,
               source.train_examples, ", ".join(source.label_names))
  for line in too_few_to_measure(source, config):
    logging.warning("%s", line)
  workdir_files.write_config(config, workdir)
  workdir = os.fspath(storage.path(workdir))      # absolute where local, as Orbax asks
  start = model_init.from_config(config, spec, source, workdir)
  return stacked.Member(config, spec, workdir, source, start)


def too_few_to_measure(source, config) -> list[str]:
  """A line per split and the labels it has too few positives of to be measured: below
  evaluation.results.MIN_THRESHOLD_POSITIVES in the validation split the threshold falls
  back to 0.5; in the test split the figures rest on a handful of ECGs, none at all with
  no positive. Said before training, so a run that can measure nothing is known early."""
  if not hasattr(source, "positives"):          # a mixture: each source says its own
    return []
  few = eval_results.MIN_THRESHOLD_POSITIVES
  lines = []
  for split, what in ((config.dataset.eval_split, "its threshold falls back to "
                       f"{eval_results.FALLBACK_THRESHOLD:g}"),
                      (config.dataset.test_split, "its test figures rest on so few ECGs "
                       "(none with 0) that their CIs tell little")):
    if not split:
      continue
    thin = {n: c for n, c in source.positives(split).items() if c < few}
    if thin:
      lines.append(f"{split} split: fewer than {few} positives for "
                   + ", ".join(f"{n} ({c})" for n, c in thin.items()) + f": {what}")
  return lines
