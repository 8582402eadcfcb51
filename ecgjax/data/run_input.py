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


def make_probe(config, spec: run_spec.RunSpec, source) -> pipeline.TfdsInput:
  """A self-supervised run's labelled probe set (config.probe): the same leads, read at
  the same rate as the training data, its labels for the k-NN probe only."""
  data_dir = os.path.expanduser(config.dataset.data_dir)
  builder = datasets.load_builder(config.probe.dataset, data_dir)
  probe = pipeline.TfdsInput(builder, labels=config.probe.labels,
                             global_batch=config.batch_size,
                             eval_batch=config.eval_batch_size,
                             train_split=config.dataset.train_split, seed=config.seed,
                             shuffle_buffer=config.dataset.shuffle_buffer,
                             threads=config.dataset.threads, leads=spec.leads)
  if (probe.sampling_rate != source.sampling_rate
      or list(probe.lead_names) != list(source.lead_names)):
    raise ValueError(
        f"config.probe.dataset={config.probe.dataset!r} holds {probe.lead_names} at "
        f"{probe.sampling_rate:g} Hz; the training data {source.lead_names} at "
        f"{source.sampling_rate:g} Hz: the probe must read what the encoder reads")
  return probe
