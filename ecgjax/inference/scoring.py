"""A trained model loaded from its directory, scored as its card says.

`load` reads the checkpoint (parameters and BatchNorm statistics) and its card,
rebuilds the network from the card's `model` entry and refuses a card that does
not fit the weights.

Scoring is two steps, as in evaluation: `Scorer` runs the network on stored int16 µV
windows, jitted with the batch sharded over this process's devices, and returns
their log-odds (models.head.log_odds); `LoadedModel.calibrate` maps a recording's
pooled log-odds to the probabilities a user sees, with the card's Platt parameters,
in float64 (evaluation.calibration.apply_platt, the function the card's thresholds
were chosen through). The exports serve one float32 graph instead
(`calibrated_probabilities`), checked against this path when written
(serving_export.TOLERANCE); its probabilities round to 1.0 sooner.
"""

import dataclasses

import jax
import numpy as np
from flax import nnx

from ecgjax.evaluation import calibration, exclusive
from ecgjax.models import construction, head, model_card, resnet1d, self_supervised
from ecgjax.training import checkpoints, mesh as mesh_lib, steps, transfer


class ModelDirectoryError(ValueError):
  """--model names something that is not a usable trained model."""


def _no_card_message(directory: str, step: int) -> str:
  return (f"{directory} step {step} has no model card (it was written before ecgjax wrote "
          "cards). Write one on the dataset it was trained on, which chooses thresholds and "
          "calibration on its validation split:\n  python -m ecgjax.main "
          "--config=ecgjax/configs/evaluate.py --workdir=EVAL_DIR "
          f"--config.checkpoint={directory} --config.checkpoint_step={step} "
          "--config.write_card=True")


@dataclasses.dataclass
class LoadedModel:
  card: dict
  directory: str
  step: int
  graphdef: nnx.GraphDef
  params: dict
  batch_stats: dict

  @property
  def labels(self) -> list[str]:
    return self.card["labels"]

  @property
  def encoder_only(self) -> bool:
    """A self-supervised encoder: embeddings, no labels."""
    return model_card.is_self_supervised(self.card)

  def platt(self) -> tuple[np.ndarray, np.ndarray]:
    """Per label (a, b), float32, for a compiled graph (the exports)."""
    per_label = self._platt_params()
    return (np.array([p["a"] for p in per_label], np.float32),
            np.array([p["b"] for p in per_label], np.float32))

  def calibrate(self, log_odds: np.ndarray) -> np.ndarray:
    """(..., labels) log-odds from a Scorer -> float64 calibrated probabilities."""
    return calibration.apply_platt(log_odds, self._platt_params())

  def _platt_params(self) -> list[dict]:
    return [self.card["calibration"]["labels"][n] for n in self.labels]

  def thresholds(self) -> np.ndarray:
    """Per label; NaN where the card has none (such a label is never called positive)."""
    return np.array([np.nan if self.card["thresholds"][n] is None else self.card["thresholds"][n]
                     for n in self.labels], np.float64)

  def group_indices(self) -> list[list[int]]:
    """The card's exclusive groups, by head index."""
    return [[self.labels.index(n) for n in g] for g in self.card.get("exclusive_groups") or ()]

  def called(self, probabilities: np.ndarray) -> np.ndarray:
    """(n, labels) calibrated probabilities -> which labels are positive, as predict's
    `positive` says and evaluation measures: at or above its threshold (NaN never), and
    a class of an exclusive group only where it is the group's most probable, so
    `positive` never contradicts `class`."""
    decision = exclusive.decision_scores(np.atleast_2d(probabilities), self.group_indices())
    with np.errstate(invalid="ignore"):
      return decision >= self.thresholds()


def build_network(card: dict) -> resnet1d.ResNet1D | self_supervised.SelfSupervisedNet:
  """The card's network, its weights shapes only (models.construction.abstract): `load`
  replaces every one with the checkpoint's."""
  entry = card["model"]
  if model_card.is_self_supervised(card):
    return construction.abstract(lambda: self_supervised.SelfSupervisedNet(
        resnet1d.config_from(entry["config"]), card["embedding"]["objective"]["projector"],
        entry["in_leads"], rngs=nnx.Rngs(0)))
  groups = head.group_indices(card["labels"], card.get("exclusive_groups") or ())
  return construction.abstract(lambda: resnet1d.ResNet1D(
      resnet1d.config_from(entry["config"]), entry["num_labels"], entry["in_leads"],
      rngs=nnx.Rngs(0), exclusive_groups=groups))


def load(model_dir: str, step: int | None = None) -> LoadedModel:
  """A pretraining or fine-tuning workdir, its checkpoints/ or one step directory."""
  try:
    saved = checkpoints.read_pretrained(model_dir, step, what="--model")
  except checkpoints.InitFromError as e:
    raise ModelDirectoryError(str(e)) from e
  if saved.card is None:
    raise ModelDirectoryError(_no_card_message(saved.directory, saved.step))
  card = model_card.validate(saved.card, f"{saved.directory} step {saved.step}")
  graphdef, params, batch_stats = nnx.split(build_network(card), nnx.Param, nnx.BatchStat)
  source = f"checkpoint {saved.directory} step {saved.step}"
  try:
    params = transfer.transfer(nnx.to_pure_dict(params), saved.params, reinit="^$",
                               source=source)[0]
    batch_stats = transfer.transfer(nnx.to_pure_dict(batch_stats), saved.batch_stats,
                                    reinit="^$", source=source)[0]
  except transfer.ArchitectureMismatchError as e:
    raise ModelDirectoryError(f"the model card does not describe the weights: {e}") from e
  return LoadedModel(card, saved.directory, saved.step, graphdef, params, batch_stats)


def log_odds(graphdef, params, batch_stats, signal: jax.Array) -> jax.Array:
  """int16 µV (batch, samples, leads) -> fp32 log-odds (batch, labels), inference mode,
  as evaluation scores them (training.steps.eval_step_fn)."""
  model = nnx.merge(graphdef, params, batch_stats, copy=True)
  raw = model(steps.signal_to_model_input(signal), train=False)
  return head.log_odds(raw, model.exclusive_groups)


def embed(graphdef, params, batch_stats, signal: jax.Array) -> jax.Array:
  """int16 µV (batch, samples, leads) -> fp32 (batch, features): the backbone's pooled
  features, inference mode, as training's monitor reads them (steps.embed_step_fn)."""
  model = nnx.merge(graphdef, params, batch_stats, copy=True)
  return model.backbone(steps.signal_to_model_input(signal), train=False)


def calibrated_probabilities(graphdef, params, batch_stats, platt_a, platt_b,
                             signal: jax.Array) -> jax.Array:
  """The exports' graph, in float32: per label sigmoid(a * logit + b); an exclusive
  group's classes, the softmax over the group (models.head), whose probabilities
  already sum to 1."""
  model = nnx.merge(graphdef, params, batch_stats, copy=True)
  raw = model(steps.signal_to_model_input(signal), train=False)
  return head.probabilities(raw, model.exclusive_groups, platt_a, platt_b)


class Scorer:
  """Log-odds (or, `embeddings`, the backbone's features) for any number of windows, in
  fixed-size batches sharded over the local devices (one compilation, whatever the
  count)."""

  def __init__(self, model: LoadedModel, batch_size: int = 64, embeddings: bool = False):
    mesh = mesh_lib.make_data_mesh(jax.local_devices())
    devices = len(jax.local_devices())
    self.batch_size = -(-batch_size // devices) * devices
    replicated, sharded = mesh_lib.replicated(mesh), mesh_lib.batch_sharded(mesh)
    self._weights = jax.device_put((model.params, model.batch_stats), replicated)
    self._sharding = sharded
    graphdef = model.graphdef
    fn = embed if embeddings else log_odds
    self.width = (nnx.merge(graphdef, model.params, model.batch_stats).backbone.features
                  if embeddings else len(model.labels))
    self._score = jax.jit(
        lambda w, x: fn(graphdef, *w, x),
        in_shardings=(replicated, sharded), out_shardings=sharded)
    contract = model.card["input"]
    self.window_shape = (int(contract["samples"]), len(contract["leads"]))

  def __call__(self, windows: np.ndarray) -> np.ndarray:
    out = []
    for start in range(0, len(windows), self.batch_size):
      chunk = windows[start:start + self.batch_size]
      batch = np.zeros((self.batch_size, *self.window_shape), np.int16)
      batch[:len(chunk)] = chunk
      scores = self._score(self._weights, jax.device_put(batch, self._sharding))
      out.append(np.asarray(scores)[:len(chunk)])
    return np.concatenate(out) if out else np.zeros((0, self.width), np.float32)
