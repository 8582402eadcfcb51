"""Several built datasets as one input: `dataset.mixture=NAME:WEIGHT,NAME:WEIGHT`.

Label space: the union of the sources' label names in order of first
appearance, or what `labels` chooses among them (`all`, a label group of any
source, or names). Each source annotates only some of them (its
`annotated_labels` metadata); an example's `label_mask` is 1 on the labels its
source annotates and 0 elsewhere, so the loss averages over annotated entries
only and a label an archive never reads is missing, not negative. A record's own
unknowns (its `labels_known`, pipeline._select) stay masked.

Training stream: every example position p of this process draws its source from
a stateless categorical with the weights, seeded by (seed, p // local_batch):
the sequence of sources is a pure function of (seed, step). Each source keeps
its own endless stream (pipeline.TfdsInput.example_stream, a pure function of
its position), so a run resumed at step s counts how many examples each source
gave in steps 0..s-1 and restarts each stream there: the mixed stream resumes
exactly, across every source's epoch boundaries.

Evaluation walks the sources one after the other, each example carrying its
source's mask; `parts()` gives one view per source for per-source results.
"""

import dataclasses
from collections.abc import Iterator

import jax
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from ecgjax.data import datasets, embedded, pipeline
from ecgjax.ecg import leads as leads_lib

_MIX_SEED_OFFSET = 104_729     # the source draws do not reuse any source's shuffle seed


class MixtureError(ValueError):
  pass


def parse_mixture(spec: str) -> list[tuple[str, float]]:
  """'a/x:2,b:1' -> [('a/x', 2.0), ('b', 1.0)]; malformed entries are refused."""
  out = []
  for item in filter(None, (p.strip() for p in str(spec).split(","))):
    name, sep, weight = item.rpartition(":")
    try:
      value = float(weight)
    except ValueError:
      value = float("nan")
    if not sep or not name or not np.isfinite(value) or value <= 0:
      raise MixtureError(f"dataset.mixture={spec!r}: {item!r} is not NAME:WEIGHT with a "
                         "positive weight")
    if name in [n for n, _ in out]:
      raise MixtureError(f"dataset.mixture={spec!r}: {name} listed twice")
    out.append((name, value))
  if len(out) < 2:
    raise MixtureError(f"dataset.mixture={spec!r}: a mixture needs at least two datasets")
  return out


def load_builders(mixture, data_dir: str) -> list:
  """Every source's builder; every missing one is named with its build command."""
  builders, missing = [], []
  for name, _ in mixture:
    try:
      builders.append(datasets.load_builder(name, data_dir, embedded.code_version(name)))
    except datasets.DatasetNotBuiltError:
      missing.append(datasets.build_command(name, data_dir))
  if missing:
    raise datasets.DatasetNotBuiltError(
        f"dataset.mixture: {len(missing)} of {len(mixture)} datasets are not built under "
        f"{data_dir}. Build them with:\n  " + "\n  ".join(missing))
  return builders


def union_labels(infos, labels: str) -> list[str]:
  """`all`: every source's labels, in order of first appearance; a group name: that
  group's labels in any source; else comma-separated names found in some source."""
  everything: list[str] = []
  groups: dict[str, list[str]] = {}
  for info in infos:
    metadata = info.metadata or {}
    everything += [n for n in metadata.get("label_names", []) if n not in everything]
    for group, members in dict(metadata.get("label_groups", {})).items():
      groups.setdefault(group, [])
      groups[group] += [n for n in members if n not in groups[group]]
  if labels == "all":
    return everything
  if labels == datasets.NO_LABELS:      # self-supervised: no source's labels are read
    return []
  if labels in groups:
    return groups[labels]
  chosen = [n.strip() for n in labels.split(",") if n.strip()]
  missing = [n for n in chosen if n not in everything]
  if missing or not chosen:
    raise datasets.UnknownLabelError(
        f"labels={labels!r}: {missing or 'nothing chosen'} in no dataset of the mixture. "
        f"Label groups: {sorted(groups)}; labels: {', '.join(everything)}")
  return chosen


def _check_signals(builders, lead_names) -> None:
  """Same rate, length and leads in every source, or the values named."""
  rows = []
  for builder, chosen in zip(builders, lead_names):
    info = builder.info
    rows.append((datasets.display_name(info), float((info.metadata or {})["sampling_rate"]),
                 int(info.features["signal"].shape[0]), tuple(chosen)))
  for what, column in (("sampling rates", 1), ("signal lengths (samples)", 2), ("leads", 3)):
    if len({row[column] for row in rows}) > 1:
      raise MixtureError(f"dataset.mixture: the datasets differ in {what}: "
                         + "; ".join(f"{row[0]} {row[column]}" for row in rows)
                         + ". Build them with one recipe (and choose common leads).")


@dataclasses.dataclass
class _Source:
  name: str
  weight: float
  input: pipeline.TfdsInput
  scatter: np.ndarray       # (labels of this source's input,) -> index in the union
  mask: np.ndarray          # (union labels,) float32: 1 where this source annotates

  def to_union(self, example: dict) -> dict:
    size = len(self.mask)
    labels = tf.scatter_nd(self.scatter[:, None], example["labels"], [size])
    known = tf.scatter_nd(self.scatter[:, None], example["label_mask"], [size])
    return {**example, "labels": labels, "label_mask": known * tf.constant(self.mask)}


class MixtureInput:
  """An InputSource (training.loop) over several built datasets."""

  def __init__(self, mixture, data_dir: str, *, labels: str, global_batch: int,
               eval_batch: int, train_split: str, seed: int, shuffle_buffer: int,
               augment: str | bool = "none", threads: int = 0, leads: str | tuple[str, ...] | None = "all",
               crop_s: float = 0.0, eval_stride_s: float = 0.0):
    builders = load_builders(mixture, data_dir)
    infos = [b.info for b in builders]
    self.label_names = union_labels(infos, labels)
    chosen_leads = [leads_lib.select_leads(leads, datasets.recorded_leads(info),
                                           datasets.display_name(info)) for info in infos]
    _check_signals(builders, chosen_leads)
    self.sources: list[_Source] = []
    unlabelled = labels == datasets.NO_LABELS
    for (name, weight), builder in zip(mixture, builders):
      own = [n for n in self.label_names if n in (builder.info.metadata or {})["label_names"]]
      annotated = set(datasets.annotated_labels(builder.info)) & set(own)
      if not annotated and not unlabelled:
        raise MixtureError(
            f"dataset.mixture: {name} annotates none of the chosen labels "
            f"({', '.join(self.label_names)}); it would add nothing to learn from")
      source_input = pipeline.TfdsInput(
          builder, labels=datasets.NO_LABELS if unlabelled else ",".join(own),
          global_batch=global_batch, eval_batch=eval_batch, train_split=train_split,
          seed=seed, shuffle_buffer=shuffle_buffer, augment=augment, threads=threads,
          leads=leads, crop_s=crop_s, eval_stride_s=eval_stride_s)
      self.sources.append(_Source(
          name=name, weight=weight, input=source_input,
          scatter=np.array([self.label_names.index(n) for n in own], np.int32),
          mask=np.array([n in annotated for n in self.label_names], np.float32)))
    first = self.sources[0].input
    self.lead_names = first.lead_names
    self.signal_shape = first.signal_shape
    self.sampling_rate = first.sampling_rate
    self.local_batch = first.local_batch
    self.seed = seed
    self.train_split = train_split
    self.train_examples = sum(s.input.train_examples for s in self.sources)
    weights = np.array([s.weight for s in self.sources], np.float64)
    self.probabilities = weights / weights.sum()

  # ---- The stream of sources.
  def _draws(self, step):
    """The source of each of this process's `local_batch` positions of `step`."""
    logits = tf.math.log(tf.constant(self.probabilities[None], tf.float32))
    seed = tf.stack([tf.constant(self.seed * 7919 + _MIX_SEED_OFFSET, tf.int64),
                     tf.cast(step, tf.int64) * 4096 + jax.process_index()])
    return tf.cast(tf.random.stateless_categorical(logits, self.local_batch, seed)[0], tf.int64)

  def examples_before(self, start_step: int) -> np.ndarray:
    """How many examples each source gave this process in steps 0..start_step-1."""
    if start_step == 0:
      return np.zeros(len(self.sources), np.int64)
    k = len(self.sources)
    counts = tf.data.Dataset.range(start_step).map(pipeline.no_autograph(self._draws)).reduce(
        tf.zeros([k], tf.int64),
        pipeline.no_autograph(lambda total, draws: total + tf.math.bincount(
            draws, minlength=k, maxlength=k, dtype=tf.int64)))
    return counts.numpy()

  def train_batches(self, start_step: int = 0) -> Iterator[dict]:
    offsets = self.examples_before(start_step)
    streams = [s.input.example_stream(int(offset), seed_offset=i)
               .map(pipeline.no_autograph(s.to_union))
               for i, (s, offset) in enumerate(zip(self.sources, offsets))]
    choices = (tf.data.Dataset.range(start_step, 2 ** 62)
               .map(pipeline.no_autograph(self._draws)).unbatch())
    ds = tf.data.Dataset.choose_from_datasets(streams, choices)
    ds = ds.batch(self.local_batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    return iter(tfds.as_numpy(ds))

  # ---- Evaluation.
  def eval_batches(self, split: str, training_set: bool = False) -> Iterator[dict]:
    for source in self.sources:
      yield from source.input.eval_batches(split, training_set, transform=source.to_union)

  def parts(self) -> list[tuple[str, "_SourceView"]]:
    """(name, an InputSource over that source alone, in the union's label space)."""
    return [(s.name, _SourceView(self, s)) for s in self.sources]

  def restrict_training_set(self, train_size: int, min_positives: int, seed: int) -> None:
    if train_size > 0:
      raise MixtureError("train_size: subsampling a mixture is not supported; fine-tune on "
                         "one dataset (dataset.name) or use train_size=0")

  def describe(self) -> dict:
    parts = [s.input.describe() for s in self.sources]
    sources = [{**part["dataset"], "weight": s.weight,
                "annotated_labels": [n for n, m in zip(self.label_names, s.mask) if m]}
               for s, part in zip(self.sources, parts)]
    name = "mixture:" + ",".join(f"{s.name}:{s.weight:g}" for s in self.sources)
    return {"dataset": {"name": name, "sources": sources, "train_split": self.train_split,
                        "train_examples": self.train_examples},
            "input": parts[0]["input"]}


class _SourceView:
  """One source of a mixture, evaluated in the mixture's label space."""

  def __init__(self, mixture: MixtureInput, source: _Source):
    self.label_names = mixture.label_names
    self.signal_shape = mixture.signal_shape
    self._source = source

  def eval_batches(self, split: str, training_set: bool = False) -> Iterator[dict]:
    return self._source.input.eval_batches(split, training_set,
                                           transform=self._source.to_union)
