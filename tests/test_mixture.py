"""dataset.mixture: several built datasets with per-source label masks, a stream
that resumes exactly, per-source evaluation, and the refusals."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow_datasets as tfds

from ecgjax.experiments import pretraining, validation
from ecgjax.data import datasets, mixture
from ecgjax.ecg import labels as vocab
from ecgjax.models import head
from tests.helpers import tiny_pretrain_config


def _build(builder_cls, config, data_dir, manual_dir):
  builder = builder_cls(config=config, data_dir=data_dir)
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))


@pytest.fixture(scope="module")
def three_archives(tiny_data_dir, shared_data):
  """synthetic_ecg/tiny, the 40 PTB-XL samples and the 40 CPSC 2018 samples, all at
  100 Hz and 10 s, in one data_dir."""
  from tfds_builders.physionet2021 import physionet2021_dataset_builder as physionet
  from tfds_builders.ptbxl import ptbxl_dataset_builder as ptbxl
  if not datasets.is_built("ptbxl/vocabulary_100", tiny_data_dir):
    _build(ptbxl.Builder, "vocabulary_100", tiny_data_dir, os.path.join(shared_data, "ptbxl"))
  if not datasets.is_built("physionet2021/cpsc2018_100", tiny_data_dir):
    _build(physionet.Builder, "cpsc2018_100", tiny_data_dir,
           os.path.join(shared_data, "cinc2020"))
  return tiny_data_dir


MIX = "synthetic_ecg/tiny:2,ptbxl/vocabulary_100:1,physionet2021/cpsc2018_100:1"


def _input(data_dir, spec=MIX, labels="all", **kw):
  args = dict(labels=labels, global_batch=16, eval_batch=32, train_split="train", seed=3,
              shuffle_buffer=64)
  return mixture.MixtureInput(mixture.parse_mixture(spec), data_dir, **{**args, **kw})


def test_mixture_specs_are_checked():
  assert mixture.parse_mixture("a/b:2, c:0.5") == [("a/b", 2.0), ("c", 0.5)]
  for bad in ("a:2", "a:2,b", "a:2,b:0", "a:2,b:-1", "a:2,a:1", "a:2,b:x"):
    with pytest.raises(mixture.MixtureError):
      mixture.parse_mixture(bad)
  config = tiny_pretrain_config("/nonexistent")
  config.dataset.mixture = "synthetic_ecg/tiny:1,ptbxl"
  with pytest.raises(validation.ConfigError, match="NAME:WEIGHT"):
    validation.validate_pretrain(config, device_count=8)


def test_every_missing_dataset_is_named_with_its_build_line(tiny_data_dir):
  with pytest.raises(datasets.DatasetNotBuiltError) as e:
    _input(tiny_data_dir, "synthetic_ecg/tiny:1,nothing_a/x:1,nothing_b:1")
  assert "2 of 3 datasets are not built" in str(e.value)
  assert "tfds build tfds_builders/nothing_a" in str(e.value)
  assert "tfds build tfds_builders/nothing_b" in str(e.value)


def test_signals_of_different_rates_are_refused(tiny_data_dir, shared_data):
  from tfds_builders.physionet2017 import physionet2017_dataset_builder as cinc2017
  if not datasets.is_built("physionet2017/challenge_300_first", tiny_data_dir):
    _build(cinc2017.Builder, "challenge_300_first", tiny_data_dir,
           os.path.join(shared_data, "cinc2017"))
  with pytest.raises(mixture.MixtureError, match=r"sampling rates: synthetic_ecg/tiny 100.0; "
                                                 r"physionet2017/challenge_300_first 300.0"):
    _input(tiny_data_dir, "synthetic_ecg/tiny:1,physionet2017/challenge_300_first:1",
           leads="I")


def test_a_source_annotating_none_of_the_chosen_labels_is_refused(three_archives):
  with pytest.raises(mixture.MixtureError, match="cpsc2018_100 annotates none"):
    _input(three_archives, labels="sinus_rhythm,sinus_bradycardia")


def _source_of(batch, source):
  """Which source each example came from, by its label mask (they all differ here). A
  PTB-XL record with no stated axis type also masks the two axis labels."""
  axis = np.isin(source.label_names, sorted(vocab.AXIS_LABELS))
  patterns = [s.mask for s in source.sources]
  return np.array([next(i for i, m in enumerate(patterns)
                        if np.array_equal(row, m) or np.array_equal(row, np.where(axis, 0, m)))
                   for row in batch["label_mask"]])


def test_the_mixed_stream_masks_by_source_and_resumes_exactly(three_archives):
  source = _input(three_archives)
  names = source.label_names
  assert names[:3] == list(datasets.load_builder(
      "synthetic_ecg/tiny", three_archives).info.metadata["label_names"])[:3]
  assert "normal_ecg" in names and "myocardial_infarction" in names
  # Each source's mask is its annotated labels within the union.
  cpsc = source.sources[2]
  assert {n for n, m in zip(names, cpsc.mask) if m} == {
      "normal_ecg", "atrial_fibrillation", "first_degree_av_block", "left_bundle_branch_block",
      "right_bundle_branch_block", "premature_atrial_contractions",
      "premature_ventricular_contractions", "st_depression", "st_elevation"}
  # 14 steps of 16 read the 32 training records of each small source several times.
  steps_total, split = 14, 5
  stream = source.train_batches(0)
  whole = [next(stream) for _ in range(steps_total)]
  resumed = source.train_batches(split)
  again = [next(resumed) for _ in range(steps_total - split)]
  for a, b in zip(whole[split:], again):
    for key in ("signal", "labels", "label_mask"):
      np.testing.assert_array_equal(a[key], b[key])
  drawn = np.concatenate([_source_of(b, source) for b in whole])
  ptbxl_train = source.sources[1].input.train_examples
  assert (drawn == 1).sum() > ptbxl_train            # past an epoch of the PTB-XL samples
  np.testing.assert_allclose(np.bincount(drawn, minlength=3) / len(drawn), [0.5, 0.25, 0.25],
                             atol=0.12)
  # A label a source lacks entirely is zero and masked; one it has but does not
  # annotate (CPSC gives sinus rhythm only to its normal ECGs) is masked too.
  ptbxl_names = set(datasets.load_builder("ptbxl/vocabulary_100",
                                          three_archives).info.metadata["label_names"])
  lacking = np.array([n not in ptbxl_names for n in names])
  rhythm = names.index("sinus_rhythm")
  for batch in whole:
    rows = _source_of(batch, source)
    assert not batch["labels"][rows == 1][:, lacking].any()
    assert not batch["label_mask"][rows == 1][:, lacking].any()
    assert not batch["label_mask"][rows == 2][:, rhythm].any()
  assert source.examples_before(split).sum() == split * 16


def test_masked_bce_averages_over_annotated_entries_only():
  logits = jnp.array([[2.0, -1.0, 0.5], [0.3, 4.0, -2.0]])
  labels = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
  mask = jnp.array([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
  loss = head.loss(logits, labels, mask)
  every = np.asarray(jax.nn.softplus(logits) - labels * logits)   # BCE with logits
  assert float(loss) == pytest.approx(float((every * mask).sum() / 4), rel=1e-6)
  grad = jax.grad(lambda z: head.loss(z, labels, mask))(logits)
  assert float(grad[0, 2]) == 0.0 and float(grad[1, 1]) == 0.0
  assert float(head.loss(logits, labels, jnp.ones_like(mask))) == pytest.approx(
      float(head.loss(logits, labels)), rel=1e-6)


@pytest.mark.slow
def test_pretraining_on_a_mixture_reports_each_source(three_archives, tmp_path):
  config = tiny_pretrain_config(three_archives, total_steps=6, **{"dataset.mixture": MIX})
  config.labels = "all"
  config.eval_batch_size = 32
  workdir = str(tmp_path / "mix")
  pretraining.train_and_evaluate(config, workdir)
  results = json.load(open(os.path.join(workdir, "results.json")))
  assert set(results["sources"]) == {"synthetic_ecg/tiny", "ptbxl/vocabulary_100",
                                     "physionet2021/cpsc2018_100"}
  cpsc = results["sources"]["physionet2021/cpsc2018_100"]
  # A label CPSC does not annotate is not scored on CPSC's ECGs.
  assert "not annotated" in cpsc["labels"]["sinus_rhythm"]["undefined"]
  pool_examples = sum(s["test_examples"] for s in results["sources"].values())
  assert results["test_examples"] == pool_examples
  card = json.load(open(os.path.join(workdir, "model_card.json")))
  sources = card["training"]["datasets"]
  assert [s["name"] for s in sources] == [n for n, _ in mixture.parse_mixture(MIX)]
  assert [s["weight"] for s in sources] == [2.0, 1.0, 1.0]
