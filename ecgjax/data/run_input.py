"""A run's input from its config: one built dataset, or a mixture of several.

Every experiment that reads data (pretraining, fine-tuning, evaluation) builds its
input here, so the config's dataset section is read in one place; its structured
fields (leads, mixture, augmentation) come parsed, in the run's RunSpec.
"""

import os

from ecgjax.data import datasets, embedded, mixture, pipeline, synthetic_stream
from ecgjax.training import run_spec


def make_input(config, spec: run_spec.RunSpec) -> pipeline.TfdsInput | mixture.MixtureInput:
  data_dir = os.path.expanduser(config.dataset.data_dir)
  if spec.mixture:
    return mixture.MixtureInput(
        list(spec.mixture), data_dir, labels=config.labels,
        global_batch=config.batch_size, eval_batch=config.eval_batch_size,
        train_split=config.dataset.train_split, seed=config.seed,
        shuffle_buffer=config.dataset.shuffle_buffer, augment=spec.augment,
        threads=config.dataset.threads, leads=spec.leads,
        crop_s=config.dataset.crop_s, eval_stride_s=config.dataset.eval_stride_s)
  if config.dataset.build_if_missing:
    embedded.ensure_built(config.dataset.name, data_dir)
  builder = datasets.load_builder(config.dataset.name, data_dir,
                                  version=embedded.code_version(config.dataset.name))
  options = dict(labels=config.labels, global_batch=config.batch_size,
                 eval_batch=config.eval_batch_size, train_split=config.dataset.train_split,
                 seed=config.seed, shuffle_buffer=config.dataset.shuffle_buffer,
                 augment=spec.augment, threads=config.dataset.threads, leads=spec.leads,
                 crop_s=config.dataset.crop_s, eval_stride_s=config.dataset.eval_stride_s)
  if config.dataset.fresh_ecgs:
    # The generator's processes: as many as tf.data may use (`threads`; 0: every core).
    return synthetic_stream.FreshSyntheticInput(builder, workers=config.dataset.threads,
                                                **options)
  return pipeline.TfdsInput(builder, **options)
