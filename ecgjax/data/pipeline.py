"""The tf.data input pipeline over a built dataset, one shard per process.

Training stream: each process reads its own slice of the split
(`tfds.split_for_jax_process`), shuffles it with a seed that depends on the
epoch, and batches across epoch boundaries. The stream is a pure function of
(seed, step), so a run resumed at step s continues exactly where it stopped:
the epoch is recomputed and the examples already consumed in it are skipped
before decoding (reading, not decoding, that part of one epoch again).

Augmentation (training only, `augment`: none, basic, recording or handheld, data/augment.py):
drawn with stateless random ops seeded by (seed, epoch, position in the epoch), so
an augmented stream is still a pure function of (seed, step) and resumes exactly.
Signals stay int16 µV, so host-to-device bytes do not grow.

`threads` caps tf.data's private thread pool (0: tf.data's default, all cores):
benchmarks/input_pipeline.py measures ECG/s per core with it.

Leads (`leads`, ecg.leads.select_leads): the chosen leads are gathered from the
stored 12, in standard order, so a one-lead model reads (samples, 1).

Every batch carries a `label_mask` (1 where the example's dataset annotates the
label; the loss ignores the rest, models.head.loss, and evaluation leaves
them out). One dataset trains on every label chosen, with a warning for any its
metadata says it does not annotate; a mixture (data.mixture) masks them. An
archive that leaves a label undecided for some records (`labels_known`, e.g. an
"other rhythm" CinC 2017 record's sinus_rhythm) masks those entries.

Crops (`crop_s`, the PTB-XL benchmark's protocol, Strodthoff et al. 2021): the
model reads `crop_s` seconds. Training takes one random crop per example (its
offset drawn like the augmentation, so the stream still resumes exactly);
evaluation cuts every example into windows of that length `eval_stride_s` apart
(0: back to back), the last aligned to the end, which share the example's
`recording` so they are scored as one (training.eval_outputs.aggregate_recordings).

Evaluation: one pass over the split, padded to whole batches with a `mask`;
every process yields the same number of batches so sharded steps stay in step.
"""

import math
import re
from collections.abc import Iterator

import jax
import numpy as np
from absl import logging
import tensorflow as tf
import tensorflow_datasets as tfds

from ecgjax.data import augment as augment_lib, datasets, subsample
from ecgjax.ecg import leads as leads_lib, windows
from ecgjax.models import model_card

EPOCH_SEED_STRIDE = 1_000_003



# A long recording's windows are stored as RECORD_w0, RECORD_w1, ...
WINDOW_SUFFIX = r"_w[0-9]+$"

# tf.data traces each function it maps into a graph. The functions of this package
# branch on configuration only, never on a tensor, so AutoGraph's rewrite of each into
# generated source buys nothing; it costs ~0.5 s of a training command's start and
# leaves a file per function in the temporary directory when the process is killed.
# Every function this package hands to tf.data goes through `no_autograph`
# (tests/test_pipeline.py finds none converted).
no_autograph = tf.autograph.experimental.do_not_convert


def recording_of(record_id: str) -> str:
  """The recording a stored example's record_id belongs to (its windows share it)."""
  return re.sub(WINDOW_SUFFIX, "", record_id)


def numeric_key(strings):
  """Patient or recording ids (strings, a tensor or bytes) as 63-bit integer hashes, as
  evaluation carries them. The patient bootstrap draws its weights in the order of
  these keys, so a scorer outside the pipeline that hashes the same way resamples
  exactly as evaluation does."""
  return tf.strings.to_hash_bucket_fast(strings, 2 ** 63 - 1)

# A chosen training subset up to this size is kept in memory from its first epoch on.
# Without it every epoch reads and decodes the whole split to keep the subset's records
# (100 of the demo's 12,821 at n=100: 128 times what it trains on), which halved a small
# fine-tune's ECGs per second on 2 cores. The cache changes neither the examples nor
# their order, so the stream (and a resumed run) is the same.
CACHE_SUBSET_BYTES = 1 << 30

# The training stream runs without tf.data's autotuner. It is a flat_map over epochs, and
# in a fine-tune (small epochs, so dozens of them) closing the stream waited on the
# autotuner's thread: a median 11.8 s after 100 steps of 100 ECGs, in a 49 s run
# (benchmarks/stream_close.py). Without it the close takes milliseconds and the run
# 35.8 s; the parallel maps then use every core (docs/benchmarks.md, "The demo with
# three seeds").
TRAIN_STREAM_AUTOTUNE = False


class TfdsInput:
  """Batches of {'signal': int16 (b, samples, leads), 'labels': float32 (b, L),
  'label_mask': float32 (b, L)}."""

  def __init__(self, builder: tfds.core.DatasetBuilder, *, labels: str, global_batch: int,
               eval_batch: int, train_split: str, seed: int, shuffle_buffer: int,
               augment: str | bool = "none", threads: int = 0, leads: str | tuple[str, ...] | None = "all",
               crop_s: float = 0.0, eval_stride_s: float = 0.0):
    self.builder = builder
    self.augment = augment_lib.augment_kind(augment)
    self.threads = threads
    self.label_names, indices = datasets.resolve_labels(builder.info, labels)
    self._label_indices = np.array(indices, np.int32)    # typed: `none` chooses no label
    annotated = set(datasets.annotated_labels(builder.info))
    unannotated = [n for n in self.label_names if n not in annotated]
    if unannotated:
      logging.warning("%s does not annotate %s: its zeros there are unknowns, trained and "
                      "scored as negatives", datasets.display_name(builder.info),
                      ", ".join(unannotated))
    stored_leads = datasets.stored_leads(builder.info)
    self.lead_names = leads_lib.select_leads(leads, datasets.recorded_leads(builder.info),
                                             datasets.display_name(builder.info))
    self._lead_indices = [stored_leads.index(n) for n in self.lead_names]
    samples = builder.info.features["signal"].shape[0]
    rate = float((builder.info.metadata or {})["sampling_rate"])
    self.sampling_rate = rate
    self.crop = int(round(crop_s * rate)) if crop_s else 0
    if self.crop > samples or self.crop < 0:
      raise ValueError(f"dataset.crop_s={crop_s}: {self.crop} samples, but "
                       f"{datasets.display_name(builder.info)} holds {samples} per ECG")
    self.stored_samples = samples
    self._window_starts = [0]
    if self.crop:
      stride = int(round(eval_stride_s * rate)) if eval_stride_s else self.crop
      self._window_starts = windows.window_starts(samples, self.crop, max(stride, 1))
    self.signal_shape = (self.crop or samples, len(self.lead_names))
    self.train_split = train_split
    self.seed = seed
    self.shuffle_buffer = shuffle_buffer
    self.local_batch = _per_process(global_batch, "batch_size")
    self.local_eval_batch = _per_process(eval_batch, "eval_batch_size")
    self._train_records: tf.lookup.StaticHashTable | None = None
    self._train_prevalence: dict[str, float] | None = None
    self.train_examples = datasets.split_size(builder.info, train_split)

  def describe(self) -> dict:
    """What a model card says of this input: the dataset and the input contract."""
    info = self.builder.info
    dataset = {"name": datasets.display_name(info),
               "version": str(info.version),
               "splits": {name: split.num_examples for name, split in info.splits.items()},
               "train_split": self.train_split, "train_examples": self.train_examples}
    if self._train_prevalence is not None:
      dataset["train_label_prevalence"] = self._train_prevalence
    metadata = {**dict(info.metadata or {}), "lead_names": list(self.lead_names)}
    return {"dataset": dataset, "input": model_card.input_contract(metadata, self.signal_shape)}

  def restrict_training_set(self, train_size: int, min_positives: int, seed: int) -> None:
    """Trains on `train_size` ECGs of whole patients, stratified (data.subsample);
    0 keeps the whole split."""
    if train_size <= 0:
      return
    records, patients, labels = self.split_index(self.train_split)
    keep = subsample.choose_training_examples(patients, labels, train_size, min_positives, seed)
    self.train_examples = int(keep.sum())
    self._train_prevalence = {name: float(p) for name, p in
                              zip(self.label_names, labels[keep].mean(axis=0))}
    if keep.all():
      return
    self._train_records = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(records[keep], np.ones(keep.sum(), np.int64)),
        default_value=0)

  def positives(self, split: str) -> dict[str, int]:
    """Per chosen label, its positive recordings in `split` (a long recording's windows
    count once; read without decoding signals)."""
    records, _, labels = self.split_index(split)
    recordings = np.array([recording_of(r.decode()) for r in records])
    _, first = np.unique(recordings, return_index=True)
    return {name: int(n) for name, n in
            zip(self.label_names, np.asarray(labels)[first].sum(axis=0))}

  def split_index(self, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """record_id, patient and chosen labels of every example, without decoding signals
    (read-only arrays, kept for the process's later runs: _SplitIndexes)."""
    return _SPLIT_INDEXES.get(self.builder, split, self._label_indices)

  def _select(self, example):
    labels = tf.gather(example["labels"], self._label_indices)
    signal = example["signal"]
    if len(self._lead_indices) != signal.shape[-1]:
      signal = tf.gather(signal, self._lead_indices, axis=1)
    if "labels_known" in example:      # an archive with per-record unknowns
      known = tf.cast(tf.gather(example["labels_known"], self._label_indices), tf.float32)
    else:
      known = tf.ones(tf.shape(labels), tf.float32)
    return {"signal": signal, "labels": tf.cast(labels, tf.float32), "label_mask": known}

  def _select_for_eval(self, example):
    # Patients and recordings as 63-bit hashes: numeric, so they travel as arrays
    # (the bootstrap resamples patients; evaluation aggregates a recording's windows,
    # whose record_ids are the recording's suffixed _w0, _w1, ...).
    recording = tf.strings.regex_replace(example["record_id"], WINDOW_SUFFIX, "")
    return {**self._select(example), "patient": numeric_key(example["patient"]),
            "recording": numeric_key(recording)}

  def _in_training_set(self, example):
    return self._train_records.lookup(example["record_id"]) > 0

  def _read(self, split: str) -> tf.data.Dataset:
    ds = self.builder.as_dataset(split=split, shuffle_files=False,
                                 read_config=tfds.ReadConfig(try_autocache=False))
    options = tf.data.Options()
    options.deterministic = True
    if self.threads:
      options.threading.private_threadpool_size = self.threads
    return ds.with_options(options)

  def _perturb(self, seed, example):
    if self.crop:
      # Its own stream of the seed: augmentation draws the same with or without crops.
      crop_seed = tf.random.experimental.stateless_fold_in(seed, 1)
      start = tf.random.stateless_uniform([], crop_seed, 0, self.stored_samples - self.crop + 1,
                                          dtype=tf.int32)
      example = {**example, "signal": example["signal"][start:start + self.crop]}
    return self._augment(seed, example) if self.augment != "none" else example

  def _windows(self, example):
    """One evaluation example -> its crop-length windows (a dataset of them)."""
    rows = np.asarray(self._window_starts)[:, None] + np.arange(self.crop)   # (windows, crop)
    signals = tf.gather(example["signal"], rows)
    count = len(self._window_starts)
    rest = {k: tf.repeat(v[None], count, axis=0) for k, v in example.items() if k != "signal"}
    return tf.data.Dataset.from_tensor_slices({"signal": signals, **rest})

  def _augment(self, seed, example):
    """The `augment` kind's perturbation, from a stateless seed (data/augment.py)."""
    signal = tf.cast(example["signal"], tf.float32)
    if self.augment == "basic":
      signal = augment_lib.basic(signal, seed)
    elif self.augment == "handheld":
      signal = augment_lib.handheld(signal, seed)
    else:
      signal = augment_lib.recording(signal, seed, self.sampling_rate)
    signal = tf.clip_by_value(tf.round(signal), -32768.0, 32767.0)
    return {**example, "signal": tf.cast(signal, tf.int16)}

  def train_batches(self, start_step: int = 0) -> Iterator[dict]:
    ds = self.example_stream(start_step * self.local_batch)
    ds = ds.batch(self.local_batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    return iter(tfds.as_numpy(ds))

  def example_stream(self, start_example: int = 0, seed_offset: int = 0,
                     select: bool = True) -> tf.data.Dataset:
    """This process's endless training stream, one example at a time, from its
    `start_example`-th example on: a pure function of (seed, seed_offset, position).
    `select=False`: the examples as read, record_id and all (which records each
    process reads: tests/test_distributed.py)."""
    base, examples = self._process_share()
    start_epoch, offset = divmod(start_example, examples)
    seed = (self.seed + seed_offset) * EPOCH_SEED_STRIDE + jax.process_index()

    def epoch(e):
      shuffled = base.shuffle(self.shuffle_buffer, seed=seed + e * 7919,
                              reshuffle_each_iteration=False)
      if self.augment != "none" or self.crop:   # (seed, epoch, position) seeds the draws
        shuffled = shuffled.enumerate().map(
            no_autograph(lambda i, ex: self._perturb(tf.stack([seed + e, i]), ex)),
            num_parallel_calls=tf.data.AUTOTUNE)
      return shuffled.skip(tf.where(e == start_epoch, tf.constant(offset, tf.int64),
                                    tf.constant(0, tf.int64)))

    ds = tf.data.Dataset.range(start_epoch, 2 ** 62).flat_map(no_autograph(epoch))
    options = tf.data.Options()
    options.autotune.enabled = TRAIN_STREAM_AUTOTUNE
    ds = ds.with_options(options)
    return (ds.map(no_autograph(self._select), num_parallel_calls=tf.data.AUTOTUNE)
            if select else ds)

  def _process_share(self) -> tuple[tf.data.Dataset, int]:
    """This process's part of the training set and its size: one epoch of its stream.
    The processes' parts are disjoint and together make the training set."""
    examples = self.examples_per_epoch()
    if self._train_records is None:
      return self._read(tfds.split_for_jax_process(self.train_split)), examples
    # A chosen subset: every process filters the whole split, then takes its share.
    base = self._read(self.train_split).filter(no_autograph(self._in_training_set))
    if self._subset_bytes() <= CACHE_SUBSET_BYTES:
      base = base.cache()
    return base.shard(jax.process_count(), jax.process_index()), examples

  def _subset_bytes(self) -> int:
    """The chosen subset's stored signals (int16, every recorded lead), in bytes."""
    leads = len(datasets.recorded_leads(self.builder.info))
    return self.train_examples * self.stored_samples * leads * 2

  def examples_per_epoch(self) -> int:
    """How many examples one epoch of this process's training stream holds."""
    if self._train_records is None:
      examples = datasets.split_size(self.builder.info,
                                     tfds.split_for_jax_process(self.train_split))
    else:
      examples = len(range(jax.process_index(), self.train_examples, jax.process_count()))
    if examples == 0:
      raise ValueError(f"split {self.train_split!r} of {self.builder.info.full_name} has no "
                       f"training examples for process {jax.process_index()}")
    return examples

  def eval_batches(self, split: str, training_set: bool = False,
                   transform=None) -> Iterator[dict]:
    """Local batches with a boolean `mask` marking real (not padding) examples and
    the hashed `patient` of each. `training_set` walks the chosen training subset.
    `transform` (a tf function of an example) maps examples before batching (a
    mixture's label space)."""
    if training_set and self._train_records is not None:
      total = self.train_examples
      ds = self._read(split).filter(no_autograph(self._in_training_set))
      ds = ds.shard(jax.process_count(), jax.process_index())
    else:
      total = datasets.split_size(self.builder.info, split)
      ds = self._read(tfds.split_for_jax_process(split))
    most_per_process = math.ceil(total / jax.process_count()) * len(self._window_starts)
    batches = math.ceil(most_per_process / self.local_eval_batch)
    ds = ds.map(no_autograph(self._select_for_eval))
    if self.crop:
      ds = ds.flat_map(no_autograph(self._windows))
    num_labels = len(self.label_names)
    if transform is not None:
      ds = ds.map(no_autograph(transform))
      num_labels = ds.element_spec["labels"].shape[-1]
    ds = ds.batch(self.local_eval_batch).prefetch(tf.data.AUTOTUNE)
    it = iter(tfds.as_numpy(ds))
    for _ in range(batches):
      batch = next(it, None)
      yield _pad(batch, self.local_eval_batch, self.signal_shape, num_labels)


class _SplitIndexes:
  """Each split's index (record_id, patient, chosen labels) read once per process. A run
  reads it three times (its training subset; its evaluation splits' positives) and a
  sweep's runs share their dataset: reading it means reading every stored signal's
  bytes, 2 s for the demo's training split on 2 cores, each time. Keyed by the
  dataset's directory and its dataset_info.json's modification time (rewritten by a
  rebuild), the split and the label columns; the last `size` indexes read are kept.
  Not functools.lru_cache: the builder that reads an index is not part of its key (each
  run loads its own builder of the same dataset)."""

  def __init__(self, size: int = 8):
    self.size = size
    self._kept: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

  def get(self, builder, split: str, label_indices: np.ndarray):
    info_file = tf.io.gfile.join(str(builder.data_dir), "dataset_info.json")
    key = (str(builder.data_dir), tf.io.gfile.stat(info_file).mtime_nsec, split,
           tuple(int(i) for i in label_indices))
    if key not in self._kept:
      if len(self._kept) >= self.size:
        del self._kept[next(iter(self._kept))]       # the oldest
      self._kept[key] = _read_split_index(builder, split, label_indices)
    return self._kept[key]


def _read_split_index(builder, split: str, label_indices: np.ndarray):
  ds = builder.as_dataset(split=split, decoders={"signal": tfds.decode.SkipDecoding()})
  ds = ds.map(no_autograph(
      lambda e: (e["record_id"], e["patient"], tf.gather(e["labels"], label_indices))))
  rows = list(tfds.as_numpy(ds.batch(4096)))
  arrays = tuple(np.concatenate([r[k] for r in rows]) for k in range(3))
  for a in arrays:
    a.flags.writeable = False          # shared by every run that asks
  return arrays


_SPLIT_INDEXES = _SplitIndexes()


def _per_process(global_size: int, field: str) -> int:
  if global_size % jax.process_count():
    raise ValueError(f"{field}={global_size} is not divisible by the process count "
                     f"{jax.process_count()}")
  return global_size // jax.process_count()


def _pad(batch: dict | None, size: int, signal_shape, num_labels: int) -> dict:
  n = 0 if batch is None else len(batch["labels"])
  signal = np.zeros((size, *signal_shape), np.int16)
  labels = np.zeros((size, num_labels), np.float32)
  label_mask = np.zeros((size, num_labels), np.float32)
  patient = np.zeros(size, np.int64)
  recording = np.zeros(size, np.int64)
  if n:
    signal[:n], labels[:n], patient[:n] = batch["signal"], batch["labels"], batch["patient"]
    label_mask[:n], recording[:n] = batch["label_mask"], batch["recording"]
  return {"signal": signal, "labels": labels, "label_mask": label_mask, "patient": patient,
          "recording": recording, "mask": np.arange(size) < n}
