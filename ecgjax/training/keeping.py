"""Which model a run keeps, and the train state it resumes from.

Pretraining keeps its last step (`KeepLast`): `checkpoints/` holds its latest train
states (`keep_checkpoints` of them), and the last one is the model.

A fine-tune keeps the model with the best validation score (`KeepBest`): `resume/`
holds its latest train state and, in the same checkpoint, the model kept so far. One
checkpoint is committed as one unit, so whatever moment a kill comes at, the train
state and the kept model that a rerun restores belong to each other. `checkpoints/`
receives the kept model when the run concludes, and `resume/` goes once its results
are committed (training.completion).

Both close their Orbax managers on every path out (`with keeper:`), and neither ever
saves a state holding NaN or infinity.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ecgjax import storage
from ecgjax.training import checkpoints, nonfinite, selection, steps

RESUME_DIR = "resume"     # a fine-tune's train state and kept model while it runs


@dataclasses.dataclass
class Kept:
  """The model a fine-tune keeps so far, on the host."""
  step: int
  score: float
  params: dict
  batch_stats: dict
  # The validation evaluation that chose it (evaluating.Scored.pooled), where this
  # process made it: the conclusion chooses operating points on it instead of scoring
  # the same weights again with the same program (3 s a demo fine-tune). Not saved: a
  # run resumed after it scores the restored model.
  validation: tuple | None = None

  def info(self) -> dict:
    return {"step": self.step, "selection_score": None if self.score == -np.inf else self.score}


def save_finite(ckpt: checkpoints.Checkpointer, step: int, state, config_json: dict,
                card: dict, *, force: bool, last_finite, kept: Kept | None = None) -> bool:
  """Saves when the checkpointer would, after one small sync: a checkpoint holding NaN
  must never become the latest."""
  if not ckpt.would_save(step, force):
    return False
  if not bool(jax.device_get(nonfinite.all_finite((state.params, state.batch_stats)))):
    ckpt.wait()
    raise nonfinite.NonFiniteError(
        f"step {step}: parameters or BatchNorm statistics hold NaN or infinity; not saved, "
        f"{last_finite()}. Try: {nonfinite.ADVICE}")
  kept_item = None
  if kept is not None:
    kept_item = ({"params": kept.params, "batch_stats": kept.batch_stats}, kept.info())
  return ckpt.save(step, state, config_json, card, force=force, kept=kept_item)


def model_checkpointer(workdir: str) -> checkpoints.Checkpointer:
  """A fine-tune's checkpoints/: the one model it keeps."""
  return checkpoints.Checkpointer(checkpoints.checkpoint_dir(workdir), max_to_keep=1,
                                  save_every=1)


class _Keeper:
  """What both keep: a checkpointer of train states, closed on every path out."""

  train_states: checkpoints.Checkpointer

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.train_states.__exit__(*exc)

  def latest_step(self) -> int:
    return self.train_states.latest_step() or 0


class KeepLast(_Keeper):
  """Pretraining: the train states are the checkpoints; the last step is the model."""

  keeps_best = False

  def __init__(self, workdir: str, config):
    self.train_states = checkpoints.Checkpointer(
        checkpoints.checkpoint_dir(workdir), max_to_keep=config.keep_checkpoints,
        save_every=config.checkpoint_every)

  def restore(self, step: int, state):
    return self.train_states.restore_state(step, state)

  def restored_card(self, step: int) -> dict | None:
    return self.train_states.restore_card(step)

  def wants_start_scored(self) -> bool:
    return False

  def observe(self, step: int, score: float, state, validation=None) -> None:
    """Nothing to choose: the last step is kept."""

  def save(self, step, state, config_json, card, *, force: bool) -> bool:
    return save_finite(self.train_states, step, state, config_json, card, force=force,
                       last_finite=self.last_finite)

  def last_finite(self) -> str:
    return nonfinite.last_checkpoint_text(self.train_states.latest_step(),
                                          self.train_states.directory)

  def final(self, state, step: int):
    """(the model to conclude with, its step, the checkpointer that keeps it, None: the
    loop holds its last evaluation)."""
    return state, step, self.train_states, None


class KeepBest(_Keeper):
  """A fine-tune: the best validation score so far, saved with each train state."""

  keeps_best = True

  def __init__(self, workdir: str, config, placed, score_start: bool):
    """`placed(params, batch_stats, step)`: a state on the run's devices."""
    self.workdir = workdir
    self.placed = placed
    self.score_start = score_start
    self.kept: Kept | None = None
    self.train_states = checkpoints.Checkpointer(
        storage.join(workdir, RESUME_DIR), max_to_keep=1, save_every=config.checkpoint_every)

  def restore(self, step: int, state):
    restored = self.train_states.restore_state(step, state)
    like = {"params": state.params, "batch_stats": state.batch_stats}
    saved = self.train_states.restore_kept(step, like)
    if saved is not None:
      weights, info = jax.device_get(saved[0]), saved[1]
      score = info.get("selection_score")
      self.kept = Kept(info["step"], -np.inf if score is None else score, weights["params"],
                       weights["batch_stats"])
    return restored

  def restored_card(self, step: int) -> dict | None:
    return None     # a fine-tune's card is made at its conclusion

  def wants_start_scored(self) -> bool:
    """Step 0: a head carried from the checkpoint may already be better than what a
    small training set makes of it."""
    return self.kept is None and self.score_start

  def observe(self, step: int, score: float, state, validation=None) -> None:
    """`validation`: the pooled evaluation `score` came from."""
    if self.kept is None or selection.keeps(score, self.kept.score):
      params, batch_stats = jax.device_get((state.params, state.batch_stats))
      self.kept = Kept(step, score, params, batch_stats, validation)

  def save(self, step, state, config_json, card, *, force: bool) -> bool:
    return save_finite(self.train_states, step, state, config_json, card, force=force,
                       last_finite=self.last_finite, kept=self.kept)

  def last_finite(self) -> str:
    return (f"the model kept so far is from step {self.kept.step}" if self.kept is not None
            else "no model of this run was kept")

  def final(self, state, step: int):
    """(the kept model, its step, the checkpointer of checkpoints/, its validation
    evaluation or None); the train state's manager is closed first: the run is over."""
    self.train_states.wait()
    self.train_states.close()
    kept = self.kept            # the loop always evaluates its last step
    return self.placed(kept.params, kept.batch_stats, kept.step), kept.step, \
        model_checkpointer(self.workdir), kept.validation


def place(par, params, batch_stats, step: int, opt_state=()):
  """A train state on the run's devices, in the checkpoint layout."""
  return jax.device_put(steps.TrainState(step=jnp.asarray(step, jnp.int32), params=params,
                                         batch_stats=batch_stats, opt_state=opt_state),
                        par.state_sharding)
