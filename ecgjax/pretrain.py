"""`train_and_evaluate(config, workdir)`: pretraining on a built TFDS dataset.

Wires the tf.data input (ecgjax.data) to the TensorFlow-free training loop
(ecgjax.training.loop). Tests call this directly on the tiny dataset.
"""

import json
import os

import jax
from absl import logging
from etils import epath

from ecgjax import config_validation
from ecgjax.data import datasets, embedded, mixture, pipeline
from ecgjax.training import loop


def write_config(config, workdir: str) -> None:
  if jax.process_index() == 0:
    directory = epath.Path(workdir)      # a local directory or a bucket (gs://...)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(
        json.dumps(json.loads(config.to_json_best_effort()), indent=2, sort_keys=True))


def make_input(config) -> pipeline.TfdsInput | mixture.MixtureInput:
  data_dir = os.path.expanduser(config.dataset.data_dir)
  if config.dataset.mixture:
    return mixture.MixtureInput(
        mixture.parse_mixture(config.dataset.mixture), data_dir, labels=config.labels,
        global_batch=config.batch_size, eval_batch=config.eval_batch_size,
        train_split=config.dataset.train_split, seed=config.seed,
        shuffle_buffer=config.dataset.shuffle_buffer, augment=config.dataset.augment,
        threads=config.dataset.threads, leads=config.dataset.leads,
        crop_s=config.dataset.crop_s, eval_stride_s=config.dataset.eval_stride_s)
  if config.dataset.build_if_missing:
    embedded.ensure_built(config.dataset.name, data_dir)
  builder = datasets.load_builder(config.dataset.name, data_dir)
  return pipeline.TfdsInput(builder, labels=config.labels, global_batch=config.batch_size,
                            eval_batch=config.eval_batch_size,
                            train_split=config.dataset.train_split, seed=config.seed,
                            shuffle_buffer=config.dataset.shuffle_buffer,
                            augment=config.dataset.augment, threads=config.dataset.threads,
                            leads=config.dataset.leads, crop_s=config.dataset.crop_s,
                            eval_stride_s=config.dataset.eval_stride_s)


def train_and_evaluate(config, workdir: str) -> dict:
  config_validation.validate_pretrain(config)
  source = make_input(config)
  logging.info("dataset %s: %d labels, signal %s",
               config.dataset.mixture or config.dataset.name, len(source.label_names),
               source.signal_shape)
  write_config(config, workdir)
  return loop.run(config, workdir, source)
