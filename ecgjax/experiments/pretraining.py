"""`train_and_evaluate(config, workdir)`: pretraining on a built TFDS dataset.

Wires the tf.data input (ecgjax.data) to the TensorFlow-free training loop
(ecgjax.training.loop), from a fresh network. Tests call this directly on the tiny
dataset; run again on the same workdir, it resumes.
"""

from absl import logging

from ecgjax.data import run_input
from ecgjax.experiments import validation
from ecgjax.training import completion, loop, model_init, workdir_files


def train_and_evaluate(config, workdir: str) -> dict:
  spec = validation.validate_pretrain(config)
  finished = completion.finished_earlier(workdir, config.total_steps)
  if finished is not None:         # run again after it ended: nothing to train
    return finished
  workdir_files.check_resumed_config(config, workdir)     # before any work
  source = run_input.make_input(config, spec)
  logging.info("dataset %s: %d labels, signal %s",
               config.dataset.mixture or config.dataset.name, len(source.label_names),
               source.signal_shape)
  workdir_files.write_config(config, workdir)
  return loop.run(config, spec, workdir, source, model_init.fresh(config, spec, source))
