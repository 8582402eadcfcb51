"""Fine-tunes stacked into one program (training.stacked) give each run what it gets
alone: the same losses step by step, the same selected step, the same test figures."""

import json
import os

import numpy as np
import pytest

from ecgjax.experiments import fine_tuning, validation
from ecgjax.training import stacked
from tests.helpers import tiny_finetune_config

# Seeds and training-set sizes of one group: runs differ in patients, order and start.
RUNS = ((0, 120), (1, 120), (2, 60))


def configs_for(mode, data_dir, init_from, **overrides):
  fields = {"log_every": 1, "total_steps": 6, "eval_every": 2, "checkpoint_every": 2,
            **overrides}
  return [tiny_finetune_config(data_dir, init_from, mode=mode, seed=seed, train_size=size,
                               **fields)
          for seed, size in RUNS]


def train_losses(workdir):
  lines = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  return {line["step"]: line["loss"] for line in lines if "loss" in line}


def test_modes_that_cannot_stack_say_why(tmp_path):
  tiny_data_dir = str(tmp_path)            # configs only: nothing is read
  probe = configs_for("linear_probe", tiny_data_dir, "x")
  assert "cached backbone features" in stacked.why_not_stacked(probe)
  full = configs_for("full", tiny_data_dir, "x")
  assert stacked.why_not_stacked(full) is None
  assert "decay_to_start" in stacked.why_not_stacked(
      configs_for("full", tiny_data_dir, "x", decay_to_start=0.1))
  full[1].optimizer.learning_rate = 1.0
  assert "optimizer.learning_rate" in stacked.why_not_stacked(full)


@pytest.mark.slow
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


def final_weights(workdir):
  from ecgjax.training import checkpoints
  saved = checkpoints.read_pretrained(workdir)
  return saved.step, saved.params, saved.batch_stats


@pytest.mark.slow
def test_an_interrupted_group_resumes_bit_identical_and_skips_a_run_it_finished(
    tiny_pretrained, tiny_data_dir, tmp_path, signal_at, harmless_late_signals, monkeypatch,
    caplog):
  """SIGTERM saves the group's one checkpoint (every run's train state and kept model);
  the same call ends bit-identical to a group never stopped. A crash after the first
  run's results were committed: the other resumes from its row of the group's
  checkpoint and ends as in a group never stopped."""
  import jax
  from ecgjax.training import interrupt, loop
  configs = configs_for("full", tiny_data_dir, tiny_pretrained, total_steps=8, eval_every=4,
                        checkpoint_every=4, log_every=4)[:2]
  specs = [validation.validate_finetune(c) for c in configs]

  def dirs(name):
    return [str(tmp_path / name / f"run{k}") for k in range(len(configs))]

  straight = fine_tuning.train_group(configs, specs, dirs("straight"), str(tmp_path / "g0"))

  def same(a, b, context):
    assert a[0] == b[0], context
    jax.tree.map(lambda x, y: np.testing.assert_array_equal(x, y, err_msg=context), a[1:],
                 b[1:])

  signal_at("step", 6, "term")
  with pytest.raises(interrupt.Interrupted, match="SIGTERM at step 6: saved the group's"):
    fine_tuning.train_group(configs, specs, dirs("stopped"), str(tmp_path / "g1"))
  assert not any(os.path.exists(os.path.join(d, "results.json")) for d in dirs("stopped"))
  resumed = fine_tuning.train_group(configs, specs, dirs("stopped"), str(tmp_path / "g1"))
  for k, d in enumerate(dirs("stopped")):
    same(final_weights(dirs("straight")[k]), final_weights(d), f"run {k} after SIGTERM")
    assert resumed[k]["labels"] == straight[k]["labels"]
    assert resumed[k]["best_step"] == straight[k]["best_step"]

  real_conclude, concluded = loop._conclude, []

  def crash_after_the_first(*args, **kwargs):
    if concluded:
      raise KeyboardInterrupt            # the process dies: no handler, no save
    concluded.append(1)
    return real_conclude(*args, **kwargs)

  monkeypatch.setattr(loop, "_conclude", crash_after_the_first)
  with pytest.raises(KeyboardInterrupt):
    fine_tuning.train_group(configs, specs, dirs("crashed"), str(tmp_path / "g2"))
  monkeypatch.setattr(loop, "_conclude", real_conclude)
  first, *rest = dirs("crashed")
  assert os.path.exists(os.path.join(first, "results.json"))
  caplog.set_level("INFO")
  again = fine_tuning.train_group(configs[1:], specs[1:], rest, str(tmp_path / "g2"))
  assert "group resumed from step 4" in caplog.text
  for k, d in enumerate(rest, start=1):
    assert again[k - 1]["best_step"] == straight[k]["best_step"]
    for name, entry in straight[k]["labels"].items():
      if entry["auroc"] is not None:
        assert again[k - 1]["labels"][name]["auroc"]["value"] == pytest.approx(
            entry["auroc"]["value"], abs=1e-6)


def test_a_group_too_large_for_the_device_is_refused_with_the_size_that_fits():
  gib = 2 ** 30
  stacked.check_fits(None, 80 * gib, 8, "H100")            # CPU-like: nothing measured
  stacked.check_fits(70 * gib, None, 8, "cpu")              # a CPU reports no limit
  stacked.check_fits(70 * gib, 80 * gib, 8, "H100")         # fits under 90%
  with pytest.raises(stacked.GroupTooLargeError,
                     match=r"8 runs needs 80.0 GiB.*H100.*stack_size, to 7 or fewer"):
    stacked.check_fits(80 * gib, 80 * gib, 8, "H100")


@pytest.mark.slow
def test_probes_from_one_backbone_read_each_evaluation_split_once(
    tiny_pretrained, tiny_data_dir, tmp_path, monkeypatch):
  """The sweep's linear probes (every size and seed) share the pretrained backbone: its
  validation and test features are computed once per process and give the results a
  fresh computation gives."""
  from ecgjax.training import eval_outputs, linear_probe
  configs = configs_for("linear_probe", tiny_data_dir, tiny_pretrained)[:2]
  read = []
  real = eval_outputs.collect_outputs

  def counted(source, split, predict, training_set=False):
    read.append((split, training_set))
    return real(source, split, predict, training_set=training_set)

  monkeypatch.setattr(eval_outputs, "collect_outputs", counted)
  linear_probe._FEATURES.clear()
  fine_tuning.train_and_evaluate(configs[0], str(tmp_path / "a"))
  second = fine_tuning.train_and_evaluate(configs[1], str(tmp_path / "b"))
  evaluation_reads = [r for r in read if not r[1]]
  assert sorted(evaluation_reads) == [("test", False), ("validation", False)]
  assert [r for r in read if r[1]] == [("train", True)] * 2     # each run's own patients
  linear_probe._FEATURES.clear()
  fresh = fine_tuning.train_and_evaluate(configs[1], str(tmp_path / "c"))
  assert fresh["labels"] == second["labels"] and fresh["best_step"] == second["best_step"]


def test_the_default_group_size_is_one_on_a_cpu_and_eight_on_an_accelerator():
  assert stacked.resolve_stack_size(0, "cpu") == 1
  assert stacked.resolve_stack_size(0, "gpu") == stacked.resolve_stack_size(0, "tpu") == 8
  assert stacked.resolve_stack_size(3, "cpu") == 3
