"""The linear probe's update rule: the head trains on backbone features computed once.

The backbone runs once per split in inference mode (BatchNorm on its running
statistics), so it stays bit-identical and needs no optimiser state. A validation or test
split's features are kept for the process (`_FEATURES`, by the backbone's weights and
the input): the sweep's probes and LP-FT starts from one checkpoint, every size and
seed, read them once. The head
then trains full batch with AdamW, `eval_every` updates per compiled chunk, and
the chunk with the best mean validation AUROC is kept (the starting head too,
with `score_start`). With `probe_features` standardized (the random probe's default)
the head trains on features centred and scaled on the training split, and the kept
head has that folded in (Standardization). The loop (training.loop) does the rest, as
for every mode.
"""

import dataclasses
import hashlib
import json

import jax
import numpy as np
import optax
from absl import logging
from flax import nnx

from ecgjax.evaluation import metrics as eval_metrics
from ecgjax.models import head as head_lib
from ecgjax.training import (eval_outputs, mesh as mesh_lib, nonfinite, optimizers, selection,
                             steps)


# (backbone fingerprint, input, split) -> an evaluation split's collect_outputs: at most
# a few entries per sweep (one backbone per seed for random probes).
_FEATURES: dict = {}
_KEEP_FEATURES = 8
PROBE_FEATURES = ("auto", "raw", "standardized")    # config.probe_features


def probe_features(config) -> str:
  """`raw` or `standardized` (Standardization) for this run's probe. `auto`: standardized
  for the random probe, whose frozen BatchNorm statistics are the initial 0 and 1, raw
  for a pretrained encoder's, which its statistics already normalise. Measured on
  PTB-XL (docs/self-supervised.md): standardizing lifted the random probe by +0.09 to
  +0.13 macro AUROC and left the pretrained probe level or lower (-0.02 at 100 ECGs)."""
  if config.probe_features != "auto":
    return config.probe_features
  return "standardized" if config.mode == "random_probe" else "raw"


def fingerprint(tree) -> str:
  """The weights' bytes, hashed: equal for the same backbone however it was loaded."""
  digest = hashlib.sha256()
  for leaf in jax.tree.leaves(jax.device_get(tree)):
    digest.update(np.ascontiguousarray(leaf).tobytes())
  return digest.hexdigest()


@dataclasses.dataclass
class Probed:
  head: dict                  # the kept head's kernel and bias, on the host
  step: int                   # its step (0: the starting head)
  validation: tuple           # (probabilities, labels, patients), one row per recording
  test: tuple | None          # the same for the test split; None unless asked for


def train(config, optimizer: optimizers.OptimizerConfig, graphdef, params, batch_stats,
          source, state_sharding, batch_sharding, carried_columns: np.ndarray,
          score_test: bool = True, score_start: bool = False) -> Probed:
  """Head-only training on cached backbone features (full batch, AdamW).

  With `score_test=False` (the head for LP-FT) the test split is not read. With
  `score_start`, the starting head (carried from the checkpoint) is a candidate too,
  as step 0. `decay_to_start` pulls the kernel columns marked in `carried_columns`
  (1 per carried label) toward their start.
  """
  model = nnx.merge(graphdef, params, batch_stats, copy=True)
  backbone_graph, backbone_state = nnx.split(model.backbone)
  backbone_state = jax.device_put(backbone_state, state_sharding)

  @jax.jit
  def features(state, signal):
    return nnx.merge(backbone_graph, state, copy=True)(steps.signal_to_model_input(signal),
                                                       train=False)

  # What an evaluation split's features depend on: the backbone and how the split is read
  # (not the run's training patients, which its card's dataset entry describes).
  backbone_key = (fingerprint(backbone_state), json.dumps(
      {"dataset": config.dataset.to_dict(), "labels": list(source.label_names),
       "eval_batch_size": config.eval_batch_size, "input": source.describe()["input"]},
      sort_keys=True, default=str))

  def extract(split, training_set=False):
    # Features per window; the head's scores are aggregated per recording below. The
    # training split's depend on the run's patients and are not kept.
    key = (*backbone_key, split)
    if not training_set and key in _FEATURES:
      return _FEATURES[key]
    out = eval_outputs.collect_outputs(source, split, lambda local: features(
        backbone_state, mesh_lib.global_batch(local, batch_sharding)["signal"]),
        training_set=training_set)
    if not training_set:
      while len(_FEATURES) >= _KEEP_FEATURES:
        del _FEATURES[next(iter(_FEATURES))]
      _FEATURES[key] = out
    return out

  train_x, train_y, _, _ = extract(config.dataset.train_split, training_set=True)
  val_x, val_y, val_p, val_r = extract(config.dataset.eval_split)
  if score_test:
    test_x, test_y, test_p, test_r = extract(config.dataset.test_split)
  logging.info("linear probe on %d training features of width %d", *train_x.shape)
  train_mask = eval_metrics.annotated(train_y).astype(np.float32)   # NaN: not annotated
  train_y = np.nan_to_num(train_y)

  groups = model.exclusive_groups       # exclusive classes: softmax, models.head
  head = params["head"]
  standardized = None
  if probe_features(config) == "standardized":
    standardized = Standardization.fit(train_x)
    train_x, val_x = standardized(train_x), standardized(val_x)
    if score_test:
      test_x = standardized(test_x)
    head = standardized.head_from_raw(jax.device_get(head))
  probe_optimizer = dataclasses.replace(optimizer, learning_rate=config.probe_learning_rate)
  pull = config.decay_to_start if carried_columns.any() else 0.0
  tx = optimizers.make_optimizer(
      probe_optimizer, config.total_steps, decay_to_start=pull,
      start_weights={"kernel": jax.numpy.asarray(carried_columns), "bias": 0.0}
      if pull else None)
  opt_state = tx.init(head)

  def logits(h, x):
    return x @ h["kernel"] + h["bias"]

  @jax.jit
  def train_chunk(h, opt_state, n):
    def body(_, carry):
      h, opt_state = carry
      grads = jax.grad(lambda h: head_lib.loss(logits(h, train_x), train_y, train_mask,
                                               groups))(h)
      updates, opt_state = tx.update(grads, opt_state, h)
      return optax.apply_updates(h, updates), opt_state
    return jax.lax.fori_loop(0, n, body, (h, opt_state))

  def scored(h, x, y, patients, recordings):
    """(log-odds, labels, patients), one row per recording, as the loop's evaluation."""
    scores = np.asarray(head_lib.log_odds(logits(h, x), groups))
    return eval_outputs.aggregate_recordings(scores, y, patients, recordings,
                                             config.dataset.eval_aggregate, groups)

  def validation_auroc(h) -> float:
    scores, labels, _ = scored(h, val_x, val_y, val_p, val_r)
    return selection.score(
        eval_metrics.per_label_auroc(labels, scores, source.label_names)["auroc_mean"],
        source.label_names)

  best_score, best_step, best_head = -np.inf, 0, head
  if score_start:
    best_score, best_head = validation_auroc(head), jax.device_get(head)
  step = 0
  while step < config.total_steps:
    n = min(config.eval_every, config.total_steps - step)
    head, opt_state = train_chunk(head, opt_state, n)
    step += n
    if not bool(nonfinite.all_finite(head)):
      raise nonfinite.NonFiniteError(
          f"linear probe, step {step}: the head's weights are NaN or infinite; lower "
          f"--config.probe_learning_rate (now {config.probe_learning_rate})")
    score = validation_auroc(head)
    if selection.keeps(score, best_score):
      best_score, best_step, best_head = score, step, jax.device_get(head)
  logging.info("linear probe: best validation mean AUROC %.3f at step %d", best_score,
               best_step)
  validation = scored(best_head, val_x, val_y, val_p, val_r)
  test = scored(best_head, test_x, test_y, test_p, test_r) if score_test else None
  if standardized is not None:
    # The kept head reads the backbone's raw features, as every other head does (the
    # checkpoint, LP-FT's start, predict): the standardisation folded into it.
    best_head = standardized.head_to_raw(best_head)
  return Probed(head=best_head, step=best_step, validation=validation, test=test)


@dataclasses.dataclass
class Standardization:
  """Each feature centred and scaled by its mean and standard deviation on the training
  split: the probe's `probe_features=standardized`, MAE's BatchNorm without affine
  before the linear classifier (He et al., CVPR 2022). A frozen random encoder's
  features keep whatever scale initialisation gave them (its BatchNorm statistics are
  the initial 0 and 1), which a linear head with one learning rate fits poorly.
  A carried head starts as its standardized equivalent, and `decay_to_start` pulls
  toward that, in the standardized features' units."""
  mean: np.ndarray
  scale: np.ndarray

  @classmethod
  def fit(cls, features: np.ndarray) -> "Standardization":
    features = np.asarray(features, np.float64)
    std = features.std(axis=0)
    # A constant feature (a ReLU dead on every training ECG) is left unscaled.
    return cls(features.mean(axis=0).astype(np.float32),
               np.where(std > 1e-6, std, 1.0).astype(np.float32))

  def __call__(self, features: np.ndarray) -> np.ndarray:
    return ((np.asarray(features, np.float32) - self.mean) / self.scale).astype(np.float32)

  def head_from_raw(self, head: dict) -> dict:
    """The head on standardized features that scores as `head` does on raw ones."""
    kernel = np.asarray(head["kernel"], np.float32)
    return {"kernel": kernel * self.scale[:, None],
            "bias": np.asarray(head["bias"], np.float32) + self.mean @ kernel}

  def head_to_raw(self, head: dict) -> dict:
    kernel = np.asarray(head["kernel"], np.float32) / self.scale[:, None]
    return {"kernel": kernel, "bias": np.asarray(head["bias"], np.float32)
            - self.mean @ kernel}
