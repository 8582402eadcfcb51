"""Catching a diverging run before it poisons anything.

Each train step returns a `finite` flag (loss and gradient norm both finite) in
its metrics; the loop reads the flags at its logging sync, so the guard costs no
extra host sync per step. Before a checkpoint is saved, the state is checked on
device for any NaN or infinity (one small sync per save), so no checkpoint
holding a non-finite value is ever written, let alone becomes the latest.

Policies (`config.nonfinite`):
- `stop` (default): stop at the first logging sync after a non-finite step,
  naming the step, the last finite checkpoint and what to try.
- `skip_step`: the update of a non-finite step is not applied (on device: the
  state keeps its values, the step count moves on so the data stream and
  dropout keys stay those of an uninterrupted run); skips are counted in
  metrics.jsonl, and `max_consecutive_skips` in a row stop the run.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

POLICIES = ("stop", "skip_step")
ADVICE = ("lower --config.optimizer.learning_rate, keep --config.optimizer.grad_clip_norm "
          "finite (1.0 by default), use --config.model.dtype=float32, or skip such steps with "
          "--config.nonfinite=skip_step")


class NonFiniteError(RuntimeError):
  """Training or evaluation met NaN or infinity; the message says where and what to do."""


def all_finite(tree) -> jax.Array:
  """One device scalar: True when every floating array of `tree` is finite."""
  leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)]
  return _leaves_finite(leaves) if leaves else jnp.bool_(True)


@jax.jit
def _leaves_finite(leaves: list) -> jax.Array:
  # One program (compiled once per state's structure) rather than two dispatches per
  # array: the `small` model's weights and statistics are 49 arrays, checked at every save.
  return jnp.all(jnp.stack([jnp.isfinite(x).all() for x in leaves]))


def finite_mean(values, flags) -> float:
  """The mean of a window's values over its finite steps (NaN when it has none)."""
  kept = [v for v, ok in zip(values, flags) if ok]
  return float(np.mean(kept)) if kept else float("nan")


def last_checkpoint_text(latest: int | None, directory) -> str:
  return (f"the last finite checkpoint is step {latest} in {directory}" if latest
          else f"no checkpoint was written to {directory}")


class Guard:
  """Host-side bookkeeping of the `finite` flags read at each logging sync."""

  def __init__(self, policy: str, max_consecutive_skips: int):
    self.policy = policy
    self.max_consecutive_skips = max_consecutive_skips
    self.consecutive = 0

  def check_window(self, first_step: int, flags, losses,
                   checkpoint_text: Callable[[], str]) -> int:
    """Flags of steps first_step, first_step + 1, ...; returns the window's skip count
    or raises NonFiniteError as the policy says. `checkpoint_text()`, called only when
    raising, says where the last good model is."""
    flags = np.asarray(flags, bool)
    bad = np.flatnonzero(~flags)
    if not len(bad):
      self.consecutive = 0
      return 0
    step = first_step + int(bad[0])
    if self.policy == "stop":
      raise NonFiniteError(f"step {step}: the loss ({float(losses[bad[0]])}) or its gradient "
                           f"norm is not finite; stopped, {checkpoint_text()}. Try: {ADVICE}")
    for offset, finite in enumerate(flags):
      self.consecutive = 0 if finite else self.consecutive + 1
      if self.consecutive >= self.max_consecutive_skips:
        raise NonFiniteError(
            f"{self.consecutive} non-finite steps in a row (up to step {first_step + offset}, "
            f"max_consecutive_skips={self.max_consecutive_skips}); stopped, "
            f"{checkpoint_text()}. Try: {ADVICE}")
    return len(bad)


def check_predictions(scores: np.ndarray, split: str) -> None:
  bad = int(np.count_nonzero(~np.isfinite(scores)))
  if bad:
    raise NonFiniteError(
        f"{split} split: {bad} of {scores.size} predictions are NaN or infinite: the model's "
        f"parameters are not finite (a diverged run, or a checkpoint written before ecgjax "
        f"checked them); train again from a finite checkpoint. Try: {ADVICE}")
