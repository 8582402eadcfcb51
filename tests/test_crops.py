"""dataset.crop_s: random training crops that resume exactly, sliding evaluation
windows scored per ECG, and the PTB-XL benchmark config with its deep-stem network."""

import json
import os

import numpy as np
import pytest

from ecgjax.experiments import pretraining, validation
from ecgjax.configs import common, ptbxl_benchmark
from ecgjax.models import presets
from ecgjax.data import datasets, pipeline
from tests.helpers import network, tiny_pretrain_config


def _input(data_dir, **kw):
  builder = datasets.load_builder("synthetic_ecg/tiny", data_dir)
  args = dict(labels="pretrain", global_batch=16, eval_batch=64, train_split="train", seed=0,
              shuffle_buffer=64)
  return pipeline.TfdsInput(builder, **{**args, **kw})


def test_training_crops_are_slices_of_their_ecg_and_resume_exactly(tiny_data_dir):
  whole, cropped = _input(tiny_data_dir), _input(tiny_data_dir, crop_s=2.5)
  assert cropped.signal_shape == (250, 12)
  full_stream, crop_stream = whole.train_batches(0), cropped.train_batches(0)
  offsets = []
  for _ in range(3):
    full, crop = next(full_stream), next(crop_stream)
    assert crop["signal"].shape == (16, 250, 12)
    np.testing.assert_array_equal(crop["labels"], full["labels"])     # same order
    for ecg, piece in zip(full["signal"], crop["signal"]):
      found = [o for o in range(1000 - 250 + 1) if np.array_equal(ecg[o:o + 250], piece)]
      assert found, "a crop is not a slice of its ECG"
      offsets.append(found[0])
  assert len(set(offsets)) > 10          # offsets are drawn, not fixed
  third = next(_input(tiny_data_dir, crop_s=2.5).train_batches(2))
  again = _input(tiny_data_dir, crop_s=2.5).train_batches(0)
  next(again), next(again)
  np.testing.assert_array_equal(third["signal"], next(again)["signal"])


def test_evaluation_cuts_every_ecg_into_sliding_windows(tiny_data_dir):
  whole = _input(tiny_data_dir)
  windowed = _input(tiny_data_dir, crop_s=2.5, eval_stride_s=1.25)
  ecgs = np.concatenate([b["signal"][b["mask"]] for b in whole.eval_batches("validation")])
  batches = list(windowed.eval_batches("validation"))
  windows = np.concatenate([b["signal"][b["mask"]] for b in batches])
  recordings = np.concatenate([b["recording"][b["mask"]] for b in batches])
  starts = [0, 125, 250, 375, 500, 625, 750]
  assert len(windows) == len(ecgs) * len(starts)
  for i, ecg in enumerate(ecgs[:5]):
    for j, start in enumerate(starts):
      np.testing.assert_array_equal(windows[i * 7 + j], ecg[start:start + 250])
    assert len(set(recordings[i * 7:(i + 1) * 7])) == 1
  assert len(set(recordings)) == len(ecgs)
  # A stride that does not divide the length ends with a window aligned to the end.
  assert _input(tiny_data_dir, crop_s=3.0)._window_starts == [0, 300, 600, 700]


def test_crop_fields_are_checked():
  config = tiny_pretrain_config("/nonexistent")
  config.dataset.eval_stride_s = 1.0
  with pytest.raises(validation.ConfigError, match="crop_s is 0"):
    validation.validate_pretrain(config, device_count=8)
  config.dataset.crop_s = -1.0
  with pytest.raises(validation.ConfigError, match="crop_s must be"):
    validation.validate_pretrain(config, device_count=8)


def test_benchmark_configs_name_the_task_and_the_protocol():
  for task in ptbxl_benchmark.TASKS:
    c = ptbxl_benchmark.get_config(task)
    validation.validate_pretrain(c, device_count=1)
    assert c.dataset.name == f"ptbxl/{task}_100"
    assert (c.dataset.crop_s, c.dataset.eval_stride_s, c.dataset.eval_aggregate) == (
        2.5, 1.25, "max")
  with pytest.raises(ValueError, match="unknown task"):
    ptbxl_benchmark.get_config("everything")
  c = ptbxl_benchmark.get_config("all")
  model = network(c, 71, 12)
  assert len(model.backbone.blocks) == 3 + 4 + 23 + 3
  assert [conv.out_features for conv in model.backbone.stem_convs] == [32, 64]


@pytest.mark.slow
def test_a_cropped_run_is_scored_per_ecg(tiny_data_dir, tmp_path):
  config = tiny_pretrain_config(tiny_data_dir, total_steps=6,
                                **{"dataset.crop_s": 2.5, "dataset.eval_stride_s": 1.25})
  config.model.stem_extra_widths = (8,)        # the deep stem and its max-pool, tiny
  config.model.stem_pool = True
  workdir = str(tmp_path / "crops")
  pretraining.train_and_evaluate(config, workdir)
  results = json.load(open(os.path.join(workdir, "results.json")))
  builder = datasets.load_builder("synthetic_ecg/tiny", tiny_data_dir)
  assert results["test_examples"] == builder.info.splits["test"].num_examples
  card = json.load(open(os.path.join(workdir, "model_card.json")))
  assert card["input"]["samples"] == 250 and card["input"]["duration_s"] == 2.5
  assert card["model"]["config"]["stem_extra_widths"] == [8]


def test_every_named_model_shape_fits_one_schema():
  """Every preset names the same fields (one schema checks them all), and each passes
  the config validation a run does."""
  fields = {name: set(common.model_config(name, "float32").keys()) for name in presets.PRESETS}
  assert len(fields) == 4 and all(f == fields["small"] for f in fields.values())
  for name in presets.PRESETS:
    c = common.pretrain_defaults()
    c.model = common.model_config(name, "float32")
    validation.validate_pretrain(c, device_count=1)         # raises ConfigError if not
    assert c.model.kernel_size == presets.PRESETS[name]["kernel_size"]
