"""Orbax checkpoints: the only module in ecgjax that imports orbax.

A checkpoint holds two items: `state` (the TrainState) and `config` (the
resolved config as JSON, so a later reader can rebuild the model that wrote
it). Saves are asynchronous; the manager keeps the last `max_to_keep`.
"""

import jax
import orbax.checkpoint as ocp
from etils import epath


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
