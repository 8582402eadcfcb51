"""Which parts of an ECG made the model call a label: integrated gradients.

Integrated gradients (Sundararajan et al. 2017) of a label's logit with respect
to the input in millivolts, from a flat (0 mV, isoelectric) baseline, 32
midpoint steps: attribution = x * mean over alpha of d logit / dx at alpha * x.
Chosen over gradient x input because it is complete (the attributions add up to
logit(x) - logit(baseline), which tests/test_explain.py checks) and does not
saturate where a confident model's gradient vanishes. The logit, not the
calibrated probability: calibration is monotone per label and would only
rescale the map. The flat baseline means "no electrical activity", the one
reference every lead shares.

tests/test_explain.py shows the map is about the finding, not decoration: for a
model trained to detect premature ventricular contractions, the attribution
concentrates on the premature beats, and a model with randomised weights gives a
different map (the model-randomisation check of Adebayo et al. 2018).
"""

import os
import re

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ecgjax.inference import ecg_plot, scoring

IG_STEPS = 32


def make_integrated_gradients(graphdef, steps: int = IG_STEPS):
  """A jitted (params, batch_stats, int16 window (samples, leads), label index) ->
  (attribution (samples, leads) in logit units, logit(x) - logit(baseline))."""

  def logit_of(params, batch_stats, x_mv, label):
    net = nnx.merge(graphdef, params, batch_stats, copy=True)
    return net(x_mv[None], train=False)[0, label]

  @jax.jit
  def integrated_gradients(params, batch_stats, window, label):
    x = window.astype(jnp.float32) / 1000.0
    alphas = (jnp.arange(steps, dtype=jnp.float32) + 0.5) / steps
    grad = jax.grad(logit_of, argnums=2)
    grads = jax.vmap(lambda a: grad(params, batch_stats, a * x, label))(alphas)
    attribution = x * grads.mean(axis=0)
    gap = logit_of(params, batch_stats, x, label) - logit_of(
        params, batch_stats, jnp.zeros_like(x), label)
    return attribution, gap

  return integrated_gradients


def _versus(probability: float, threshold: float) -> str:
  """A label's probability against its card threshold, as a reader checks it."""
  if np.isnan(threshold):
    return "no threshold"
  return f"{'at or above' if probability >= threshold else 'below'} threshold {threshold:.2f}"


def _safe(text: str) -> str:
  return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "ecg"


def explanation_title(record: str, window: int, windows: int, first_label: str,
                      positives: int, shown: int) -> str:
  """What a figure says above the ECG: which window of a long record is drawn, and
  which labels: none positive (the most probable is shown), or `shown` of `positives`."""
  where = ("" if windows == 1 else
           f", window {window + 1} of {windows} (where {first_label} is most probable)")
  if not positives:
    which = "No label reaches its threshold: the most probable is shown. "
  elif shown < positives:
    which = f"{shown} of {positives} positive labels shown, the most probable (--explain_top). "
  else:
    which = ""
  return (f"{record}{where}. {which}The strips under each lead show where each label's "
          "logit comes from (integrated gradients).")


class Explainer:
  """One PNG per scored ECG: its model-rate window with the attributions of its top
  positive labels (or, with none positive, of its most probable label)."""

  def __init__(self, model: scoring.LoadedModel, out_dir: str, top: int = 3):
    self.model = model
    self.out_dir = out_dir
    self.top = max(1, top)
    self.labels = model.labels
    self.sampling_rate = float(model.card["input"]["sampling_rate"])
    self.lead_names = model.card["input"]["leads"]
    self._ig = make_integrated_gradients(model.graphdef)
    self._written: set[str] = set()
    os.makedirs(out_dir, exist_ok=True)

  def _file_name(self, path: str, record: str) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    name = _safe(record if record == stem else f"{stem}_{record}")
    candidate, k = name, 1
    while candidate in self._written:
      k += 1
      candidate = f"{name}_{k}"
    self._written.add(candidate)
    return os.path.join(self.out_dir, candidate + ".png")

  def attributions(self, window: np.ndarray, label_indices) -> dict[int, np.ndarray]:
    return {k: np.asarray(self._ig(self.model.params, self.model.batch_stats,
                                   jnp.asarray(window), k)[0]) for k in label_indices}

  def draw(self, prepared, per_window: np.ndarray, probs: np.ndarray, positive) -> str:
    """Writes the PNG for one scored ECG and returns its path."""
    chosen = sorted((self.labels.index(n) for n in positive), key=lambda k: -probs[k])
    chosen = (chosen or [int(np.argmax(probs))])[:self.top]
    # The window where the first label is most probable: where its finding is.
    w = int(np.argmax(per_window[:, chosen[0]]))
    window = prepared.windows[w]
    maps = self.attributions(window, chosen)
    thresholds = self.model.thresholds()
    legend = {f"{self.labels[k]}: p {probs[k]:.2f}, {_versus(probs[k], thresholds[k])}": maps[k]
              for k in chosen}
    title = explanation_title(prepared.record, w, len(prepared.windows),
                              self.labels[chosen[0]], len(positive), len(chosen))
    fig = ecg_plot.draw_ecg(window, self.sampling_rate, self.lead_names, attributions=legend,
                            title=title)
    path = self._file_name(prepared.path, prepared.record)
    fig.savefig(path)
    return path
