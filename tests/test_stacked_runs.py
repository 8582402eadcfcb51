"""Fine-tunes stacked into one program (training.stacked) give each run what it gets
alone: the same losses step by step, the same selected step, the same test figures."""

import json
import os

import numpy as np
import pytest

from ecgjax.experiments import fine_tuning, validation
from ecgjax.training import stacked
from tests.helpers import tiny_finetune_config

pytestmark = pytest.mark.slow     # trains models

# Seeds and training-set sizes of one group: runs differ in patients, order and start.
RUNS = ((0, 120), (1, 120), (2, 60))


def configs_for(mode, data_dir, init_from, **overrides):
  return [tiny_finetune_config(data_dir, init_from, mode=mode, seed=seed, train_size=size,
                               log_every=1, total_steps=6, eval_every=2, checkpoint_every=2,
                               **overrides)
          for seed, size in RUNS]


def train_losses(workdir):
  lines = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  return {line["step"]: line["loss"] for line in lines if "loss" in line}


def test_modes_that_cannot_stack_say_why(tiny_data_dir):
  probe = configs_for("linear_probe", tiny_data_dir, "x")
  assert "cached backbone features" in stacked.why_not_stacked(probe)
  full = configs_for("full", tiny_data_dir, "x")
  assert stacked.why_not_stacked(full) is None
  assert "decay_to_start" in stacked.why_not_stacked(
      configs_for("full", tiny_data_dir, "x", decay_to_start=0.1))
  full[1].optimizer.learning_rate = 1.0
  assert "optimizer.learning_rate" in stacked.why_not_stacked(full)


@pytest.mark.parametrize("mode", ["scratch", "full"])
def test_a_run_in_a_stacked_group_equals_the_run_alone(mode, tiny_pretrained, tiny_data_dir,
                                                       tmp_path):
  configs = configs_for(mode, tiny_data_dir, tiny_pretrained)
  specs = [validation.validate_finetune(c) for c in configs]
  alone = [fine_tuning.train(c, s, str(tmp_path / f"alone{k}"))
           for k, (c, s) in enumerate(zip(configs, specs))]
  group_dirs = [str(tmp_path / f"grouped{k}") for k in range(len(configs))]
  grouped = fine_tuning.train_group(configs, specs, group_dirs, str(tmp_path / "group"))
  steps_selected = set()
  for k, (a, g) in enumerate(zip(alone, grouped)):
    la, lg = train_losses(tmp_path / f"alone{k}"), train_losses(group_dirs[k])
    assert sorted(la) == list(range(1, 7)) and sorted(lg) == sorted(la)
    np.testing.assert_allclose([lg[s] for s in sorted(lg)], [la[s] for s in sorted(la)],
                               rtol=1e-5)
    assert g["best_step"] == a["best_step"]
    steps_selected.add(a["best_step"])
    assert g["medians"]["auroc"]["value"] == pytest.approx(a["medians"]["auroc"]["value"],
                                                           abs=1e-6)
    for name, entry in a["labels"].items():
      if entry["auroc"] is None:              # a label without test positives
        assert g["labels"][name]["auroc"] is None
        continue
      assert g["labels"][name]["auroc"]["value"] == pytest.approx(entry["auroc"]["value"],
                                                                  abs=1e-6)
      assert g["labels"][name]["threshold"] == pytest.approx(entry["threshold"], abs=1e-5)
    on_disk = json.load(open(os.path.join(group_dirs[k], "results.json")))
    assert on_disk["seed"] == configs[k].seed and on_disk["train_size"] == configs[k].train_size
    assert os.path.isdir(os.path.join(group_dirs[k], "checkpoints"))
  # The runs differ from one another: a group is not one run written three times.
  first = train_losses(group_dirs[0])
  assert any(train_losses(d)[6] != pytest.approx(first[6], rel=1e-3) for d in group_dirs[1:])
