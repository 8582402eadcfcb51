"""The two ways a training run spreads a step over devices: `jit` and `pmap`.

`jit` (the default): one program over a mesh of every device of every
process; the train state is a replicated global array, the batch is split along
the `data` axis, and XLA inserts the collectives.

`pmap`: the step is mapped over this process's local devices, each holding a copy
of the state (a leading axis of local-device length) and its own per-device batch;
the collectives over the `data` axis are written in the step (steps.train_step_fn:
gradients summed, BatchNorm statistics averaged). jax.pmap has been in maintenance
mode since JAX 0.8; the path exists for code and habits written around it, and to
compare.

Both share the model, the loss, the optimiser, the input and the checkpoints: a
checkpoint always holds the jit layout (`to_checkpoint`/`from_checkpoint` convert),
so a pmap run resumes a jit checkpoint and the other way round.
"""

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from ecgjax.training import mesh as mesh_lib, steps

PARALLELISMS = ("jit", "pmap")


class _KeyedStep:
  """A step compiled (jit) or mapped (pmap) with the run's key as an argument, called as
  (state, batch) like any train step; the executable's analyses (cost_analysis,
  memory_analysis) pass through."""

  def __init__(self, compiled, key):
    self.compiled, self.key = compiled, key

  def __call__(self, state, batch):
    return self.compiled(state, batch, self.key)

  def __getattr__(self, name):
    return getattr(self.compiled, name)


class JitParallel:
  """Sharded jit over the global `data` mesh."""

  name = "jit"

  def __init__(self, mesh: jax.sharding.Mesh):
    self.mesh = mesh
    self.state_sharding = mesh_lib.replicated(mesh)
    self.batch_sharding = mesh_lib.batch_sharded(mesh)

  def from_checkpoint(self, state):
    """A state in the checkpoint layout (replicated global arrays) -> this path's."""
    return state

  def to_checkpoint(self, state):
    return state

  def put_batch(self, local_batch: dict) -> dict:
    return mesh_lib.global_batch(local_batch, self.batch_sharding)

  def compile_train_step(self, graphdef, tx, seed: int, state, batch,
                         freeze_batch_norm: bool = False, skip_nonfinite: bool = False,
                         ssl=None):
    """(the step compiled ahead of time for these arguments, its FLOPs per device).
    `ssl`: a self-supervised objective's step (steps.train_step_fn).

    The FLOPs come from the lowered program, before optimisation, over the mesh's
    devices: the compiled program's analysis does not count convolutions that XLA:GPU
    hands to cuDNN as custom calls (on an H100 it reported 48.7 GFLOP for a
    ribeiro2020 step of 256 ECGs that lowers to 3,404 GFLOP; on CPU the two agree
    within 0.5%)."""
    # The seed's key is an argument, so the seeds of a sweep share one program: each
    # later run's compile is a hit in the compilation cache (training.compilation_cache).
    step = steps.make_keyed_train_step(graphdef, tx, self.state_sharding,
                                       self.batch_sharding,
                                       freeze_batch_norm=freeze_batch_norm,
                                       skip_nonfinite=skip_nonfinite, ssl=ssl)
    key = self._replicated_key(seed)
    lowered = step.lower(state, batch, key)
    return _KeyedStep(lowered.compile(), key), self._flops_per_device(lowered)

  def train_step_flops(self, graphdef, tx, state, batch) -> float | None:
    """The FLOPs per device of compile_train_step, from lowering alone (no compile):
    benchmarks/step_flops.py counts a step for another host's measurement this way."""
    step = steps.make_keyed_train_step(graphdef, tx, self.state_sharding, self.batch_sharding)
    return self._flops_per_device(step.lower(state, batch, self._replicated_key(0)))

  def _replicated_key(self, seed: int):
    """The seed's key on every device of the mesh. Made by a program, as the state is:
    device_put cannot place a host value on other processes' devices."""
    return jax.jit(lambda: jax.random.key(seed), out_shardings=self.state_sharding)()

  def _flops_per_device(self, lowered) -> float | None:
    flops = _flops(lowered)
    return flops / self.mesh.devices.size if flops else None

  def eval_step(self, graphdef, fn=steps.eval_step_fn):
    """(state, local batch) -> `fn`'s outputs (log-odds, or steps.embed_step_fn's
    features), a global array (eval_outputs.to_host gathers)."""
    step = steps.make_eval_step(graphdef, self.state_sharding, self.batch_sharding, fn)
    return lambda state, local: step(state, self.put_batch(local))

  def host_metrics(self, metrics: dict) -> dict:
    return metrics


class PmapParallel:
  """jax.pmap over this process's devices; collectives span every process's."""

  name = "pmap"

  def __init__(self, mesh: jax.sharding.Mesh):
    self.mesh = mesh
    self.state_sharding = mesh_lib.replicated(mesh)   # the checkpoint layout
    self.devices = jax.local_devices()
    # What pmap takes and gives: a leading axis split over this process's devices.
    self.stacked = NamedSharding(jax.sharding.Mesh(np.array(self.devices), ("device",)),
                                 PartitionSpec("device"))

  def from_checkpoint(self, state):
    """Replicated global arrays -> one copy per local device, stacked on a leading
    axis, built from the copies already on those devices (no host round trip)."""
    n = len(self.devices)

    def stack(x):
      by_device = {s.device: s.data for s in x.addressable_shards}
      return jax.make_array_from_single_device_arrays(
          (n, *x.shape), self.stacked, [by_device[d][None] for d in self.devices])

    return jax.tree.map(stack, state)

  def to_checkpoint(self, state):
    """Per-device copies -> replicated global arrays over the mesh (what jit holds
    and Orbax saves). The copies are equal: every update is computed from summed
    gradients and averaged statistics."""

    def unstack(x):
      return jax.make_array_from_single_device_arrays(
          x.shape[1:], self.state_sharding,
          [s.data.reshape(x.shape[1:]) for s in x.addressable_shards])

    return jax.tree.map(unstack, state)

  def put_batch(self, local_batch: dict) -> dict:
    """(local batch, ...) -> (local devices, per-device batch, ...), each device's
    part on its device (started now, as jit's batches are)."""
    n = len(self.devices)
    return jax.device_put(
        jax.tree.map(lambda x: x.reshape(n, x.shape[0] // n, *x.shape[1:]), local_batch),
        self.stacked)

  def compile_train_step(self, graphdef, tx, seed: int, state, batch,
                         freeze_batch_norm: bool = False, skip_nonfinite: bool = False,
                         ssl=None):
    """(the mapped step, its FLOPs per device). The step compiles on its first call:
    a multi-process pmap compiled ahead of time expects global arguments, not each
    process's. The FLOPs are XLA's estimate from the lowered program, before
    optimisation."""
    step = steps.keyed_train_step_fn(graphdef, tx, freeze_batch_norm=freeze_batch_norm,
                                     skip_nonfinite=skip_nonfinite,
                                     axis_name=mesh_lib.DATA_AXIS, ssl=ssl)
    # No `devices=`: with it the collectives would span this process's devices only,
    # and the processes of a multi-host run would train apart. The seed's key is an
    # argument, given whole to every device (in_axes None), as jit's is: the seeds of a
    # sweep share one program, found in the compilation cache at each later run's first
    # call (training.compilation_cache).
    mapped = jax.pmap(step, axis_name=mesh_lib.DATA_AXIS, in_axes=(0, 0, None),
                      donate_argnums=0)
    key = jax.random.key(seed)
    return _KeyedStep(mapped, key), _flops(mapped.lower(state, batch, key))

  def eval_step(self, graphdef, fn=steps.eval_step_fn):
    """(state, local batch) -> this process's outputs of `fn` as numpy, in batch order."""
    step = jax.pmap(fn(graphdef))

    def run(state, local):
      probs = np.asarray(step(state, self.put_batch(local)))
      return probs.reshape(-1, probs.shape[-1])

    return run

  def host_metrics(self, metrics: dict) -> dict:
    """Metrics come back once per device, equal after the psum: this process's first
    copy (dispatched, not waited for)."""
    return jax.tree.map(lambda x: x.addressable_shards[0].data.reshape(()), metrics)


def _flops(stage) -> float | None:
  """FLOPs of a lowered program from XLA's cost analysis, where the backend has it (the
  whole SPMD program for jit, one device's for pmap)."""
  try:
    cost = stage.cost_analysis()
  except Exception:  # not every backend implements it
    return None
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else None
  return float(cost["flops"]) if cost and cost.get("flops") else None


def make(name: str, mesh: jax.sharding.Mesh) -> JitParallel | PmapParallel:
  if name not in PARALLELISMS:
    raise ValueError(f"parallelism must be one of {PARALLELISMS}, got {name!r}")
  return JitParallel(mesh) if name == "jit" else PmapParallel(mesh)
