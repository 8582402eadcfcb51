"""A diverging run never poisons a checkpoint and says what happened (training.nonfinite)."""

import json
import os

import jax
import numpy as np
import pytest

from ecgjax.experiments import fine_tuning
from ecgjax.data import run_input
from ecgjax.experiments import pretraining, validation
from ecgjax.training import checkpoints, eval_outputs, nonfinite
from tests.helpers import network, optimizer, tiny_pretrain_config

pytestmark = pytest.mark.slow     # trains a model or runs a command end to end


def read_metrics(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def saved_states_are_finite(workdir) -> dict[int, bool]:
  """{step: every parameter and statistic finite} over the workdir's checkpoints."""
  directory = os.path.join(workdir, "checkpoints")
  out = {}
  for step in checkpoints.Checkpointer(directory, max_to_keep=9, save_every=1).all_steps():
    pretrained = checkpoints.read_pretrained(workdir, step)
    out[step] = bool(nonfinite.all_finite((pretrained.params, pretrained.batch_stats)))
  return out


@pytest.fixture
def poison_steps(monkeypatch):
  """Makes the training batches of the given global steps carry NaN labels, so their
  loss and gradients are NaN: a deterministic stand-in for a diverging step."""
  poisoned: set[int] = set()
  make_input = run_input.make_input

  def poisoned_input(config, spec):
    source = make_input(config, spec)
    train_batches = source.train_batches

    def batches(start_step):
      for step, batch in enumerate(train_batches(start_step), start=start_step + 1):
        if step in poisoned:
          batch = {**batch, "labels": np.full_like(batch["labels"], np.nan)}
        yield batch

    source.train_batches = batches
    return source

  monkeypatch.setattr(run_input, "make_input", poisoned_input)
  return poisoned


def test_a_diverging_learning_rate_stops_before_a_nan_checkpoint(tiny_data_dir, tmp_path):
  """The issue's reproduction: learning rate 1e8 with clipping off."""
  workdir = str(tmp_path / "wd")
  config = tiny_pretrain_config(tiny_data_dir, total_steps=40, checkpoint_every=2,
                                **{"optimizer.learning_rate": 1e8,
                                   "optimizer.grad_clip_norm": 1e30,
                                   "model.dtype": "float32"})
  with pytest.raises(nonfinite.NonFiniteError) as raised:
    pretraining.train_and_evaluate(config, workdir)
  message = str(raised.value)
  assert "not finite" in message or "NaN" in message, message
  assert "learning_rate" in message                     # what to try
  finite = saved_states_are_finite(workdir)
  assert finite and all(finite.values()), finite
  assert f"the last finite checkpoint is step {max(finite)}" in message


def orbax_threads() -> set[str]:
  """The threads an open Orbax CheckpointManager keeps (it ends them on close)."""
  import threading
  return {t.name for t in threading.enumerate()
          if t.name.startswith(("metadata_store", "asyncio"))}


def orbax_threads_settled(before: set[str], within_s: float = 10.0) -> set[str]:
  """orbax_threads() once no more are running than `before`, or after `within_s`: a
  closed manager's last asyncio worker may still be exiting when close() returns on a
  loaded machine; an open manager's threads never end."""
  import time
  deadline = time.monotonic() + within_s
  while (now := orbax_threads()) - before and time.monotonic() < deadline:
    time.sleep(0.1)
  return now


def test_stop_names_the_step_and_keeps_the_last_finite_checkpoint(tiny_data_dir, tmp_path,
                                                                  poison_steps):
  poison_steps.add(5)
  workdir = str(tmp_path / "wd")
  before = orbax_threads()
  with pytest.raises(nonfinite.NonFiniteError, match=r"step 5: the loss \(nan\)") as raised:
    pretraining.train_and_evaluate(tiny_pretrain_config(tiny_data_dir), workdir)
  assert "the last finite checkpoint is step 4" in str(raised.value)
  assert orbax_threads_settled(before) == before   # the run's checkpoint manager was closed
  assert saved_states_are_finite(workdir) == {4: True}
  # The window that diverged is in metrics.jsonl before the run stops.
  assert read_metrics(workdir)[-1]["step"] == 6
  # Under `stop` the update of step 5 is applied, so step 6 is non-finite too.
  assert read_metrics(workdir)[-1]["nonfinite_steps"] == 2


def test_skip_step_leaves_the_state_as_it_was_and_counts_skips(tiny_data_dir, tmp_path,
                                                               poison_steps):
  poison_steps.update({3, 6})
  workdir = str(tmp_path / "wd")
  result = pretraining.train_and_evaluate(
      tiny_pretrain_config(tiny_data_dir, nonfinite="skip_step"), workdir)
  assert len(result["labels"]) == 39
  metrics = [m for m in read_metrics(workdir) if "loss" in m]
  assert [m["nonfinite_steps"] for m in metrics] == [0, 1, 1, 0]   # windows of 2 steps
  assert all(np.isfinite(m["loss"]) for m in metrics)
  assert saved_states_are_finite(workdir) == {4: True, 8: True}


def test_skip_step_update_is_the_identity_on_device(tiny_data_dir, tmp_path):
  """A skipped step returns parameters, statistics and optimiser state bit for bit."""
  from ecgjax.training import mesh as mesh_lib, model_init, optimizers, steps
  config = tiny_pretrain_config(tiny_data_dir)
  source = run_input.make_input(config, validation.run_spec_of(config))
  model = network(config, len(source.label_names), source.signal_shape[-1])
  tx = optimizers.make_optimizer(optimizer(config), config.total_steps)
  graphdef, state = steps.init_state(model, tx)
  mesh = mesh_lib.make_data_mesh()
  state = jax.device_put(state, mesh_lib.replicated(mesh))
  train_step = steps.make_train_step(graphdef, tx, 0, mesh_lib.replicated(mesh),
                                     mesh_lib.batch_sharded(mesh), skip_nonfinite=True)
  batch = next(source.train_batches(0))
  before = jax.device_get((state.params, state.batch_stats, state.opt_state))
  poisoned = {**batch, "labels": np.full_like(batch["labels"], np.nan)}
  state, metrics = train_step(state, mesh_lib.global_batch(poisoned,
                                                           mesh_lib.batch_sharded(mesh)))
  assert not bool(metrics["finite"])
  assert int(state.step) == 1
  after = jax.device_get((state.params, state.batch_stats, state.opt_state))
  jax.tree.map(np.testing.assert_array_equal, before, after)


def test_skip_step_stops_after_too_many_in_a_row(tiny_data_dir, tmp_path, poison_steps):
  poison_steps.update({5, 6, 7})
  with pytest.raises(nonfinite.NonFiniteError, match=r"3 non-finite steps in a row \(up to "
                                                     r"step 7, max_consecutive_skips=3\)"):
    pretraining.train_and_evaluate(
        tiny_pretrain_config(tiny_data_dir, nonfinite="skip_step", max_consecutive_skips=3),
        str(tmp_path / "wd"))


def test_guard_counts_skips_across_windows():
  guard = nonfinite.Guard("skip_step", max_consecutive_skips=3)
  where = lambda: "the last finite checkpoint is step 4"
  assert guard.check_window(1, [True, False], [0.1, np.nan], where) == 1
  assert guard.check_window(3, [False, True], [np.nan, 0.2], where) == 1   # 2 in a row, reset
  assert guard.check_window(5, [False, False], [np.nan, np.nan], where) == 2
  with pytest.raises(nonfinite.NonFiniteError, match=r"up to step 7.*step 4"):
    guard.check_window(7, [False, True], [np.nan, 0.1], where)
  assert nonfinite.finite_mean([1.0, np.nan, 3.0], [True, False, True]) == 2.0
  assert np.isnan(nonfinite.finite_mean([np.nan], [False]))


def test_the_save_check_finds_one_non_finite_value_in_any_floating_array():
  """What every save is checked with (keeping.save_finite): one NaN or infinity in any
  floating array, whatever its dtype or place in the tree, is found; integers (the step
  count) are not checked."""
  import jax.numpy as jnp
  state = {"params": {"kernel": jnp.ones((3, 4)), "bias": jnp.zeros(4, jnp.bfloat16)},
           "batch_stats": [jnp.ones(4)], "step": jnp.array(7, jnp.int32), "lr": 0.5}
  assert bool(nonfinite.all_finite(state))
  assert bool(nonfinite.all_finite({"step": jnp.array(1)}))        # nothing to check
  for path, bad in (("kernel", np.nan), ("bias", np.inf), ("stats", -np.inf)):
    poisoned = jax.tree.map(lambda x: x, state)
    if path == "stats":
      poisoned["batch_stats"] = [state["batch_stats"][0].at[2].set(bad)]
    else:
      poisoned["params"][path] = state["params"][path].at[(0,) * state["params"][path].ndim
                                                           ].set(bad)
    assert not bool(nonfinite.all_finite(poisoned)), path
  assert not bool(nonfinite.all_finite({"lr": float("nan")}))


def test_non_finite_predictions_are_a_clear_error_not_a_library_traceback():
  class Source:
    def eval_batches(self, split, training_set=False):
      yield {"signal": np.zeros((2, 10, 12), np.int16), "labels": np.zeros((2, 3), np.float32),
             "label_mask": np.ones((2, 3), np.float32), "patient": np.array([1, 2]),
             "recording": np.array([1, 2]), "mask": np.array([True, True])}

  with pytest.raises(nonfinite.NonFiniteError, match=r"validation split: 3 of 6 predictions"):
    eval_outputs.collect_predictions(
        Source(), "validation", lambda batch: np.array([[0.1, np.nan, 0.2], [np.inf, np.nan, 0]]))


def test_finetune_stops_on_a_diverging_run(tiny_pretrained, tiny_data_dir, tmp_path):
  from tests.helpers import tiny_finetune_config
  config = tiny_finetune_config(tiny_data_dir, tiny_pretrained, mode="scratch")
  config.model.dtype = "float32"
  config.optimizer.learning_rate = 1e8
  config.optimizer.grad_clip_norm = 1e30
  with pytest.raises(nonfinite.NonFiniteError, match=r"step \d: the loss"):
    fine_tuning.train_and_evaluate(config, str(tmp_path / "ft"))
