"""Optimisers and learning-rate schedules built from `config.optimizer`."""

import dataclasses
import math
import re
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax


INF = math.inf
# Each numeric field and the interval it must lie in: (low, high, "[)" brackets).
RANGES = {
    "learning_rate": (0, INF, "()"),   # a diverging rate is the non-finite guard's job
    "weight_decay": (0, INF, "[)"),
    "b1": (0, 1, "[)"),
    "b2": (0, 1, "[)"),
    "end_factor": (0, 1, "[]"),
    "grad_clip_norm": (0, INF, "[)"),   # 0: no clipping
    "warmup_steps": (0, INF, "[)"),
}


def check_interval(name: str, value, low: float, high: float, brackets: str) -> None:
  """Refuses `value` unless it is a number in the interval, naming field and interval."""
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    raise ValueError(f"{name} must be a number, got {value!r}")
  above = value >= low if brackets[0] == "[" else value > low
  below = value <= high if brackets[1] == "]" else value < high
  if not (above and below):
    raise ValueError(f"{name}={value!r} is outside {brackets[0]}{low}, {high}{brackets[1]}")


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
  """`config.optimizer`, checked: AdamW with linear warm-up and cosine decay."""
  name: str = "adamw"
  learning_rate: float = 1e-3
  weight_decay: float = 0.0
  b1: float = 0.9
  b2: float = 0.999
  end_factor: float = 0.0
  grad_clip_norm: float = 0.0
  warmup_steps: int = 0

  def __post_init__(self):
    if self.name != "adamw":
      raise ValueError(f"optimizer.name={self.name!r}: only 'adamw' is implemented")
    for field, interval in RANGES.items():
      check_interval(f"optimizer.{field}", getattr(self, field), *interval)

  @classmethod
  def from_section(cls, section) -> "OptimizerConfig":
    """From a config's `optimizer` section (a ConfigDict or a dict)."""
    fields = dict(section.items())
    unknown = sorted(set(fields) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
      raise ValueError(f"optimizer has unknown field(s) {', '.join(unknown)}")
    return cls(**fields)


def learning_rate_schedule(opt: OptimizerConfig, total_steps: int) -> optax.Schedule:
  """Linear warm-up to `opt.learning_rate`, then cosine decay to `opt.end_factor` of it."""
  warmup = min(opt.warmup_steps, max(total_steps - 1, 0))
  return optax.warmup_cosine_decay_schedule(
      init_value=0.0, peak_value=opt.learning_rate, warmup_steps=warmup,
      decay_steps=max(total_steps, warmup + 1), end_value=opt.learning_rate * opt.end_factor)


def param_path(key_path) -> str:
  """jax key path -> 'backbone/blocks/0/conv1/kernel'."""
  return "/".join(str(getattr(k, "key", getattr(k, "name", k))) for k in key_path)


def parameter_groups(params, frozen: str = "", lr_multipliers: dict[str, float] | None = None):
  """Labels every parameter 'frozen', 'lr_<i>' (the first multiplier regex it
  matches, in order) or 'default'."""
  frozen_re = re.compile(frozen) if frozen else None
  rules = [(re.compile(pattern), f"lr_{i}") for i, pattern in enumerate(lr_multipliers or {})]

  def label(key_path, _):
    path = param_path(key_path)
    if frozen_re and frozen_re.search(path):
      return "frozen"
    return next((name for rule, name in rules if rule.search(path)), "default")

  return jax.tree_util.tree_map_with_path(label, params)


def make_optimizer(opt: OptimizerConfig, total_steps: int, *, params=None, frozen: str = "",
                   lr_multipliers: dict[str, float] | None = None, decay_to_start: float = 0.0,
                   start_weights=None) -> optax.GradientTransformation:
  """AdamW with warm-up and cosine decay, gradient clipping, and optionally
  regex-selected frozen parameters (no optimiser state kept for them),
  per-group learning-rate multipliers and a pull toward the starting weights
  (`decay_to_start`, see `pull_to_start`). `params` is needed only for the groups."""
  schedule = learning_rate_schedule(opt, total_steps)

  def adamw(multiplier: float):
    return optax.adamw(lambda step: schedule(step) * multiplier, b1=opt.b1, b2=opt.b2,
                       weight_decay=opt.weight_decay, mask=_decay_mask)

  chain = [optax.clip_by_global_norm(opt.grad_clip_norm)] if opt.grad_clip_norm else []
  pull = [pull_to_start(decay_to_start, schedule, start_weights)] if decay_to_start else []
  if not (frozen or lr_multipliers):
    return optax.chain(*chain, adamw(1.0), *pull)
  if params is None:
    raise ValueError("make_optimizer: frozen parameters or multipliers need `params`")
  transforms = {"default": adamw(1.0), "frozen": optax.set_to_zero()}
  for i, multiplier in enumerate((lr_multipliers or {}).values()):
    transforms[f"lr_{i}"] = adamw(float(multiplier))
  return optax.chain(*chain, optax.multi_transform(
      transforms, parameter_groups(params, frozen, lr_multipliers)), *pull)


class PullToStartState(NamedTuple):
  count: jax.Array
  start: optax.Params        # the weights when the optimiser was initialised


def pull_to_start(strength: float, schedule: optax.Schedule,
                  weights=None) -> optax.GradientTransformation:
  """Decoupled L2-SP: after the optimiser's own update, each weight moves back toward
  its value at `init` by `schedule(step) * strength * weight * (w - w_start)`.

  L2-SP (Li, Grandvalet and Davoine, ICML 2018) regularises a fine-tune toward the
  pretrained weights rather than toward zero, so a few training examples adjust the
  pretrained model instead of replacing it. As in AdamW (Loshchilov and Hutter, ICLR
  2019) the pull is applied outside the adaptive scaling, so its meaning does not depend
  on the gradients' scale: Adam's steps are about the learning rate in size, so a
  weight pushed the same way at every step settles about 1/strength from its start.

  `weights`: a tree like the parameters of floats or arrays broadcastable to them (0
  leaves a weight free, 1 pulls it fully; a head kernel's columns can differ); by
  default kernels are pulled, biases and normalisation parameters are not. The pull
  follows the base schedule, not `lr_multipliers`' groups; a frozen weight never moves
  from its start, so it is never pulled."""
  if strength < 0:
    raise ValueError(f"decay_to_start must be >= 0, got {strength}")

  def init(params):
    return PullToStartState(count=jnp.zeros([], jnp.int32),
                            start=jax.tree.map(jnp.array, params))

  def update(updates, state, params=None):
    if params is None:
      raise ValueError("pull_to_start needs the parameters (optax: pass params to update)")
    scale = schedule(state.count) * strength
    pulled = weights if weights is not None else kernels_only(params)
    updates = jax.tree.map(
        lambda u, w, w0, c: u - (scale * c * (w - w0)).astype(u.dtype),
        updates, params, state.start, pulled)
    return updates, PullToStartState(count=optax.safe_increment(state.count),
                                     start=state.start)

  return optax.GradientTransformation(init, update)


def kernels_only(params):
  """1.0 for every kernel, 0.0 for biases and normalisation parameters."""
  return jax.tree.map(lambda keep: 1.0 if keep else 0.0, _decay_mask(params))


def _decay_mask(params):
  """Weight decay on kernels only: not on biases or BatchNorm scales and offsets."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: getattr(path[-1], "key", None) == "kernel", params)
