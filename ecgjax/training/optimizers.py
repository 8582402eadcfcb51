"""Optimisers and learning-rate schedules built from `config.optimizer`."""

import re

import jax
import optax


def learning_rate_schedule(opt, total_steps: int) -> optax.Schedule:
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


def make_optimizer(opt, total_steps: int, *, params=None, frozen: str = "",
                   lr_multipliers: dict[str, float] | None = None) -> optax.GradientTransformation:
  """AdamW with warm-up and cosine decay, gradient clipping, and optionally
  regex-selected frozen parameters (no optimiser state kept for them) and
  per-group learning-rate multipliers. `params` is needed only for the groups."""
  if opt.name != "adamw":
    raise ValueError(f"optimizer.name: only 'adamw' is implemented, got {opt.name!r}")
  schedule = learning_rate_schedule(opt, total_steps)

  def adamw(multiplier: float):
    return optax.adamw(lambda step: schedule(step) * multiplier, b1=opt.b1, b2=opt.b2,
                       weight_decay=opt.weight_decay, mask=_decay_mask)

  chain = [optax.clip_by_global_norm(opt.grad_clip_norm)] if opt.grad_clip_norm else []
  if not (frozen or lr_multipliers):
    return optax.chain(*chain, adamw(1.0))
  if params is None:
    raise ValueError("make_optimizer: frozen parameters or multipliers need `params`")
  transforms = {"default": adamw(1.0), "frozen": optax.set_to_zero()}
  for i, multiplier in enumerate((lr_multipliers or {}).values()):
    transforms[f"lr_{i}"] = adamw(float(multiplier))
  return optax.chain(*chain, optax.multi_transform(
      transforms, parameter_groups(params, frozen, lr_multipliers)))


def _decay_mask(params):
  """Weight decay on kernels only: not on biases or BatchNorm scales and offsets."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: getattr(path[-1], "key", None) == "kernel", params)
