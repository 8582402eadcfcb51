"""Orbax checkpoints: the only module in ecgjax that imports orbax.

A checkpoint holds three items: `state` (the TrainState), `config` (the
resolved config as JSON, so a later reader can rebuild the model that wrote
it) and `model_card` (ecgjax.models.model_card: labels in head order,
thresholds, calibration, the input contract), saved together so a checkpoint
never carries another step's card. Checkpoints written before cards existed
have no `model_card` item. A fine-tune's resume checkpoint adds `kept` (the
weights of the model it keeps so far) and `kept_card` (that model's step and
score): one checkpoint, committed as one unit, so a kill never leaves a train
state beside another moment's kept model. Saves are asynchronous; the manager
keeps the last `max_to_keep`. A Checkpointer is a context manager: its manager
is closed on every path out.
"""

import dataclasses
import json
import os

import jax
import orbax.checkpoint as ocp
from etils import epath

from ecgjax import storage
from ecgjax.models import shipped
from ecgjax.training import mesh as mesh_lib

ITEMS = ("state", "config", "model_card", "kept", "kept_card")
CARD_ITEM = "model_card"
KEPT_ITEM, KEPT_CARD_ITEM = "kept", "kept_card"
LEGACY_CARD_FILE = "model_card.json"   # a card written after the checkpoint (evaluate)


def checkpoint_dir(workdir: str) -> str:
  """WORKDIR/checkpoints, absolute (Orbax asks for it); a bucket path (gs://...) as is."""
  root = workdir if "://" in workdir else os.path.abspath(workdir)
  return os.path.join(root, "checkpoints")


class Checkpointer:

  def __init__(self, directory, *, max_to_keep: int, save_every: int):
    self.directory = epath.Path(directory)
    self.save_every = save_every
    self._closed = False
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, enable_async_checkpointing=True, create=True,
            # A save cut off by a kill leaves `STEP.orbax-checkpoint-tmp*`: removed here.
            cleanup_tmp_directories=True),
        item_names=ITEMS)

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self._manager.all_steps())

  def would_save(self, step: int, force: bool = False) -> bool:
    """Whether `save` at this step writes a checkpoint: on multiples of `save_every`
    (or when forced), once per step. The decision is ours, not Orbax's interval
    policy, which would also save the first step of every run."""
    return (force or step % self.save_every == 0) and step not in self._manager.all_steps()

  def save(self, step: int, state, config: dict, card: dict, *, force: bool = False,
           kept: tuple[dict, dict] | None = None) -> bool:
    """Starts an asynchronous save when `would_save` says so; `kept`: (weights, info)
    of the model a fine-tune keeps so far, saved in the same checkpoint."""
    if not self.would_save(step, force):
      return False
    items = dict(state=ocp.args.StandardSave(state), config=ocp.args.JsonSave(config),
                 model_card=ocp.args.JsonSave(card))
    if kept is not None:
      items[KEPT_ITEM] = ocp.args.StandardSave(kept[0])
      items[KEPT_CARD_ITEM] = ocp.args.JsonSave(kept[1])
    return self._manager.save(step, args=ocp.args.Composite(**items), force=True)

  def restore_kept(self, step: int, like) -> tuple[dict, dict] | None:
    """The (weights, info) saved with `step` by a fine-tune, in the structure, dtypes and
    shardings of `like`; None when no model was kept yet at that step."""
    if not (self.directory / str(step) / KEPT_ITEM).exists():
      return None
    target = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), like)
    restored = self._manager.restore(step, args=ocp.args.Composite(
        kept=ocp.args.StandardRestore(target), kept_card=ocp.args.JsonRestore()))
    return restored[KEPT_ITEM], restored[KEPT_CARD_ITEM]

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

  def restore_card(self, step: int) -> dict | None:
    """The model card saved with `step`, or None for a checkpoint older than cards."""
    if not (self.directory / str(step) / CARD_ITEM).exists():
      return None
    return self._manager.restore(
        step, args=ocp.args.Composite(model_card=ocp.args.JsonRestore())).model_card

  def reached_preemption(self, step: int) -> bool:
    """True when the scheduler announced a preemption (TPU VMs, SIGTERM on clusters)."""
    return self._manager.reached_preemption(step)

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    """Ends the manager's threads (once: closing again does nothing)."""
    if not self._closed:
      self._closed = True
      self._manager.close()

  def __enter__(self) -> "Checkpointer":
    return self

  def __exit__(self, *exc) -> None:
    # A save in flight still lands (a finite state: saves are checked before they
    # start), then the manager's threads end.
    if not self._closed:
      self.wait()
    self.close()


class InitFromError(ValueError):
  """A pretraining checkpoint that is missing, empty or of another architecture."""


@dataclasses.dataclass
class Pretrained:
  directory: str
  step: int
  config: dict                  # the resolved config the pretraining run saved
  params: dict
  batch_stats: dict
  card: dict | None             # None for checkpoints written before model cards


def checkpoints_directory(path) -> epath.Path:
  """A workdir, its `checkpoints/` or one step of it -> the checkpoints directory
  (and the step, when a step directory was named)."""
  path = epath.Path(path)
  if (path / "checkpoints").is_dir():
    return path / "checkpoints"
  return path


def split_step_directory(path) -> tuple[epath.Path, int | None]:
  """`.../checkpoints/600` -> (`.../checkpoints`, 600); anything else -> (path, None).
  A local path comes back absolute, as Orbax reads only absolute ones."""
  path = storage.path(path)
  if path.name.isdigit() and (path / "state").is_dir():
    return path.parent, int(path.name)
  return checkpoints_directory(path), None


def read_pretrained(workdir_or_checkpoints: str, step: int | None = None,
                    what: str = "init_from") -> Pretrained:
  """Parameters and BatchNorm statistics of a pretraining run (its optimiser state
  is left on disk), from its latest or a named step.

  Accepts the pretraining workdir, its `checkpoints/` directory, one step of it, a
  model directory (write_model_directory) or the name of a shipped one.
  """
  path, named_step = split_step_directory(shipped.resolve(workdir_or_checkpoints))
  step = named_step if step is None else step
  if not path.is_dir():
    raise InitFromError(shipped.not_found(workdir_or_checkpoints, what)
                        or f"{what}={workdir_or_checkpoints}: no such directory")
  manager = ocp.CheckpointManager(
      path, options=ocp.CheckpointManagerOptions(read_only=True),
      item_handlers={"state": ocp.PyTreeCheckpointHandler(),
                     "config": ocp.JsonCheckpointHandler(),
                     CARD_ITEM: ocp.JsonCheckpointHandler()})
  steps = sorted(manager.all_steps())
  if not steps:
    raise InitFromError(f"{what}={workdir_or_checkpoints}: no checkpoint in {path}")
  step = steps[-1] if step is None else step
  if step not in steps:
    raise InitFromError(f"{what}={workdir_or_checkpoints}: no step {step}; steps: {steps}")
  tree = manager.item_metadata(step)["state"].tree
  # Restore replicated over this run's devices, whatever topology saved it.
  replicated = mesh_lib.replicated(mesh_lib.make_data_mesh())
  target = {k: jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype,
                                                           sharding=replicated), tree[k])
            for k in ("params", "batch_stats")}
  items = dict(state=ocp.args.PyTreeRestore(
      item=target, partial_restore=True,
      restore_args=ocp.checkpoint_utils.construct_restore_args(target)),
      config=ocp.args.JsonRestore())
  has_card = (path / str(step) / CARD_ITEM).exists()
  if has_card:
    items[CARD_ITEM] = ocp.args.JsonRestore()
  restored = manager.restore(step, args=ocp.args.Composite(**items))
  manager.close()
  card = restored[CARD_ITEM] if has_card else None
  written_later = path / str(step) / LEGACY_CARD_FILE     # by evaluate's write_card
  if card is None and written_later.exists():
    card = json.loads(written_later.read_text())
  return Pretrained(str(path), step, restored.config, dict(restored.state["params"]),
                    dict(restored.state["batch_stats"]), card)


def write_model_directory(saved: Pretrained, out_dir: str) -> str:
  """`saved` as a model directory: OUT/checkpoints/STEP with the weights, BatchNorm
  statistics, config and card, and no optimiser state (a third of a training
  checkpoint's size). predict, export, evaluate and fine-tuning read it as they read a
  workdir; models shipped in the package are such directories."""
  directory = epath.Path(os.path.abspath(out_dir)) / "checkpoints"
  if directory.exists() and any(directory.iterdir()):
    raise InitFromError(f"{out_dir}: already holds checkpoints; choose an empty directory")
  manager = ocp.CheckpointManager(
      directory, options=ocp.CheckpointManagerOptions(create=True), item_names=ITEMS)
  items = {"state": ocp.args.PyTreeSave({"params": saved.params,
                                         "batch_stats": saved.batch_stats}),
           "config": ocp.args.JsonSave(saved.config)}
  if saved.card is not None:
    items[CARD_ITEM] = ocp.args.JsonSave(saved.card)
  manager.save(saved.step, args=ocp.args.Composite(**items))
  manager.wait_until_finished()
  manager.close()
  return os.fspath(directory.parent)
