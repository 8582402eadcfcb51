"""One program for one device or eight: the loss must not depend on the mesh."""

import jax
import numpy as np
import optax
import pytest

from ecgjax.models import head
from ecgjax.training import mesh as mesh_lib, optimizers, steps
from tests.helpers import network, optimizer, tiny_pretrain_config


def run_steps(devices, batches, config):
  mesh = mesh_lib.make_data_mesh(devices)
  state_sharding, batch_sharding = mesh_lib.replicated(mesh), mesh_lib.batch_sharded(mesh)
  model = network(config, num_labels=batches[0]["labels"].shape[1], in_leads=12)
  tx = optimizers.make_optimizer(optimizer(config), config.total_steps)
  graphdef, state = steps.init_state(model, tx)
  state = jax.device_put(state, state_sharding)
  train_step = steps.make_train_step(graphdef, tx, config.seed, state_sharding, batch_sharding)
  losses = []
  for b in batches:
    state, m = train_step(state, mesh_lib.global_batch(b, batch_sharding))
    losses.append(float(m["loss"]))
  return losses, jax.device_get(state.params)


@pytest.mark.slow
def test_eight_devices_match_one_device(tmp_path):
  assert jax.device_count() == 8, "conftest should simulate 8 CPU devices"
  config = tiny_pretrain_config(str(tmp_path))
  config.model.dtype = "float32"
  config.model.dropout = 0.0
  rng = np.random.default_rng(0)
  batches = [{"signal": rng.integers(-1500, 1500, size=(16, 400, 12)).astype(np.int16),
              "labels": (rng.uniform(size=(16, 5)) < 0.3).astype(np.float32)}
             for _ in range(6)]
  one_losses, one_params = run_steps(jax.devices()[:1], batches, config)
  eight_losses, eight_params = run_steps(jax.devices(), batches, config)
  assert one_losses[-1] < one_losses[0]                 # it learns
  np.testing.assert_allclose(eight_losses, one_losses, rtol=2e-5)
  for a, b in zip(jax.tree.leaves(one_params), jax.tree.leaves(eight_params), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


@pytest.mark.slow
def test_train_step_donates_state_and_keeps_it_replicated(tmp_path):
  config = tiny_pretrain_config(str(tmp_path))
  mesh = mesh_lib.make_data_mesh()
  state_sharding, batch_sharding = mesh_lib.replicated(mesh), mesh_lib.batch_sharded(mesh)
  model = network(config, num_labels=3, in_leads=12)
  tx = optimizers.make_optimizer(optimizer(config), config.total_steps)
  graphdef, state = steps.init_state(model, tx)
  state = jax.device_put(state, state_sharding)
  batch = mesh_lib.global_batch({"signal": np.zeros((16, 200, 12), np.int16),
                                 "labels": np.zeros((16, 3), np.float32)}, batch_sharding)
  assert batch["signal"].sharding.spec == jax.sharding.PartitionSpec("data")
  step = steps.make_train_step(graphdef, tx, 0, state_sharding, batch_sharding)
  new_state, _ = step(state, batch)
  assert int(new_state.step) == 1
  leaf = jax.tree.leaves(new_state.params)[0]
  assert leaf.sharding.is_fully_replicated and len(leaf.sharding.device_set) == 8
  with pytest.raises(RuntimeError, match="deleted|donated"):
    np.asarray(jax.tree.leaves(state.params)[0])      # the old state was donated


@pytest.mark.slow
def test_the_step_a_run_compiles_trains_as_its_seed_s_step(tmp_path):
  """The jit path compiles the step with the seed's key as an argument (one program for
  every seed, parallel.JitParallel); its dropout, losses and weights must be those of
  the step with the seed's key built in, to the bit, and another seed must differ."""
  from ecgjax.training import parallel
  config = tiny_pretrain_config(str(tmp_path))
  config.model.dtype = "float32"
  config.model.dropout = 0.3
  par = parallel.make("jit", mesh_lib.make_data_mesh(jax.devices()[:1]))
  rng = np.random.default_rng(0)
  batches = [{"signal": rng.integers(-1500, 1500, size=(8, 200, 12)).astype(np.int16),
              "labels": (rng.uniform(size=(8, 3)) < 0.3).astype(np.float32)}
             for _ in range(3)]

  def trained(seed, built_in):
    model = network(config, num_labels=3, in_leads=12)
    tx = optimizers.make_optimizer(optimizer(config), config.total_steps)
    graphdef, state = steps.init_state(model, tx)
    state = jax.device_put(state, par.state_sharding)
    first = par.put_batch(batches[0])
    step = (steps.make_train_step(graphdef, tx, seed, par.state_sharding, par.batch_sharding)
            if built_in else par.compile_train_step(graphdef, tx, seed, state, first)[0])
    losses = []
    for b in batches:
      state, m = step(state, par.put_batch(b))
      losses.append(np.asarray(m["loss"]))
    return losses, jax.device_get(state.params)

  keyed, built_in, other_seed = trained(3, False), trained(3, True), trained(4, False)
  np.testing.assert_array_equal(keyed[0], built_in[0])
  for a, b in zip(jax.tree.leaves(keyed[1]), jax.tree.leaves(built_in[1]), strict=True):
    np.testing.assert_array_equal(a, b)
  assert keyed[0][0] != other_seed[0][0]          # the key reaches dropout


def test_loss_is_binary_cross_entropy():
  logits = np.array([[2.0, -1.0], [0.0, 3.0]], np.float32)
  labels = np.array([[1.0, 0.0], [1.0, 1.0]], np.float32)
  expected = optax.sigmoid_binary_cross_entropy(logits, labels).mean()
  manual = np.mean(np.log1p(np.exp(-logits)) * labels + np.log1p(np.exp(logits)) * (1 - labels))
  assert float(head.loss(logits, labels)) == pytest.approx(float(expected))
  assert float(expected) == pytest.approx(manual, rel=1e-6)
