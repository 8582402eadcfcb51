"""parallelism=pmap trains the same function as jit, and each resumes the other's checkpoints."""

import json
import os

import jax
import numpy as np
import pytest

from ecgjax.experiments import pretraining
from ecgjax.experiments.validation import ConfigError, validate_finetune, validate_pretrain
from ecgjax.configs import finetune as finetune_config
from ecgjax.models import resnet1d
from ecgjax.training import mesh as mesh_lib, optimizers, parallel, steps
from tests.helpers import network, optimizer, shrink, tiny_pretrain_config

pytestmark = pytest.mark.slow     # trains a model or runs a command end to end


def run_steps(name: str, batches, config):
  """Losses of each step and the final state in the checkpoint layout."""
  par = parallel.make(name, mesh_lib.make_data_mesh())
  model = network(config, num_labels=batches[0]["labels"].shape[1], in_leads=12)
  tx = optimizers.make_optimizer(optimizer(config), config.total_steps)
  graphdef, state = steps.init_state(model, tx)
  state = par.from_checkpoint(jax.device_put(state, par.state_sharding))
  first = par.put_batch(batches[0])
  train_step, _ = par.compile_train_step(graphdef, tx, config.seed, state, first)
  losses = []
  for b in batches:
    state, m = train_step(state, par.put_batch(b))
    losses.append(float(jax.device_get(par.host_metrics(m))["loss"]))
  probs = np.asarray(par.eval_step(graphdef)(state, {"signal": batches[0]["signal"]}))
  return losses, par.to_checkpoint(state), probs


def test_pmap_losses_equal_jit_over_20_steps(tmp_path):
  """8 simulated devices, 2 ECGs each, label masks that differ per device: the
  global mean loss, summed gradients and synchronised BatchNorm make pmap's 20
  losses jit's (dropout off: the two paths draw different masks by design)."""
  assert jax.device_count() == 8, "conftest should simulate 8 CPU devices"
  config = tiny_pretrain_config(str(tmp_path), total_steps=20)
  config.model.dtype = "float32"
  config.model.dropout = 0.0
  rng = np.random.default_rng(0)
  batches = [{"signal": rng.integers(-1500, 1500, size=(16, 400, 12)).astype(np.int16),
              "labels": (rng.uniform(size=(16, 5)) < 0.3).astype(np.float32),
              "label_mask": (rng.uniform(size=(16, 5)) < 0.7).astype(np.float32)}
             for _ in range(4)] * 5             # 4 batches seen 5 times: it can learn them
  jit_losses, jit_state, jit_probs = run_steps("jit", batches, config)
  pmap_losses, pmap_state, pmap_probs = run_steps("pmap", batches, config)
  assert np.mean(jit_losses[-4:]) < np.mean(jit_losses[:4])      # it learns
  np.testing.assert_allclose(pmap_losses, jit_losses, rtol=1e-4)
  # BatchNorm running statistics: the global batch's, not one device's.
  for a, b in zip(jax.tree.leaves(jit_state.batch_stats),
                  jax.tree.leaves(pmap_state.batch_stats), strict=True):
    np.testing.assert_allclose(a, b, rtol=2e-2, atol=2e-3)
  np.testing.assert_allclose(pmap_probs, jit_probs, atol=5e-3)
  leaf = jax.tree.leaves(pmap_state.params)[0]
  assert leaf.sharding.is_fully_replicated and len(leaf.sharding.device_set) == 8


def test_pmap_without_synchronised_batch_norm_differs(tmp_path, monkeypatch):
  """The equality above is earned: with BatchNorm left per device (2 ECGs each)
  pmap trains a different function, and the losses leave that test's tolerance."""
  config = tiny_pretrain_config(str(tmp_path))
  config.model.dtype = "float32"
  config.model.dropout = 0.0
  rng = np.random.default_rng(1)
  batches = [{"signal": rng.integers(-1500, 1500, size=(16, 400, 12)).astype(np.int16),
              "labels": (rng.uniform(size=(16, 5)) < 0.3).astype(np.float32)}] * 3
  jit_losses = run_steps("jit", batches, config)[0]
  monkeypatch.setattr(resnet1d, "sync_batch_norm", lambda model, axis_name: None)
  unsynchronised = run_steps("pmap", batches, config)[0]
  assert not np.allclose(unsynchronised, jit_losses, rtol=1e-4)


def read_metrics(workdir):
  return [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]


def train_losses(workdir):
  return {m["step"]: m["loss"] for m in read_metrics(workdir) if "split" not in m}


def test_jit_and_pmap_resume_each_other(tiny_data_dir, tmp_path):
  """4 steps under one path, then resumed to 8 under the other: every loss and the
  final evaluation match the same run made with jit throughout."""
  def config(parallelism, steps_):
    c = tiny_pretrain_config(tiny_data_dir, total_steps=steps_, log_every=1, eval_every=4,
                             checkpoint_every=4, parallelism=parallelism)
    c.model.dtype = "float32"
    c.model.dropout = 0.0
    c.dataset.test_split = ""       # the validation AUROCs compare the models; no results.json
    return c

  results = {}
  for first, second in (("jit", "jit"), ("jit", "pmap"), ("pmap", "jit")):
    workdir = str(tmp_path / f"{first}_then_{second}")
    pretraining.train_and_evaluate(config(first, 4), workdir)
    pretraining.train_and_evaluate(config(second, 8), workdir)
    losses = train_losses(workdir)
    assert sorted(losses) == list(range(1, 9))
    final = [m for m in read_metrics(workdir) if m.get("split") == "validation"][-1]
    results[first, second] = [losses[s] for s in range(1, 9)], final["auroc"]
  expected_losses, expected_auroc = results["jit", "jit"]
  for key in (("jit", "pmap"), ("pmap", "jit")):
    losses, auroc = results[key]
    np.testing.assert_allclose(losses, expected_losses, rtol=2e-4, err_msg=str(key))
    for label, value in expected_auroc.items():
      assert auroc[label] == pytest.approx(value, abs=0.02), (key, label)


def test_parallelism_is_validated(tmp_path):
  config = tiny_pretrain_config(str(tmp_path), parallelism="pmpa")
  with pytest.raises(ConfigError, match=r"config.parallelism='pmpa': expected one of"):
    validate_pretrain(config)
  ft = shrink(finetune_config.get_config(), str(tmp_path))
  ft.init_from, ft.parallelism = str(tmp_path), "pmap"
  validate_finetune(ft)               # fine-tuning runs the same loop: pmap too
  ft.parallelism = "pmpa"
  with pytest.raises(ConfigError, match=r"config.parallelism='pmpa': expected one of"):
    validate_finetune(ft)


def test_step_flops_count_the_whole_step_per_device(tmp_path):
  """The MFU numerator: jit's FLOPs come from the lowered program (XLA:GPU's compiled
  analysis leaves out cuDNN convolutions), divided over the mesh. Per device they
  agree with pmap's mapped program, one device does the work of all eight, and on
  one device they agree with XLA:CPU's compiled analysis."""
  config = tiny_pretrain_config(str(tmp_path), total_steps=1)
  rng = np.random.default_rng(0)
  batch = {"signal": rng.integers(-500, 500, (16, 1000, 12)).astype(np.int16),
           "labels": (rng.uniform(size=(16, 5)) < 0.3).astype(np.uint8)}

  def flops(name, devices):
    par = parallel.make(name, mesh_lib.make_data_mesh(devices))
    model = network(config, num_labels=5, in_leads=12)
    tx = optimizers.make_optimizer(optimizer(config), config.total_steps)
    graphdef, state = steps.init_state(model, tx)
    state = par.from_checkpoint(jax.device_put(state, par.state_sharding))
    compiled, per_device = par.compile_train_step(graphdef, tx, 0, state, par.put_batch(batch))
    return compiled, per_device

  _, jit8 = flops("jit", jax.devices())
  _, pmap8 = flops("pmap", jax.devices())
  compiled1, jit1 = flops("jit", jax.devices()[:1])
  assert jit8 == pytest.approx(pmap8, rel=0.03)
  assert jit1 == pytest.approx(8 * jit8, rel=1e-6)
  # Within 10%: fusion changes how XLA counts elementwise work, a large share of this
  # tiny network's step (0.4% apart for ribeiro2020); missing convolutions would be ~70x.
  assert jit1 == pytest.approx(compiled1.cost_analysis()["flops"], rel=0.10)


def test_fine_tuning_under_pmap_trains_as_under_jit(tiny_pretrained, tiny_data_dir, tmp_path):
  """Fine-tuning runs the pretraining loop, so it has the pmap path too: a full fine-tune
  (frozen BatchNorm, LP-FT head) takes the same losses and keeps the same model."""
  from ecgjax.experiments import fine_tuning
  from ecgjax.training import checkpoints
  from tests.helpers import tiny_finetune_config
  runs = {}
  for name in ("jit", "pmap"):
    c = tiny_finetune_config(tiny_data_dir, tiny_pretrained, mode="full", parallelism=name,
                             log_every=1, model_from_checkpoint=False)
    c.model.dtype, c.model.dropout = "float32", 0.0    # pmap draws other dropout masks
    workdir = str(tmp_path / name)
    results = fine_tuning.train_and_evaluate(c, workdir)
    kept = checkpoints.read_pretrained(workdir)
    runs[name] = train_losses(workdir), results, kept
  (jit_losses, jit_results, jit_kept), (pmap_losses, pmap_results, pmap_kept) = runs.values()
  assert sorted(jit_losses) == sorted(pmap_losses) == list(range(1, 7))
  np.testing.assert_allclose([pmap_losses[s] for s in range(1, 7)],
                             [jit_losses[s] for s in range(1, 7)], rtol=2e-4)
  assert pmap_results["best_step"] == jit_results["best_step"] == pmap_kept.step
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5),
               pmap_kept.params, jit_kept.params)
