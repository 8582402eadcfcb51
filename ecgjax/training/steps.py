"""The train state and the jitted, sharded train and eval steps.

The model lives as (graphdef, params, batch_stats): plain nested dicts of
arrays that jit, Orbax and regex paths all handle. Each step merges the model
inside the traced function and splits the new BatchNorm statistics back out.
Dropout keys derive from (seed, step), so a resumed run draws the same masks.
"""

from collections.abc import Callable

import flax.struct
import jax
import jax.numpy as jnp
import optax
from flax import nnx

MICROVOLTS_PER_MILLIVOLT = 1000.0


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: dict
  batch_stats: dict
  opt_state: optax.OptState


def init_state(model: nnx.Module, tx: optax.GradientTransformation):
  """Splits a freshly built model into its graphdef and an initial TrainState."""
  graphdef, params, batch_stats = nnx.split(model, nnx.Param, nnx.BatchStat)
  params, batch_stats = nnx.to_pure_dict(params), nnx.to_pure_dict(batch_stats)
  state = TrainState(step=jnp.zeros((), jnp.int32), params=params,
                     batch_stats=batch_stats, opt_state=tx.init(params))
  return graphdef, state


def signal_to_model_input(signal: jax.Array) -> jax.Array:
  """int16 µV as stored -> float32 mV (on device: int16 halves host-to-device bytes)."""
  return signal.astype(jnp.float32) / MICROVOLTS_PER_MILLIVOLT


def multilabel_bce(logits: jax.Array, labels: jax.Array,
                   label_mask: jax.Array | None = None) -> jax.Array:
  """Binary cross-entropy in float32, averaged over the annotated (example, label)
  entries: `label_mask` is 1 where the example's source annotates the label and 0
  where the label is unknown (a mixture of archives). No mask: every entry counts."""
  losses = optax.sigmoid_binary_cross_entropy(logits.astype(jnp.float32),
                                              labels.astype(jnp.float32))
  if label_mask is None:
    return losses.mean()
  label_mask = label_mask.astype(jnp.float32)
  return (losses * label_mask).sum() / jnp.maximum(label_mask.sum(), 1.0)


def make_train_step(graphdef, tx: optax.GradientTransformation, seed: int,
                    state_sharding, batch_sharding, freeze_batch_norm: bool = False,
                    skip_nonfinite: bool = False) -> Callable:
  """(state, batch) -> (state, metrics); the input state is donated.

  `freeze_batch_norm`: BatchNorm normalises with (and keeps) its running
  statistics instead of the batch's, as when fine-tuning a pretrained backbone.
  Metrics carry `finite` (loss and gradient norm both finite); with
  `skip_nonfinite` a non-finite step leaves parameters, statistics and optimiser
  state as they were (training.nonfinite), and only the step count moves on.
  """
  base_key = jax.random.key(seed)

  def train_step(state: TrainState, batch: dict):
    dropout_key = jax.random.fold_in(base_key, state.step)

    def loss_fn(params):
      model = nnx.merge(graphdef, params, state.batch_stats, copy=True)
      logits = model(signal_to_model_input(batch["signal"]), train=True,
                     rngs=nnx.Rngs(dropout=dropout_key),
                     batch_norm_train=not freeze_batch_norm)
      new_stats = nnx.to_pure_dict(nnx.state(model, nnx.BatchStat))
      return multilabel_bce(logits, batch["labels"], batch.get("label_mask")), new_stats

    (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    grad_norm = optax.tree.norm(grads)
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    updated = (optax.apply_updates(state.params, updates), batch_stats, opt_state)
    if skip_nonfinite:
      updated = jax.tree.map(lambda new, old: jnp.where(finite, new, old), updated,
                             (state.params, state.batch_stats, state.opt_state))
    params, batch_stats, opt_state = updated
    new_state = state.replace(step=state.step + 1, params=params, batch_stats=batch_stats,
                              opt_state=opt_state)
    return new_state, {"loss": loss, "grad_norm": grad_norm, "finite": finite}

  return jax.jit(train_step, in_shardings=(state_sharding, batch_sharding),
                 out_shardings=(state_sharding, None), donate_argnums=0)


def make_eval_step(graphdef, state_sharding, batch_sharding) -> Callable:
  """(state, batch) -> per-example sigmoid probabilities, sharded like the batch."""

  def eval_step(state: TrainState, batch: dict):
    model = nnx.merge(graphdef, state.params, state.batch_stats, copy=True)
    logits = model(signal_to_model_input(batch["signal"]), train=False)
    return jax.nn.sigmoid(logits)

  return jax.jit(eval_step, in_shardings=(state_sharding, batch_sharding),
                 out_shardings=batch_sharding)
