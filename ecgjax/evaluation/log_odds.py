"""Log-odds, the scores that evaluation and predict carry from the model to calibration.

The model's outputs come off the device as log-odds (models.head.log_odds): for an
independent label its logit, for an exclusive class the log-odds of its softmax
probability. Everything on the host reads those: AUROC ranks them, Platt scaling is
fitted on them and applied to them (evaluation.calibration), and a probability is
formed only at the end, in float64, where it is compared with a threshold or shown.
float64's sigmoid rounds to 1.0 past a log-odds of about 36.7, against float32's 16.6.

A recording scored in several windows is pooled here, one way for evaluation
(training.eval_outputs) and predict (inference.score_files) alike.
"""

import numpy as np

POOLINGS = ("max", "mean")

# The smallest and largest float64 probabilities whose log-odds are finite: a mean of
# probabilities that rounds to 0 or 1 maps to about -745 or +36.7, not to infinity.
_TINY = np.finfo(np.float64).tiny
_BELOW_ONE = 1 - np.finfo(np.float64).epsneg


def to_probabilities(log_odds) -> np.ndarray:
  """sigmoid, in float64."""
  return 0.5 * (1 + np.tanh(0.5 * np.asarray(log_odds, np.float64)))


def from_probabilities(probabilities) -> np.ndarray:
  """log(p / (1 - p)) in float64, finite for p in [0, 1]."""
  p = np.clip(np.asarray(probabilities, np.float64), _TINY, _BELOW_ONE)
  return np.log(p) - np.log1p(-p)


def pool(windows: np.ndarray, how: str, groups=()) -> np.ndarray:
  """(windows, outputs) log-odds of one recording -> (outputs,): the most confident
  window's (`max`), or the log-odds of the windows' mean probability (`mean`). An
  exclusive group's columns (`groups`: tuples of column indices) always take the mean
  probability, which is still a distribution over the group; the maximum is not."""
  if how not in POOLINGS:
    raise ValueError(f"aggregate must be one of {POOLINGS}, got {how!r}")
  windows = np.asarray(windows)
  if len(windows) == 1:
    return windows[0].astype(np.float64)
  if how == "max" and not groups:
    return windows.max(axis=0).astype(np.float64)
  mean = from_probabilities(to_probabilities(windows).mean(axis=0))
  if how == "mean":
    return mean
  out = windows.max(axis=0).astype(np.float64)
  for columns in groups:
    out[list(columns)] = mean[list(columns)]
  return out
