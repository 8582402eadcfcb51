"""Backbone restore, freezing, learning-rate groups and subsampling for fine-tuning."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ecgjax.experiments import pretraining
from ecgjax.data import subsample
from ecgjax.training import checkpoints, optimizers, steps, transfer
from tests.helpers import network, optimizer, tiny_pretrain_config

pytestmark = pytest.mark.slow     # trains a model or runs a command end to end


def fresh_model(config, labels=3):
  model = network(config, labels, 12)
  tx = optimizers.make_optimizer(optimizer(config), 10)
  return steps.init_state(model, tx)[1]


def test_backbone_restore_loads_saved_values_and_a_new_head(tiny_pretrained, tiny_data_dir):
  pre = checkpoints.read_pretrained(tiny_pretrained)
  assert pre.step == 8 and pre.config["labels"] == "pretrain"
  assert pre.params["head"]["kernel"].shape[1] == 39
  state = fresh_model(tiny_pretrain_config(tiny_data_dir), labels=3)
  params, stats, report = transfer.load_backbone(state.params, state.batch_stats, pre.params,
                                                 pre.batch_stats, source=pre.directory)
  saved, got = transfer.flatten(pre.params), transfer.flatten(params)
  for path in report.loaded:
    if not path.startswith("batch_stats/"):
      np.testing.assert_array_equal(got[path], saved[path])
  np.testing.assert_array_equal(transfer.flatten(stats)["backbone/final_norm/mean"],
                                transfer.flatten(pre.batch_stats)["backbone/final_norm/mean"])
  assert report.reinitialised == ["head/bias", "head/kernel"]
  assert params["head"]["kernel"].shape == (16, 3)
  assert "head/kernel" in report.unused
  assert len(report.loaded) == len(saved) - 2 + len(transfer.flatten(pre.batch_stats))


def test_other_architecture_is_refused_with_paths_and_shapes(tiny_pretrained, tiny_data_dir):
  pre = checkpoints.read_pretrained(tiny_pretrained)
  wider = tiny_pretrain_config(tiny_data_dir, **{"model.stage_widths": (8, 32)})
  state = fresh_model(wider)
  with pytest.raises(transfer.ArchitectureMismatchError) as err:
    transfer.load_backbone(state.params, state.batch_stats, pre.params, pre.batch_stats,
                           source=pre.directory)
  assert "backbone/blocks/1/conv1/kernel: model (5, 8, 32), " in str(err.value)
  assert f"{pre.directory} (5, 8, 16)" in str(err.value)


def test_init_from_nothing_or_an_empty_directory_is_refused(tmp_path):
  with pytest.raises(checkpoints.InitFromError, match="no such directory"):
    checkpoints.read_pretrained(str(tmp_path / "nowhere"))
  os.makedirs(tmp_path / "empty" / "checkpoints")
  with pytest.raises(checkpoints.InitFromError, match="no checkpoint"):
    checkpoints.read_pretrained(str(tmp_path / "empty"))


def test_missing_step_lists_the_steps_there_are(tiny_pretrained):
  with pytest.raises(checkpoints.InitFromError, match=r"no step 3; steps: \[4, 8\]"):
    checkpoints.read_pretrained(tiny_pretrained, step=3)


def test_frozen_backbone_stays_bit_identical_and_keeps_no_optimiser_state(tiny_data_dir):
  config = tiny_pretrain_config(tiny_data_dir)
  config.optimizer.warmup_steps = 0        # a non-zero first step
  model = network(config, 3, 12)
  graphdef, state = steps.init_state(model, optax.identity())
  tx = optimizers.make_optimizer(optimizer(config), 10, params=state.params,
                                 frozen=r"^backbone/", lr_multipliers={})
  opt_state = tx.init(state.params)
  grads = jax.tree.map(jnp.ones_like, state.params)
  updates, _ = tx.update(grads, opt_state, state.params)
  new = optax.apply_updates(state.params, updates)
  before, after = transfer.flatten(state.params), transfer.flatten(new)
  for path in before:
    if path.startswith("backbone/"):
      np.testing.assert_array_equal(after[path], before[path])
  assert not np.array_equal(after["head/kernel"], before["head/kernel"])   # the head learns
  # Adam moments exist for the head only.
  moments = [x for x in jax.tree.leaves(opt_state) if getattr(x, "ndim", 0) > 0]
  head_size = sum(x.size for x in jax.tree.leaves(state.params["head"]))
  assert sum(x.size for x in moments) == 2 * head_size


def test_learning_rate_multiplier_scales_a_group(tiny_data_dir):
  config = tiny_pretrain_config(tiny_data_dir)
  config.optimizer.warmup_steps = 0
  config.optimizer.weight_decay = 0.0
  state = fresh_model(config)
  tx = optimizers.make_optimizer(optimizer(config), 100, params=state.params,
                                 lr_multipliers={r"^backbone/": 0.1})
  grads = jax.tree.map(jnp.ones_like, state.params)
  updates, _ = tx.update(grads, tx.init(state.params), state.params)
  flat = transfer.flatten(updates)
  backbone = np.abs(flat["backbone/stem/kernel"]).max()
  head = np.abs(flat["head/kernel"]).max()
  assert backbone == pytest.approx(0.1 * head, rel=1e-3)


def test_subsample_by_patient_keeps_positives_and_size():
  rng = np.random.default_rng(0)
  patients = np.repeat(np.arange(400), rng.integers(1, 4, size=400))
  n = len(patients)
  labels = np.zeros((n, 2))
  labels[:, 0] = rng.uniform(size=n) < 0.3
  labels[:, 1] = rng.uniform(size=n) < 0.02          # rare
  mask = subsample.choose_training_examples(patients, labels, 100, min_positives=5, seed=1)
  assert mask.sum() == 100
  assert labels[mask, 1].sum() >= 5 and labels[mask, 0].sum() >= 5
  for p in np.unique(patients[mask]):                 # whole patients only
    assert mask[patients == p].all()
  again = subsample.choose_training_examples(patients, labels, 100, min_positives=5, seed=1)
  np.testing.assert_array_equal(mask, again)
  other = subsample.choose_training_examples(patients, labels, 100, min_positives=5, seed=2)
  assert not np.array_equal(mask, other)
  assert subsample.choose_training_examples(patients, labels, 0, 5, 1).all()


def _constant_rate(learning_rate=0.01):
  """The project's optimiser at a constant rate, with no decay toward zero or clipping."""
  return optimizers.OptimizerConfig(learning_rate=learning_rate, warmup_steps=0,
                                    end_factor=1.0, weight_decay=0.0, grad_clip_norm=0.0)


@pytest.mark.parametrize("strength", [0.0, 10.0])
def test_decay_to_start_holds_a_weight_about_one_over_strength_from_its_start(strength):
  """Decoupled L2-SP under Adam: a gradient pushing the same way at every step moves a
  weight one learning rate per step; the pull settles it near 1/strength from where it
  started. Only the weights marked (kernels by default) are pulled."""
  start = {"kernel": jnp.full((3,), 2.0), "bias": jnp.full((3,), 2.0)}
  tx = optimizers.make_optimizer(_constant_rate(), 2000, decay_to_start=strength)
  params, state = start, tx.init(start)
  push = jax.tree.map(jnp.ones_like, start)          # d(loss)/dw = 1: move down
  for _ in range(2000):
    updates, state = tx.update(push, state, params)
    params = optax.apply_updates(params, updates)
  kernel_moved = float(start["kernel"][0] - params["kernel"][0])
  bias_moved = float(start["bias"][0] - params["bias"][0])
  np.testing.assert_allclose(bias_moved, 20.0, rtol=1e-3)      # 2000 steps of 0.01
  if strength:
    np.testing.assert_allclose(kernel_moved, 1 / strength, rtol=0.05)
  else:
    np.testing.assert_allclose(kernel_moved, 20.0, rtol=1e-3)


def test_decay_to_start_pulls_only_the_marked_columns():
  start = {"kernel": jnp.zeros((4, 2)), "bias": jnp.zeros((2,))}
  tx = optimizers.make_optimizer(_constant_rate(), 500, decay_to_start=10.0,
                                 start_weights={"kernel": jnp.array([1.0, 0.0]), "bias": 0.0})
  params, state = start, tx.init(start)
  push = jax.tree.map(jnp.ones_like, start)
  for _ in range(500):
    updates, state = tx.update(push, state, params)
    params = optax.apply_updates(params, updates)
  np.testing.assert_allclose(np.asarray(params["kernel"][:, 0]), -0.1, rtol=0.05)
  np.testing.assert_allclose(np.asarray(params["kernel"][:, 1]), -5.0, rtol=1e-3)


def test_decay_to_start_follows_frozen_and_multiplied_groups():
  """With groups (multi_transform), the pull sees the whole tree: a frozen weight stays at
  its start and is never pulled; a slower group is held relatively more firmly."""
  start = {"backbone": {"kernel": jnp.zeros((2,))}, "head": {"kernel": jnp.zeros((2,))},
           "stem": {"kernel": jnp.zeros((2,))}}
  tx = optimizers.make_optimizer(_constant_rate(), 1000, params=start, frozen="^stem/",
                                 lr_multipliers={"^backbone/": 0.1}, decay_to_start=10.0)
  params, state = start, tx.init(start)
  push = jax.tree.map(jnp.ones_like, start)
  for _ in range(1000):
    updates, state = tx.update(push, state, params)
    params = optax.apply_updates(params, updates)
  np.testing.assert_array_equal(np.asarray(params["stem"]["kernel"]), 0.0)
  np.testing.assert_allclose(np.asarray(params["head"]["kernel"]), -0.1, rtol=0.05)
  np.testing.assert_allclose(np.asarray(params["backbone"]["kernel"]), -0.01, rtol=0.05)
