"""A process shares compiled programs between its runs (training.compilation_cache): in
a fresh process without a cache of the user's, the second seed's train step is found in
the process's own cache, which is gone when the process ends; a cache the user
configured is left as it is."""

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.slow     # a fresh process compiles a train step, twice

SCRIPT = r"""
import json, os, sys
import jax
import numpy as np
from ecgjax.training import compilation_cache, mesh as mesh_lib, optimizers, parallel, steps
from tests.helpers import network, optimizer, tiny_pretrain_config

directory = compilation_cache.share_within_process()
hits = []
jax.monitoring.register_event_listener(
    lambda event, **kwargs: hits.append(event) if event.endswith("cache_hits") else None)
config = tiny_pretrain_config(sys.argv[1])
# pmap maps over every local device, so its mesh holds them all.
devices = jax.devices() if sys.argv[2] == "pmap" else jax.devices()[:1]
par = parallel.make(sys.argv[2], mesh_lib.make_data_mesh(devices))
batch = {"signal": np.zeros((8, 200, 12), np.int16), "labels": np.zeros((8, 3), np.float32)}
found = []
for seed in (0, 1):              # two runs of a sweep: their own model, optimiser and step
  model = network(config, num_labels=3, in_leads=12)
  tx = optimizers.make_optimizer(optimizer(config), config.total_steps)
  graphdef, state = steps.init_state(model, tx)
  state = par.from_checkpoint(jax.device_put(state, par.state_sharding))
  before = len(hits)
  step, _ = par.compile_train_step(graphdef, tx, seed, state, par.put_batch(batch))
  step(state, par.put_batch(batch))   # pmap compiles here, at its first call
  found.append(len(hits) > before)
print(json.dumps({"directory": directory, "found": found,
                  "configured": jax.config.jax_compilation_cache_dir}))
"""


def run(env, tmp_path, parallelism="jit"):
  done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), parallelism], cwd=REPO,
                        env=env, capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  return json.loads(done.stdout.strip().splitlines()[-1])


def without_a_cache() -> dict:
  return {k: v for k, v in os.environ.items() if not k.startswith("JAX_PERSISTENT_CACHE")
          and k != "JAX_COMPILATION_CACHE_DIR"}


def test_a_process_finds_its_second_seed_s_train_step_compiled(tmp_path):
  env = without_a_cache()
  out = run(env, tmp_path)
  assert out["directory"] and out["configured"] == out["directory"]
  assert out["found"] == [False, True]      # compiled for seed 0, found for seed 1
  assert not os.path.exists(out["directory"])          # removed at exit

  users = tmp_path / "users_cache"
  out = run({**env, "JAX_COMPILATION_CACHE_DIR": str(users),
             "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}, tmp_path)
  assert out["directory"] is None and out["configured"] == str(users)
  assert out["found"] == [False, True] and os.listdir(users)    # used, and kept


def test_under_pmap_too(tmp_path):
  # pmap compiles at a step's first call; the seed's key is an argument there as well.
  out = run(without_a_cache(), tmp_path, "pmap")
  assert out["found"] == [False, True]
