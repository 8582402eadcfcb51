"""Orbax checkpoints: the only module in ecgjax that imports orbax.

A checkpoint holds two items: `state` (the TrainState) and `config` (the
resolved config as JSON, so a later reader can rebuild the model that wrote
it). Saves are asynchronous; the manager keeps the last `max_to_keep`.
"""

import dataclasses

import jax
import orbax.checkpoint as ocp
from etils import epath

from ecgjax.training import mesh as mesh_lib


class Checkpointer:

  def __init__(self, directory, *, max_to_keep: int, save_every: int):
    self.directory = epath.Path(directory)
    self.save_every = save_every
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, enable_async_checkpointing=True, create=True),
        item_names=("state", "config"))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self._manager.all_steps())

  def save(self, step: int, state, config: dict, *, force: bool = False) -> bool:
    """Starts an asynchronous save on multiples of `save_every` (or when forced).

    The decision is ours, not Orbax's interval policy, which would also save the
    first step of every run.
    """
    if not (force or step % self.save_every == 0) or step in self._manager.all_steps():
      return False
    return self._manager.save(
        step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                      config=ocp.args.JsonSave(config)),
        force=True)

  def restore_state(self, step: int, like):
    """Restores `state` at `step` into the structure, dtypes and shardings of `like`."""
    target = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), like)
    restored = self._manager.restore(
        step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target)))
    return restored.state

  def restore_config(self, step: int) -> dict:
    return self._manager.restore(
        step, args=ocp.args.Composite(config=ocp.args.JsonRestore())).config

  def reached_preemption(self, step: int) -> bool:
    """True when the scheduler announced a preemption (TPU VMs, SIGTERM on clusters)."""
    return self._manager.reached_preemption(step)

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()


class InitFromError(ValueError):
  """A pretraining checkpoint that is missing, empty or of another architecture."""


@dataclasses.dataclass
class Pretrained:
  directory: str
  step: int
  config: dict                  # the resolved config the pretraining run saved
  params: dict
  batch_stats: dict


def read_pretrained(workdir_or_checkpoints: str, step: int | None = None) -> Pretrained:
  """Parameters and BatchNorm statistics of a pretraining run (its optimiser state
  is left on disk), from its latest or a named step.

  Accepts the pretraining workdir or its `checkpoints/` directory.
  """
  path = epath.Path(workdir_or_checkpoints)
  if (path / "checkpoints").is_dir():
    path = path / "checkpoints"
  if not path.is_dir():
    raise InitFromError(f"init_from={workdir_or_checkpoints}: no such directory")
  manager = ocp.CheckpointManager(
      path, options=ocp.CheckpointManagerOptions(read_only=True),
      item_handlers={"state": ocp.PyTreeCheckpointHandler(),
                     "config": ocp.JsonCheckpointHandler()})
  steps = sorted(manager.all_steps())
  if not steps:
    raise InitFromError(f"init_from={workdir_or_checkpoints}: no checkpoint in {path}")
  step = steps[-1] if step is None else step
  if step not in steps:
    raise InitFromError(f"init_from={workdir_or_checkpoints}: no step {step}; steps: {steps}")
  tree = manager.item_metadata(step)["state"].tree
  # Restore replicated over this run's devices, whatever topology saved it.
  replicated = mesh_lib.replicated(mesh_lib.make_data_mesh())
  target = {k: jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype,
                                                           sharding=replicated), tree[k])
            for k in ("params", "batch_stats")}
  restored = manager.restore(step, args=ocp.args.Composite(
      state=ocp.args.PyTreeRestore(
          item=target, partial_restore=True,
          restore_args=ocp.checkpoint_utils.construct_restore_args(target)),
      config=ocp.args.JsonRestore()))
  manager.close()
  return Pretrained(str(path), step, restored.config, dict(restored.state["params"]),
                    dict(restored.state["batch_stats"]))
