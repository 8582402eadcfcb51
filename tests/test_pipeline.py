"""The tf.data stream is a function of (seed, step): resuming continues it exactly."""

import itertools
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ecgjax.data import datasets, pipeline
from tests.helpers import REPO


def make_input(data_dir, **kw):
  builder = datasets.load_builder("synthetic_ecg/tiny", data_dir)
  args = dict(labels="pretrain", global_batch=16, eval_batch=64, train_split="train",
              seed=3, shuffle_buffer=128)
  return pipeline.TfdsInput(builder, **{**args, **kw})


def take(it, n):
  return list(itertools.islice(it, n))


def test_resumed_stream_continues_across_an_epoch_boundary(tiny_data_dir):
  source = make_input(tiny_data_dir)
  train_size = datasets.split_size(source.builder.info, "train")
  steps_per_epoch = train_size / 16
  assert 20 < steps_per_epoch < 40
  full = take(source.train_batches(0), 45)
  resumed = take(make_input(tiny_data_dir).train_batches(25), 20)
  for a, b in zip(full[25:], resumed, strict=True):
    np.testing.assert_array_equal(a["signal"], b["signal"])
    np.testing.assert_array_equal(a["labels"], b["labels"])


def test_augmented_stream_perturbs_signals_and_still_resumes_exactly(tiny_data_dir):
  plain = take(make_input(tiny_data_dir).train_batches(0), 45)
  augmented = take(make_input(tiny_data_dir, augment=True, threads=1).train_batches(0), 45)
  resumed = take(make_input(tiny_data_dir, augment=True).train_batches(25), 20)
  for a, b in zip(augmented[25:], resumed, strict=True):      # across the epoch boundary
    np.testing.assert_array_equal(a["signal"], b["signal"])
  assert augmented[0]["signal"].dtype == np.int16
  first = augmented[0]["signal"].astype(np.float64)
  raw = plain[0]["signal"].astype(np.float64)
  np.testing.assert_array_equal(augmented[0]["labels"], plain[0]["labels"])  # same order
  difference = first - raw
  assert 5 < np.std(difference) < 0.3 * np.std(raw)           # noise + gain, not a new ECG
  gains = [np.sum(a * r) / np.sum(r * r) for a, r in zip(first, raw)]
  assert 0.78 < min(gains) and max(gains) < 1.27 and np.std(gains) > 0.01


def test_recording_augmentation_perturbs_each_lead_and_resumes_exactly(tiny_data_dir):
  """augment=recording (the sim-to-real recipe): a gain per lead, baseline wander and
  sometimes one flat lead, on top of the basic perturbation; resumable as before."""
  plain = take(make_input(tiny_data_dir).train_batches(0), 30)
  augmented = take(make_input(tiny_data_dir, augment="recording").train_batches(0), 30)
  resumed = take(make_input(tiny_data_dir, augment="recording").train_batches(12), 18)
  for a, b in zip(augmented[12:], resumed, strict=True):
    np.testing.assert_array_equal(a["signal"], b["signal"])
  raw = np.concatenate([b["signal"] for b in plain]).astype(np.float64)
  new = np.concatenate([b["signal"] for b in augmented]).astype(np.float64)
  np.testing.assert_array_equal(np.concatenate([b["labels"] for b in plain]),
                                np.concatenate([b["labels"] for b in augmented]))
  flat = (np.abs(new).max(axis=1) == 0) & (np.abs(raw).max(axis=1) > 0)   # (ECGs, leads)
  assert 0.03 < flat.any(axis=1).mean() < 0.2 and flat.sum(axis=1).max() == 1
  live = ~flat
  live &= np.abs(raw).max(axis=1) > 0                    # the generator's own flat leads
  with np.errstate(invalid="ignore", divide="ignore"):
    gains = np.where(live, np.sum(new * raw, axis=1) / np.sum(raw * raw, axis=1), np.nan)
  spread = np.nanmax(gains, axis=1) / np.nanmin(gains, axis=1)    # leads of one ECG differ
  assert np.median(spread) > 1.1 and np.nanmax(gains) < 1.25 * 1.18 * 1.2
  # Baseline wander: the slow part of the difference is far larger than basic's offset.
  slow = np.abs(np.diff((new - raw)[:, ::20], axis=1)).mean()
  assert slow > 2.0


def test_handheld_augmentation_flips_whole_recordings_half_the_time(tiny_data_dir):
  """augment=handheld (a one-lead recorder held either way round): each ECG is the
  stored one or its negative, whole, about half of each; resumable as before."""
  plain = take(make_input(tiny_data_dir, leads=("I",)).train_batches(0), 20)
  flipped = take(make_input(tiny_data_dir, leads=("I",), augment="handheld").train_batches(0), 20)
  resumed = take(make_input(tiny_data_dir, leads=("I",), augment="handheld").train_batches(8), 12)
  for a, b in zip(flipped[8:], resumed, strict=True):
    np.testing.assert_array_equal(a["signal"], b["signal"])
  raw = np.concatenate([b["signal"] for b in plain]).astype(np.int32)
  new = np.concatenate([b["signal"] for b in flipped]).astype(np.int32)
  assert raw.shape[-1] == 1 and np.abs(raw).max(axis=(1, 2)).min() > 0
  same = (new == raw).all(axis=(1, 2))
  negated = (new == -raw).all(axis=(1, 2))
  assert (same | negated).all()
  assert 0.35 < negated.mean() < 0.65


def test_augment_kinds_and_their_old_spellings():
  from ecgjax.data.augment import augment_kind
  assert [augment_kind(v) for v in (True, False, "True", "false", "recording", "none",
                                    "handheld")] == [
      "basic", "none", "basic", "none", "recording", "none", "handheld"]
  import pytest
  with pytest.raises(ValueError, match="none, basic, recording, handheld"):
    augment_kind("heavy")


def test_epochs_are_reshuffled_and_seeds_differ(tiny_data_dir):
  source = make_input(tiny_data_dir)
  steps_per_epoch = datasets.split_size(source.builder.info, "train") // 16
  batches = take(source.train_batches(0), 2 * steps_per_epoch)
  first = np.concatenate([b["signal"][:, 0, 0] for b in batches[:5]])
  second = np.concatenate([b["signal"][:, 0, 0] for b in batches[steps_per_epoch:steps_per_epoch + 5]])
  assert not np.array_equal(first, second)
  other_seed = take(make_input(tiny_data_dir, seed=4).train_batches(0), 1)[0]
  assert not np.array_equal(other_seed["signal"], batches[0]["signal"])


def test_batches_select_the_requested_labels(tiny_data_dir):
  source = make_input(tiny_data_dir, labels="sinus_rhythm,atrial_fibrillation")
  batch = next(source.train_batches(0))
  assert batch["labels"].shape == (16, 2) and batch["labels"].dtype == np.float32
  assert batch["signal"].shape == (16, 1000, 12) and batch["signal"].dtype == np.int16
  assert source.label_names == ["sinus_rhythm", "atrial_fibrillation"]


def test_eval_covers_the_split_once_with_padding(tiny_data_dir):
  source = make_input(tiny_data_dir)
  batches = list(source.eval_batches("validation"))
  size = datasets.split_size(source.builder.info, "validation")
  assert all(b["signal"].shape[0] == 64 for b in batches)
  assert sum(int(b["mask"].sum()) for b in batches) == size
  assert len(batches) == -(-size // 64)


def test_restricted_training_set_streams_only_the_chosen_patients(tiny_data_dir):
  source = make_input(tiny_data_dir, labels="sinus_rhythm,atrial_fibrillation")
  records, patients, labels = source.split_index("train")
  source.restrict_training_set(100, min_positives=3, seed=0)
  assert source.train_examples == 100
  batches = list(source.eval_batches("train", training_set=True))
  chosen = np.concatenate([b["patient"][b["mask"]] for b in batches])
  assert len(chosen) == 100
  assert sum(b["labels"][b["mask"]][:, 1].sum() for b in batches) >= 3
  # The training stream cycles over the same 100 ECGs: 7 batches of 16 span an epoch.
  stream = take(source.train_batches(0), 7)
  assert sum(len(b["labels"]) for b in stream) == 112
  assert len(np.unique(patients)) > len(np.unique(chosen))


def test_a_split_s_index_is_read_once_per_process_until_the_dataset_is_rebuilt(
    tiny_data_dir, monkeypatch):
  """A sweep's runs share a dataset: the second run's source reads no split index the
  first one read. Other label columns, or the dataset rebuilt (its dataset_info.json
  rewritten), read it again; the oldest index goes when the process keeps too many."""
  reads = []
  read = pipeline._read_split_index
  monkeypatch.setattr(pipeline, "_read_split_index",
                      lambda builder, split, labels: reads.append(split) or read(
                          builder, split, labels))
  monkeypatch.setattr(pipeline, "_SPLIT_INDEXES", pipeline._SplitIndexes(size=2))
  labels = "sinus_rhythm,atrial_fibrillation"
  first = make_input(tiny_data_dir, labels=labels).split_index("validation")
  second = make_input(tiny_data_dir, labels=labels, seed=9).split_index("validation")
  assert reads == ["validation"]
  for a, b in zip(first, second, strict=True):
    np.testing.assert_array_equal(a, b)
  assert len(first[0]) == datasets.split_size(make_input(tiny_data_dir).builder.info,
                                              "validation")
  with pytest.raises(ValueError, match="read-only"):
    first[2][0, 0] = 1                         # what every run shares stays as read
  one_label = make_input(tiny_data_dir, labels="sinus_rhythm").split_index("validation")
  assert reads == ["validation"] * 2
  np.testing.assert_array_equal(one_label[2][:, 0], first[2][:, 0])

  source = make_input(tiny_data_dir, labels=labels)
  info = os.path.join(source.builder.data_dir, "dataset_info.json")
  before = os.stat(info)
  os.utime(info, ns=(before.st_atime_ns, before.st_mtime_ns + 10 ** 9))   # a rebuild
  try:
    source.split_index("validation")
    assert reads == ["validation"] * 3
  finally:
    os.utime(info, ns=(before.st_atime_ns, before.st_mtime_ns))
  # Two are kept (size=2): the one-label index and the rebuilt dataset's. The two-label
  # index of the dataset as it was is the oldest and went: asked again, it is read again.
  source.split_index("validation")
  assert reads == ["validation"] * 4


def test_a_small_training_subset_is_kept_in_memory_without_changing_its_stream(
    tiny_data_dir, monkeypatch):
  """A chosen subset under CACHE_SUBSET_BYTES is cached after its first epoch (else every
  epoch decodes the whole split to keep it): the batches are the same, across several
  epochs and from a resumed position, as the uncached stream's."""
  def stream(cache_bytes, start, n):
    monkeypatch.setattr(pipeline, "CACHE_SUBSET_BYTES", cache_bytes)
    source = make_input(tiny_data_dir, labels="sinus_rhythm,atrial_fibrillation")
    source.restrict_training_set(60, min_positives=3, seed=1)
    assert (source._subset_bytes() <= pipeline.CACHE_SUBSET_BYTES) == (cache_bytes > 0)
    return take(source.train_batches(start), n)

  # 60 ECGs in batches of 16: 15 batches span four epochs.
  for cached_start, plain in ((0, stream(-1, 0, 15)), (9, stream(-1, 9, 6))):
    cached = stream(1 << 30, cached_start, len(plain))
    for a, b in zip(plain, cached, strict=True):
      np.testing.assert_array_equal(a["signal"], b["signal"])
      np.testing.assert_array_equal(a["labels"], b["labels"])


def test_the_training_stream_runs_without_the_autotuner_and_streams_the_same(
    tiny_data_dir, monkeypatch):
  """Closing a fine-tune's stream waited on tf.data's autotuner for 12-30 s (pipeline,
  TRAIN_STREAM_AUTOTUNE): the stream is built without it, for a subset and for a whole
  split, and its batches are those the autotuned stream gives."""
  def source(subset):
    made = make_input(tiny_data_dir, labels="sinus_rhythm,atrial_fibrillation")
    if subset:
      made.restrict_training_set(60, min_positives=3, seed=1)
    return made

  for subset in (False, True):
    assert source(subset).example_stream().options().autotune.enabled is False
    plain = take(source(subset).train_batches(3), 6)
    monkeypatch.setattr(pipeline, "TRAIN_STREAM_AUTOTUNE", True)
    tuned = take(source(subset).train_batches(3), 6)
    monkeypatch.setattr(pipeline, "TRAIN_STREAM_AUTOTUNE", False)
    for a, b in zip(plain, tuned, strict=True):
      np.testing.assert_array_equal(a["signal"], b["signal"])
      np.testing.assert_array_equal(a["labels"], b["labels"])


AUTOGRAPH_PROBE = """
import json, re, sys
from ecgjax import cli
cli.import_tensorflow_quietly()
from ecgjax.data import datasets, mixture, pipeline, synthetic_stream
data_dir = sys.argv[1]
builder = datasets.load_builder("synthetic_ecg/tiny", data_dir)
common = dict(labels="sinus_rhythm,atrial_fibrillation", global_batch=8, eval_batch=16,
              train_split="train", seed=0, shuffle_buffer=16)
for kind in (dict(augment="basic", crop_s=5.0, eval_stride_s=5.0), dict(augment="recording"),
             dict(augment="handheld", leads="I")):
  source = pipeline.TfdsInput(builder, **common, **kind)
  source.restrict_training_set(60, 1, 0)
  next(source.train_batches())
  next(iter(source.eval_batches("validation")))
  next(iter(source.eval_batches("train", training_set=True)))
fresh = synthetic_stream.FreshSyntheticInput(builder, workers=1, augment="basic", **{
    k: v for k, v in common.items() if k != "augment"})
next(fresh.train_batches())
both = mixture.MixtureInput([("synthetic_ecg/tiny", 1.0), ("synthetic_ecg/tiny", 2.0)],
                            data_dir, **common)
next(both.train_batches(3))
next(iter(both.eval_batches("validation")))
# AutoGraph loads each function it rewrites as a module of generated source, `tf__NAME`.
# (A lambda's module defines no such name: its source is named instead.)
generated = [m for name, m in sys.modules.items() if name.startswith("__autograph_generated")]
print(json.dumps(sorted((re.findall(r"def (tf__\\w+)", open(m.__file__).read())
                         or [open(m.__file__).read()[-300:]])[0] for m in generated)))
"""


def test_no_function_handed_to_tf_data_is_rewritten_by_autograph(tiny_data_dir):
  """pipeline.no_autograph: every function the package maps, filters or reduces over
  is traced as written (AutoGraph's rewrite costs a command's start ~0.5 s and leaves a
  generated file behind a killed process). Each kind of input, in a fresh process so
  that no earlier conversion hides one: a new function handed to tf.data without
  no_autograph shows up here as a generated module."""
  out = subprocess.run([sys.executable, "-c", AUTOGRAPH_PROBE, tiny_data_dir], cwd=REPO,
                       capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  assert json.loads(out.stdout.strip().splitlines()[-1]) == []
