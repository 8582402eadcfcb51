"""Per-label probability calibration (Platt scaling) and how calibrated a score is.

A network trained with BCE on one archive ranks ECGs well but its probabilities
need not mean what they say, least of all after fine-tuning on a few hundred
examples. Platt scaling fits, per label, p = sigmoid(a * z + b) on the validation
split, where z is the model's log-odds (evaluation.log_odds): the very values predict
applies the map to, never logits recovered from rounded probabilities. It is
monotone for a > 0, so it never changes a label's ranking (AUROC) and a threshold
maps through it unchanged in meaning. Two parameters, not temperature's one: a
multi-label head's logits are off by a shift as well as a scale when prevalence
differs between training and validation.

Targets are Platt's smoothed ones ((N+ + 1) / (N+ + 2) for positives, 1 / (N- + 2)
for negatives): with them the fit stays finite on a validation split the model
separates perfectly, where plain logistic regression drives `a` to infinity.

Expected calibration error (15 equal-width bins, Guo et al. 2017) and the Brier
score are computed under bootstrap weights like the other metrics, so they carry
95% CIs.
"""

import numpy as np

from ecgjax.evaluation import bootstrap, log_odds

ECE_BINS = 15
IDENTITY = {"a": 1.0, "b": 0.0}


def fit_platt(y_true: np.ndarray, scores: np.ndarray) -> dict:
  """{'a', 'b'} for one label's log-odds `scores`, or the identity with a `reason` where
  no fit is sound: one class only, or a fit that would reverse the ranking (a <= 0)."""
  y = np.asarray(y_true).astype(bool)
  positives, negatives = int(y.sum()), int((~y).sum())
  if not positives or not negatives:
    return {**IDENTITY, "reason": f"validation split has {positives} positives and "
                                  f"{negatives} negatives"}
  f = np.asarray(scores, np.float64)
  target = np.where(y, (positives + 1) / (positives + 2), 1 / (negatives + 2))

  def loss_and_grad(ab):
    z = ab[0] * f + ab[1]
    # BCE with logits, stable for any z.
    loss = np.sum(np.logaddexp(0, z) - target * z)
    residual = log_odds.to_probabilities(z) - target
    return loss, np.array([np.sum(residual * f), np.sum(residual)])

  # Imported where used: predict applies a card's calibration and never fits one (~0.5 s).
  import scipy.optimize
  fit = scipy.optimize.minimize(loss_and_grad, np.array([1.0, 0.0]), jac=True, method="BFGS")
  a, b = (float(v) for v in fit.x)
  if not (np.isfinite(a) and np.isfinite(b)) or a <= 0:
    return {**IDENTITY, "reason": f"Platt fit gave a={a:.3g}: scores do not rise with "
                                  "the label on validation"}
  return {"a": a, "b": b}


def apply_platt(scores: np.ndarray, params: list[dict]) -> np.ndarray:
  """(n, labels) log-odds -> float64 calibrated probabilities, one Platt map per label
  column. Threshold choice, results and predict all call this, so a threshold is
  compared with the value it was chosen on, bit for bit."""
  a = np.array([p["a"] for p in params], np.float64)
  b = np.array([p["b"] for p in params], np.float64)
  return log_odds.to_probabilities(a * np.asarray(scores, np.float64) + b)


def weighted_ece(y: np.ndarray, score: np.ndarray, w: np.ndarray) -> np.ndarray:
  """Expected calibration error under each row of weights w (B, n)."""
  bins = np.minimum((np.asarray(score) * ECE_BINS).astype(int), ECE_BINS - 1)
  # ECGs in bin order, so each non-empty bin is one slice that `reduceat` sums: row by
  # row, in one order whatever the block (a matrix product's order depends on its shape).
  order = np.argsort(bins, kind="stable")
  binned = bins[order]
  starts = np.flatnonzero(np.concatenate([[True], binned[1:] != binned[:-1]]))
  error = (score - y)[order]

  def ece(block):      # gap: (rows, non-empty bins), each bin's weighted sum of p - y
    gap = np.add.reduceat(np.take(block, order, axis=1) * error, starts, axis=1)
    return np.abs(gap).sum(axis=1) / block.sum(axis=1)

  with np.errstate(invalid="ignore", divide="ignore"):
    return bootstrap.per_row_block(w, ece)


def weighted_brier(y: np.ndarray, score: np.ndarray, w: np.ndarray) -> np.ndarray:
  squared = (score - y) ** 2
  with np.errstate(invalid="ignore", divide="ignore"):
    return bootstrap.per_row_block(
        w, lambda block: (block * squared).sum(axis=1) / block.sum(axis=1))


def reliability_curve(y: np.ndarray, score: np.ndarray, bins: int = 10):
  """(mean predicted, observed frequency, count) per non-empty equal-width bin."""
  index = np.minimum((np.asarray(score) * bins).astype(int), bins - 1)
  count = np.bincount(index, minlength=bins)
  predicted = np.bincount(index, weights=score, minlength=bins)
  observed = np.bincount(index, weights=np.asarray(y, np.float64), minlength=bins)
  keep = count > 0
  return predicted[keep] / count[keep], observed[keep] / count[keep], count[keep]
