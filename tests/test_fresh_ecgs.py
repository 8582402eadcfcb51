"""Fresh synthetic ECGs for pretraining (`dataset.fresh_ecgs`): drawn as a built
dataset's ECGs are, never one of its patients, resumable, and refused where they
cannot apply."""

import json
import os

import numpy as np
import pytest
from scipy import stats

from ecgjax.data import datasets, synthetic_stream
from ecgjax.synthetic import cohort, generator, version
from ecgjax.experiments import validation
from tests.helpers import tiny_pretrain_config


def test_a_fresh_ecg_is_drawn_as_a_random_ecg_of_a_built_dataset():
  """A built dataset holds all of each patient's ECGs, so a random ECG of it belongs to
  a patient with k ECGs in proportion to k times the share of such patients. The
  fresh stream's patients follow that, and each visit is one the patient has."""
  seed, draws = 7, 3000
  counts = np.zeros(cohort.MAX_ECGS_PER_PATIENT + 1)
  for position in range(draws):
    index, visit = generator.fresh_draw(seed, position)
    k = cohort.sample_patient(generator._patient_rng(seed, index), index).ecg_count
    assert 0 <= visit < k
    counts[k] += 1
  built = np.zeros_like(counts)          # ECGs per patient size in a built dataset's plan
  for patient in generator.plan(seed=0, num_ecgs=30_000):
    built[patient.ecg_count] += patient.ecg_count
  seen = counts[1:] > 0
  expected = built[1:][seen] / built[1:][seen].sum() * counts[1:][seen].sum()
  assert stats.chisquare(counts[1:][seen], expected).pvalue > 1e-3, (counts, built)
  # Without the size bias, patients with one ECG would be 40% of draws, not about 17%.
  assert counts[1] / draws == pytest.approx(built[1] / built.sum(), abs=0.03)


def test_the_fresh_stream_resumes_exactly_and_meets_no_built_patient(tiny_data_dir):
  builder = datasets.load_builder("synthetic_ecg/tiny", tiny_data_dir)
  source = synthetic_stream.FreshSyntheticInput(
      builder, workers=2, labels="pretrain", global_batch=8, eval_batch=8,
      train_split="train", seed=3, shuffle_buffer=16, augment="recording")
  first = list(source.example_stream(0, select=False).take(10).as_numpy_iterator())
  resumed = list(source.example_stream(6, select=False).take(4).as_numpy_iterator())
  for a, b in zip(first[6:], resumed, strict=True):
    assert a["record_id"] == b["record_id"]
    np.testing.assert_array_equal(a["signal"], b["signal"])     # the augmentation too
  # As the generator makes them, before augmentation.
  plain = generator.fresh_example(source.stream_seed, 2, 100.0, 10.0)
  assert first[2]["patient"].decode() == plain["patient"]
  np.testing.assert_array_equal(first[2]["labels"], plain["labels"])
  # No fresh ECG belongs to a patient of the built splits (scored on validation/test).
  built = {p.decode() for split in ("train", "validation", "test")
           for p in source.split_index(split)[1]}
  assert not {e["patient"].decode() for e in first} & built
  card = source.describe()["dataset"]
  assert card["train_stream"]["generator_version"] == generator.VERSION
  assert "train_examples" not in card
  selected = next(source.example_stream(0).as_numpy_iterator())
  assert selected["signal"].shape == (1000, 12) and selected["labels"].shape == (len(
      source.label_names),)


@pytest.mark.parametrize("overrides, message", [
    ({"dataset.fresh_ecgs": True, "dataset.name": "ptbxl/superdiagnostic_100"},
     "is not a synthetic_ecg dataset"),
    ({"dataset.fresh_ecgs": True, "dataset.mixture": "synthetic_ecg/tiny:1,ptbxl:1"},
     "not a mixture's"),
])
def test_fresh_ecgs_are_refused_where_they_cannot_apply(overrides, message, tmp_path):
  config = tiny_pretrain_config(str(tmp_path), **overrides)
  with pytest.raises(validation.ConfigError, match=message):
    validation.validate_pretrain(config, device_count=1)


def test_fine_tuning_refuses_fresh_ecgs(tmp_path):
  from tests.helpers import tiny_finetune_config
  config = tiny_finetune_config(str(tmp_path), str(tmp_path), **{"dataset.fresh_ecgs": True})
  with pytest.raises(validation.ConfigError, match="fresh ECGs are for pretraining"):
    validation.validate_finetune(config, device_count=1)


def test_a_dataset_of_another_generator_version_is_named(tiny_data_dir, monkeypatch):
  builder = datasets.load_builder("synthetic_ecg/tiny", tiny_data_dir)
  monkeypatch.setattr(version, "VERSION", "9.9.9")
  with pytest.raises(synthetic_stream.FreshEcgError,
                     match=rf"built by generator {builder.info.version}, this code generates "
                           r"9\.9\.9; rebuild it"):
    synthetic_stream.check_fresh_dataset(builder)


@pytest.mark.slow
def test_pretraining_on_fresh_ecgs_scores_the_built_splits(tiny_data_dir, tmp_path):
  from ecgjax.experiments import pretraining
  workdir = str(tmp_path / "fresh")
  pretraining.train_and_evaluate(
      tiny_pretrain_config(tiny_data_dir, **{"dataset.fresh_ecgs": True, "total_steps": 4,
                                             "eval_every": 4, "dataset.threads": 2}), workdir)
  card = json.load(open(os.path.join(workdir, "model_card.json")))
  assert card["training"]["datasets"][0]["train_stream"]["kind"] == "fresh ECGs"
  results = json.load(open(os.path.join(workdir, "results.json")))
  assert results["step"] == 4
  builder = datasets.load_builder("synthetic_ecg/tiny", tiny_data_dir)
  assert results["test_examples"] == builder.info.splits["test"].num_examples
