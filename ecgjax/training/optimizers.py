"""Optimisers and learning-rate schedules built from `config.optimizer`."""

import jax
import optax


def learning_rate_schedule(opt, total_steps: int) -> optax.Schedule:
  """Linear warm-up to `opt.learning_rate`, then cosine decay to `opt.end_factor` of it."""
  warmup = min(opt.warmup_steps, max(total_steps - 1, 0))
  return optax.warmup_cosine_decay_schedule(
      init_value=0.0, peak_value=opt.learning_rate, warmup_steps=warmup,
      decay_steps=max(total_steps, warmup + 1), end_value=opt.learning_rate * opt.end_factor)


def make_optimizer(opt, total_steps: int) -> optax.GradientTransformation:
  if opt.name != "adamw":
    raise ValueError(f"optimizer.name: only 'adamw' is implemented, got {opt.name!r}")
  schedule = learning_rate_schedule(opt, total_steps)
  chain = []
  if opt.grad_clip_norm:
    chain.append(optax.clip_by_global_norm(opt.grad_clip_norm))
  chain.append(optax.adamw(schedule, b1=opt.b1, b2=opt.b2,
                           weight_decay=opt.weight_decay,
                           mask=_decay_mask))
  return optax.chain(*chain)


def _decay_mask(params):
  """Weight decay on kernels only: not on biases or BatchNorm scales and offsets."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: getattr(path[-1], "key", None) == "kernel", params)
