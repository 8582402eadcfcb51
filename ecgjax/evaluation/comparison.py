"""Comparing two models' AUROCs on the same test ECGs.

DeLong's test (DeLong, DeLong & Clarke-Pearson, Biometrics 1988), computed with
Sun & Xu's midrank algorithm (IEEE Signal Process Lett 2014), treats ECGs as
independent; the paired patient bootstrap of the difference respects patients
with several ECGs. Reports carry both.
"""

import dataclasses

import numpy as np
import scipy.stats

from ecgjax.evaluation import bootstrap


@dataclasses.dataclass(frozen=True)
class DeLongResult:
  auroc_a: float
  auroc_b: float
  difference: float        # a - b
  standard_error: float
  z: float
  p_value: float           # two-sided


def delong_covariance(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """AUROCs of k score vectors (k, n) on labels y, and their DeLong covariance (k, k)."""
  scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
  pos, neg = scores[:, y == 1], scores[:, y == 0]
  m, n = pos.shape[1], neg.shape[1]
  if m < 2 or n < 2:
    raise ValueError(f"DeLong needs at least 2 positives and 2 negatives, got {m} and {n}")
  rank_pos = scipy.stats.rankdata(pos, axis=1)
  rank_neg = scipy.stats.rankdata(neg, axis=1)
  rank_all = scipy.stats.rankdata(np.concatenate([pos, neg], axis=1), axis=1)
  auroc = (rank_all[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
  v_pos = (rank_all[:, :m] - rank_pos) / n          # per positive: share of negatives below
  v_neg = 1 - (rank_all[:, m:] - rank_neg) / m      # per negative: share of positives above
  covariance = (np.atleast_2d(np.cov(v_pos)) / m + np.atleast_2d(np.cov(v_neg)) / n)
  return auroc, covariance


def delong_test(y: np.ndarray, score_a: np.ndarray, score_b: np.ndarray) -> DeLongResult:
  auroc, cov = delong_covariance(y, np.stack([score_a, score_b]))
  difference = float(auroc[0] - auroc[1])
  variance = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
  if variance <= 0:       # identical rankings: no evidence of a difference
    return DeLongResult(float(auroc[0]), float(auroc[1]), difference, 0.0, 0.0, 1.0)
  se = np.sqrt(variance)
  z = difference / se
  return DeLongResult(float(auroc[0]), float(auroc[1]), difference, float(se), float(z),
                      float(2 * scipy.stats.norm.sf(abs(z))))


def paired_bootstrap_difference(y: np.ndarray, score_a: np.ndarray, score_b: np.ndarray,
                                weights: np.ndarray, level: float = 0.95) -> bootstrap.Interval:
  """AUROC(a) - AUROC(b), each resample scoring both models on the same patients."""
  def difference(y, _, w):
    return bootstrap.weighted_auroc(y, score_a, w) - bootstrap.weighted_auroc(y, score_b, w)
  return bootstrap.interval(difference, y, score_a, weights, level=level)
