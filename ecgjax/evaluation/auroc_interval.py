"""An AUROC interval that stays honest where the bootstrap collapses.

With few positives and perfect separation, every patient-bootstrap resample has
AUROC 1 and the percentile interval is [1, 1]: a claim of certainty that 6
positives cannot support. Newcombe (2006, "Confidence intervals for an effect
size measure based on the Mann-Whitney statistic. Part 2: asymptotic methods
and evaluation", Stat Med 25:559-573), method 5, is a score-type interval: the
set of AUROCs θ with (A - θ)² ≤ z² V(θ), where V is the Hanley-McNeil variance
with both sample sizes replaced by N* = (m + n) / 2:

    V(θ) = θ(1 - θ) [2N* - 1 - (3N* - 3) / ((2 - θ)(1 + θ))] / (m n).

Like Wilson's interval for a proportion, it is never degenerate at A = 0 or 1
and it is symmetric under A -> 1 - A. It ignores patient clustering, which the
bootstrap keeps; results.py reports the union of the two intervals, so each
covers what the other misses.
"""

import numpy as np
from scipy import optimize, stats


def hanley_mcneil_variance(theta: float, n_pos: int, n_neg: int) -> float:
  n_star = (n_pos + n_neg) / 2
  return (theta * (1 - theta) * (2 * n_star - 1 - (3 * n_star - 3) / ((2 - theta) * (1 + theta)))
          / (n_pos * n_neg))


def newcombe_interval(auroc: float, n_pos: int, n_neg: int,
                      level: float = 0.95) -> tuple[float, float]:
  """(low, high) of Newcombe's method 5 for an AUROC from n_pos positives and n_neg
  negatives."""
  if n_pos < 1 or n_neg < 1 or not 0 <= auroc <= 1:
    raise ValueError(f"need positives, negatives and an AUROC in [0, 1]; got "
                     f"n_pos={n_pos}, n_neg={n_neg}, auroc={auroc}")
  z = stats.norm.ppf(0.5 + level / 2)

  def outside(theta):   # > 0 where theta lies outside the interval
    return (auroc - theta) ** 2 - z * z * hanley_mcneil_variance(theta, n_pos, n_neg)

  # (A - θ)² - z²V(θ) is negative just inside [0, 1] at A (at A = 0 or 1 both terms
  # vanish, so step in from the boundary), positive beyond the interval: one root on
  # each side unless the interval reaches 0 or 1.
  inside = min(max(auroc, 1e-9), 1 - 1e-9)
  low = 0.0 if outside(0.0) <= 0 else optimize.brentq(outside, 0.0, inside, xtol=1e-12)
  high = 1.0 if outside(1.0) <= 0 else optimize.brentq(outside, inside, 1.0, xtol=1e-12)
  return float(low), float(high)


def widen(auroc: float, low: float, high: float, n_pos: int, n_neg: int,
          level: float = 0.95) -> tuple[float, float, float, float]:
  """A bootstrap interval (low, high) widened to Newcombe's where that is wider: the
  interval every AUROC report of ecgjax gives. Returns (low, high, newcombe_low,
  newcombe_high); a NaN bootstrap bound (no resample defined) yields Newcombe's."""
  n_low, n_high = newcombe_interval(auroc, n_pos, n_neg, level)
  return (float(np.nanmin([low, n_low])), float(np.nanmax([high, n_high])), n_low, n_high)
