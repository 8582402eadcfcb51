"""Training on fresh synthetic ECGs: `dataset.fresh_ecgs=True` with a synthetic_ecg dataset.

The built dataset still gives everything but the training stream: validation and
test splits (so runs with and without fresh ECGs are scored on the same ECGs), the
label names, rate and duration. The training stream is generated as training runs
(synthetic.generator.fresh_examples) by worker processes on the host's cores:
no ECG is seen twice, which tells whether a long pretraining learns the simulator
or memorises the 16,000 ECGs of a built draw.

Resumable as the built stream is: process p of P reads stream positions p, p + P,
..., the i-th of them a pure function of (stream seed, i * P + p), so a run resumed
at step s generates from its position s * local_batch on, and augmentation or
crops draw from (seed, position) as in the built stream (pipeline.TfdsInput).
The stream's seed is the dataset's seed moved by STREAM_SEED_OFFSET plus the run's
seed: its patients are none of the built dataset's.
"""

import os

import jax
import tensorflow as tf
import tensorflow_datasets as tfds

from ecgjax.data import datasets, embedded, pipeline
from ecgjax.synthetic import version

STREAM_SEED_OFFSET = 1 << 32


class FreshEcgError(ValueError):
  pass


def check_fresh_dataset(builder: tfds.core.DatasetBuilder) -> None:
  """Fresh ECGs come from the code's generator: the built splits they are scored on
  must be that generator's, or the two would disagree on what an ECG is."""
  name = datasets.display_name(builder.info)
  if builder.info.name != embedded.SYNTHETIC:
    raise FreshEcgError(f"dataset.fresh_ecgs=True: {name} is not a synthetic_ecg dataset "
                        "(fresh ECGs come from the synthetic generator)")
  if str(builder.info.version) != version.VERSION:
    raise FreshEcgError(
        f"dataset.fresh_ecgs=True: {name} was built by generator {builder.info.version}, "
        f"this code generates {version.VERSION}; rebuild it (dataset.build_if_missing=True "
        "does) so training and scoring see the same generator")


class FreshSyntheticInput(pipeline.TfdsInput):
  """pipeline.TfdsInput whose training stream is fresh ECGs (`workers` processes
  generate them; 0: one per core)."""

  def __init__(self, builder: tfds.core.DatasetBuilder, *, workers: int = 0, **kwargs):
    check_fresh_dataset(builder)
    super().__init__(builder, **kwargs)
    metadata = builder.info.metadata or {}
    self.stream_seed = int(metadata.get("seed", 0)) + STREAM_SEED_OFFSET + self.seed
    self._rate = float(metadata["sampling_rate"])
    self._duration = float(metadata["duration_s"])
    self._workers = workers or len(os.sched_getaffinity(0))
    self._labels = len(metadata["label_names"])
    self._stored_leads = len(datasets.stored_leads(builder.info))

  def describe(self) -> dict:
    described = super().describe()
    dataset = dict(described["dataset"])
    dataset.pop("train_examples", None)     # a stream has no size
    dataset["train_stream"] = {"kind": "fresh ECGs", "generator_version": version.VERSION,
                               "stream_seed": self.stream_seed}
    return {**described, "dataset": dataset}

  def positions(self, start_example: int) -> range:
    """The stream positions this process reads, from its `start_example`-th on."""
    count = jax.process_count()
    return range(start_example * count + jax.process_index(), 2 ** 62, count)

  def example_stream(self, start_example: int = 0, seed_offset: int = 0,
                     select: bool = True) -> tf.data.Dataset:
    samples = self.stored_samples
    spec = {"signal": tf.TensorSpec((samples, self._stored_leads), tf.int16),
            "labels": tf.TensorSpec((self._labels,), tf.uint8),
            "record_id": tf.TensorSpec((), tf.string), "patient": tf.TensorSpec((), tf.string)}
    stream_seed = self.stream_seed + seed_offset

    def examples():
      # Imported once the stream starts (synthetic.version says why).
      from ecgjax.synthetic import generator
      for e in generator.fresh_examples(stream_seed, self.positions(start_example),
                                        self._rate, self._duration, self._workers):
        yield {key: e[key] for key in spec}

    ds = tf.data.Dataset.from_generator(examples, output_signature=spec)
    if self.augment != "none" or self.crop:
      # Seeded by (seed, position), as the built stream by (seed, epoch, position).
      seed = (self.seed + seed_offset) * pipeline.EPOCH_SEED_STRIDE + jax.process_index()
      ds = ds.enumerate(start_example).map(
          pipeline.no_autograph(
              lambda i, ex: self._perturb(tf.stack([tf.constant(seed, tf.int64), i]), ex)),
          num_parallel_calls=tf.data.AUTOTUNE)
    return (ds.map(pipeline.no_autograph(self._select), num_parallel_calls=tf.data.AUTOTUNE)
            if select else ds)

