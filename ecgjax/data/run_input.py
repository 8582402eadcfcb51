"""A run's input from its config: one built dataset, or a mixture of several.

Every experiment that reads data (pretraining, fine-tuning, evaluation) builds its
input here, so the config's dataset section is read in one place.
"""

import os

from ecgjax.data import datasets, embedded, mixture, pipeline


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
