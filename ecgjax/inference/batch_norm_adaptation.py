"""Adapting a model to a new cart without labels: its BatchNorm statistics recomputed
on unlabelled ECGs (AdaBN: Li Y et al., "Revisiting batch normalization for
practical domain adaptation", ICLR workshop 2017).

A network normalises each layer by running statistics gathered on its training
data; another cart's filters, gain and noise shift those statistics. Recomputing
them on the user's own ECGs (the weights untouched, no label read) re-centres
every layer on the new data. `predict --adapt_batch_norm=OUT` does it on the files
it scores and writes the adapted model as a model directory.

Each batch is normalised by its own statistics, as in training; a layer's adapted
mean and variance are those of its inputs over all the ECGs' windows (the batches'
moments pooled, so the variance counts the spread between batches too).
"""

import datetime

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ecgjax.inference import scoring
from ecgjax.models import model_card
from ecgjax.training import checkpoints, steps


class AdaptationError(ValueError):
  pass


def adapted_batch_stats(model: scoring.LoadedModel, windows: np.ndarray,
                        batch_size: int = 64) -> dict:
  """`model`'s BatchNorm statistics recomputed on `windows` (n, samples, leads) int16."""
  if not len(windows):
    raise AdaptationError("no ECG windows to adapt the BatchNorm statistics on")
  network = nnx.merge(model.graphdef, model.params, model.batch_stats, copy=True)
  for _, module in nnx.iter_modules(network):
    if isinstance(module, nnx.BatchNorm):
      module.momentum = 0.0          # a train-mode pass leaves this batch's statistics
  graphdef, params, stats = nnx.split(network, nnx.Param, nnx.BatchStat)

  @jax.jit
  def batch_moments(params, stats, signal):
    net = nnx.merge(graphdef, params, stats)
    net(steps.signal_to_model_input(signal), train=False, batch_norm_train=True)
    return nnx.to_pure_dict(nnx.state(net, nnx.BatchStat))

  first = second = None                  # sums of E[x] and E[x^2] weighted by batch size
  for start in range(0, len(windows), batch_size):
    chunk = windows[start:start + batch_size]
    moments = jax.device_get(batch_moments(params, stats, jnp.asarray(chunk)))
    weight = len(chunk)
    mean_sum = _map_norms(moments, lambda m: weight * np.asarray(m["mean"], np.float64))
    square_sum = _map_norms(moments, lambda m: weight * (np.asarray(m["var"], np.float64)
                                                         + np.square(m["mean"])))
    first = mean_sum if first is None else jax.tree.map(np.add, first, mean_sum)
    second = square_sum if second is None else jax.tree.map(np.add, second, square_sum)
  n = len(windows)
  return _combine(first, second, n, model.batch_stats)


def _map_norms(tree: dict, fn) -> dict:
  """`fn` of every BatchNorm's {'mean', 'var'} entry, in the same nesting."""
  if isinstance(tree, dict) and set(tree) == {"mean", "var"}:
    return fn(tree)
  return {k: _map_norms(v, fn) for k, v in tree.items()}


def _combine(first, second, n: int, like: dict) -> dict:
  """{'mean', 'var'} per BatchNorm from the pooled moments, in `like`'s dtypes."""
  if isinstance(like, dict) and set(like) == {"mean", "var"}:
    mean = first / n
    var = np.maximum(second / n - np.square(mean), 0.0)
    return {"mean": mean.astype(np.asarray(like["mean"]).dtype),
            "var": var.astype(np.asarray(like["var"]).dtype)}
  return {k: _combine(first[k], second[k], n, like[k]) for k in like}


def write_adapted_model(model_dir: str, step: int | None, batch_stats: dict, out_dir: str,
                        ecgs: int, windows: int) -> str:
  """The model at `model_dir` with `batch_stats`, as a model directory in `out_dir`;
  its card says what was adapted, on how much, and that the operating points are the
  unadapted model's."""
  saved = checkpoints.read_pretrained(model_dir, step, what="--model")
  card = dict(saved.card)
  card["training"] = {**card["training"], "batch_norm_adaptation": {
      "method": "AdaBN: BatchNorm statistics recomputed on unlabelled ECGs (Li et al. 2017)",
      "ecgs": int(ecgs), "windows": int(windows),
      "operating_points": "the model's before adaptation",
      "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}}
  adapted = checkpoints.Pretrained(saved.directory, saved.step, saved.config, saved.params,
                                   batch_stats, card)
  written = checkpoints.write_model_directory(adapted, out_dir)
  model_card.write(written, card)
  return written
