"""`train_and_evaluate(config, workdir)`: self-supervised pretraining on a built dataset,
labelled or not, whose labels are never read.

Wires the tf.data input (ecgjax.data) and, where `config.probe.dataset` names one, a
labelled probe set to the training loop that every other run uses, from a fresh
backbone and projector (training.model_init.self_supervised_start). Run again on the
same workdir, it resumes.
"""

from absl import logging

from ecgjax.data import run_input
from ecgjax.experiments import validation
from ecgjax.training import completion, loop, model_init, workdir_files


def train_and_evaluate(config, workdir: str) -> dict:
  spec = validation.validate_self_supervised(config)
  finished = completion.finished_earlier(workdir, config.total_steps)
  if finished is not None:         # run again after it ended: nothing to train
    return finished
  workdir_files.check_resumed_config(config, workdir)     # before any work
  source = run_input.make_input(config, spec)
  try:           # what the data make of the config: refused before any work (exit 2)
    spec.objective.view_samples(source.sampling_rate, source.signal_shape[0])
    probe = run_input.make_probe(config, spec, source) if config.probe.dataset else None
  except ValueError as e:
    raise validation.ConfigError(str(e)) from None
  logging.info("self-supervised %s on %s: signal %s, labels not read%s", spec.objective.name,
               config.dataset.mixture or config.dataset.name, source.signal_shape,
               f"; k-NN probe on {config.probe.dataset} {config.probe.split}" if probe else "")
  workdir_files.write_config(config, workdir)
  start = model_init.self_supervised_start(config, spec, source, spec.objective)
  return loop.run(config, spec, workdir, source, start, probe=probe)
