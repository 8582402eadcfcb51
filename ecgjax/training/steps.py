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

from ecgjax.models import head, resnet1d
from ecgjax.training import self_supervised

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


def train_step_fn(graphdef, tx: optax.GradientTransformation, seed: int,
                  freeze_batch_norm: bool = False, skip_nonfinite: bool = False,
                  axis_name: str | None = None,
                  ssl: self_supervised.SelfSupervision | None = None) -> Callable:
  """The update, (state, batch) -> (state, metrics), before compilation: jit's
  global step, or with `axis_name` one device's step inside jax.pmap.

  `freeze_batch_norm`: BatchNorm normalises with (and keeps) its running
  statistics instead of the batch's, as when fine-tuning a pretrained backbone.
  Metrics carry `finite` (loss and gradient norm both finite); with
  `skip_nonfinite` a non-finite step leaves parameters, statistics and optimiser
  state as they were (training.nonfinite), and only the step count moves on.

  Under pmap the step trains the same function as jit's: BatchNorm averages its
  batch statistics over the devices (resnet1d.sync_batch_norm), the loss is each
  device's share of the global mean and its gradients are summed over the axis.
  Dropout folds in the device index, so devices draw different masks; the masks
  differ from jit's, which draws one for the global batch.

  `ssl`: the loss is a self-supervised objective on two views of each ECG
  (training.self_supervised); the batch's labels are not read.
  """
  keyed = keyed_train_step_fn(graphdef, tx, freeze_batch_norm, skip_nonfinite, axis_name,
                              ssl)
  base_key = jax.random.key(seed)
  return lambda state, batch: keyed(state, batch, base_key)


def keyed_train_step_fn(graphdef, tx: optax.GradientTransformation,
                        freeze_batch_norm: bool = False, skip_nonfinite: bool = False,
                        axis_name: str | None = None,
                        ssl: self_supervised.SelfSupervision | None = None) -> Callable:
  """train_step_fn's update with the run's seed as an argument, (state, batch,
  base_key) -> (state, metrics): what a stacked group maps over (stacked_train_step_fn),
  each run with its own key."""

  def train_step(state: TrainState, batch: dict, base_key: jax.Array):
    step_key = jax.random.fold_in(base_key, state.step)
    dropout_key = step_key
    if axis_name is not None:
      dropout_key = jax.random.fold_in(dropout_key, jax.lax.axis_index(axis_name))

    def loss_fn(params):
      model = nnx.merge(graphdef, params, state.batch_stats, copy=True)
      if axis_name is not None:
        resnet1d.sync_batch_norm(model, axis_name)
      x = signal_to_model_input(batch["signal"])
      rngs = nnx.Rngs(dropout=dropout_key)
      if ssl is not None:
        # The views' key is the step's, not the device's: each example's own key comes
        # from its index in the global batch (self_supervised.views).
        loss = self_supervised.loss(model, x, jax.random.fold_in(step_key, 1), ssl,
                                    rngs=rngs, batch_norm_train=not freeze_batch_norm,
                                    axis_name=axis_name)
      else:
        logits = model(x, train=True, rngs=rngs, batch_norm_train=not freeze_batch_norm)
        loss = head.loss(logits, batch["labels"], batch.get("label_mask"),
                         model.exclusive_groups, axis_name)
      return loss, nnx.to_pure_dict(nnx.state(model, nnx.BatchStat))

    (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    if axis_name is not None:
      loss, grads = jax.lax.psum((loss, grads), axis_name)
      # Equal on every device already (synchronised BatchNorm); the mean keeps the
      # replicas bit-identical whatever the reduction order.
      batch_stats = jax.lax.pmean(batch_stats, axis_name)
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

  return train_step


def stacked_train_step_fn(graphdef, tx: optax.GradientTransformation,
                          freeze_batch_norm: bool = False, skip_nonfinite: bool = False
                          ) -> Callable:
  """K runs of one shape trained as one program (training.stacked): (states, batches,
  base_keys) with a leading run axis on each -> (states, metrics), run k's slice the
  step train_step_fn takes alone with its seed. Each run keeps its own BatchNorm batch
  statistics, optimiser state, dropout stream and data."""
  return jax.vmap(keyed_train_step_fn(graphdef, tx, freeze_batch_norm, skip_nonfinite))


def make_train_step(graphdef, tx: optax.GradientTransformation, seed: int,
                    state_sharding, batch_sharding, freeze_batch_norm: bool = False,
                    skip_nonfinite: bool = False,
                    ssl: self_supervised.SelfSupervision | None = None) -> Callable:
  """`train_step_fn` jitted over the mesh; the input state is donated."""
  step = train_step_fn(graphdef, tx, seed, freeze_batch_norm, skip_nonfinite, ssl=ssl)
  return jax.jit(step, in_shardings=(state_sharding, batch_sharding),
                 out_shardings=(state_sharding, None), donate_argnums=0)


def make_keyed_train_step(graphdef, tx: optax.GradientTransformation, state_sharding,
                          batch_sharding, freeze_batch_norm: bool = False,
                          skip_nonfinite: bool = False,
                          ssl: self_supervised.SelfSupervision | None = None) -> Callable:
  """make_train_step's step with the run's base key as a third argument (replicated),
  not a constant in the program: runs that differ only in their seed compile to the
  same program, which a compilation cache then finds (parallel.JitParallel)."""
  step = keyed_train_step_fn(graphdef, tx, freeze_batch_norm, skip_nonfinite, ssl=ssl)
  return jax.jit(step, in_shardings=(state_sharding, batch_sharding, state_sharding),
                 out_shardings=(state_sharding, None), donate_argnums=0)


def eval_step_fn(graphdef) -> Callable:
  """(state, batch) -> per-example log-odds (models.head.log_odds: a label's logit, an
  exclusive class's softmax log-odds), before compilation."""

  def eval_step(state: TrainState, batch: dict):
    model = nnx.merge(graphdef, state.params, state.batch_stats, copy=True)
    logits = model(signal_to_model_input(batch["signal"]), train=False)
    return head.log_odds(logits, model.exclusive_groups)

  return eval_step


def stacked_eval_step_fn(graphdef) -> Callable:
  """(states stacked on a leading run axis, one batch) -> (batch, runs, labels)
  log-odds: every run of a group scores the same split in one pass over it, the
  batch's axis first as in a lone run's output (sharded, gathered and masked alike)."""
  mapped = jax.vmap(eval_step_fn(graphdef), in_axes=(0, None))
  return lambda states, batch: jnp.swapaxes(mapped(states, batch), 0, 1)


def embed_step_fn(graphdef) -> Callable:
  """(state, batch) -> the backbone's pooled features (batch, features), BatchNorm on
  its running statistics: what a model's embedding of an ECG is, whatever its head."""

  def embed_step(state: TrainState, batch: dict):
    model = nnx.merge(graphdef, state.params, state.batch_stats, copy=True)
    return model.backbone(signal_to_model_input(batch["signal"]), train=False)

  return embed_step


def make_eval_step(graphdef, state_sharding, batch_sharding, fn=eval_step_fn) -> Callable:
  """`fn(graphdef)` (eval_step_fn, or embed_step_fn) jitted over the mesh, the output
  sharded like the batch."""
  return jax.jit(fn(graphdef), in_shardings=(state_sharding, batch_sharding),
                 out_shardings=batch_sharding)
