"""Confidence intervals by bootstrap over patients, vectorised over resamples.

ECGs of one patient are correlated, so resampling ECGs would understate the
uncertainty: each resample draws patients with replacement and weights every
ECG by how often its patient was drawn; the weights are kept as one-byte counts. Each
label is ranked once (`Ranking`, tie groups handled exactly) and its resamples are
scored from prefix sums of their weights, a block of resamples at a time: 1,000
resamples of a few thousand ECGs take a few milliseconds per metric, and of 100,000
ECGs a few seconds for all of a label's, in megabytes of temporaries beside the
weights' 100 MB (benchmarks/bootstrap_intervals.py).
"""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Interval:
  estimate: float
  low: float
  high: float
  resamples: int            # resamples in which the metric was defined


# How many bytes of each (resamples, ECGs) temporary one pass holds: the resamples are
# scored a block of rows at a time, so a test split of 100,000 ECGs costs a few
# megabytes beyond its weights, not several copies of them (gigabytes), and blocks this
# small are recycled by the allocator instead of being mapped and faulted in afresh.
BLOCK_BYTES = 4 << 20


def _rows_per_block(width: int, block_bytes: int) -> int:
  """How many rows of `width` float64 (or int64) values fit one block."""
  return max(1, block_bytes // (8 * max(1, width)))


def _row_blocks(w: np.ndarray, block_bytes: int):
  rows = _rows_per_block(w.shape[1], block_bytes)
  for start in range(0, len(w), rows):
    yield slice(start, start + rows)


def patient_weights(patients: np.ndarray, resamples: int, seed: int) -> np.ndarray:
  """(resamples, n) weights: how often each ECG's patient was drawn, as counts in the
  narrowest unsigned integer type that holds them (one byte almost always), which the
  metrics read a block of rows at a time (`per_row_block`): a test split of 100,000
  ECGs keeps 100 MB of weights, where float64 weights took 800 MB and their int64
  draws as much again."""
  _, index = np.unique(patients, return_inverse=True)
  n_patients = index.max() + 1
  rng = np.random.default_rng(seed)
  uniform = np.full(n_patients, 1 / n_patients)
  # Drawn a block of resamples at a time: the same draws as one call for all of them
  # (the generator draws row after row), without the whole int64 array.
  rows = _rows_per_block(n_patients, BLOCK_BYTES)
  counts = narrowest_counts(
      rng.multinomial(n_patients, uniform, size=min(rows, resamples - start))
      for start in range(0, resamples, rows))
  # Spread per patient to ECGs: one (resamples, n) array made, in the narrow type.
  return np.take(counts, index, axis=1)


def narrowest_counts(blocks) -> np.ndarray:
  """Blocks of rows of non-negative integer counts, stacked in the narrowest unsigned
  type that holds every count: one byte, widened where a block holds a larger count.
  Each block is narrowed as it comes, so the wide blocks never exist together."""
  narrowed, dtype = [], np.dtype(np.uint8)
  for block in blocks:
    largest = int(block.max(initial=0))
    if largest > np.iinfo(dtype).max:
      dtype = np.min_scalar_type(largest)
      narrowed = [b.astype(dtype) for b in narrowed]
    narrowed.append(block.astype(dtype))
  return np.concatenate(narrowed)


def per_row_block(w: np.ndarray, metric, block_bytes: int = BLOCK_BYTES) -> np.ndarray:
  """`metric(block)` -> one value per row, over w's rows a block at a time: the same
  values as `metric(w)` for a metric computed row by row, with temporaries a block's
  size. The block keeps the weights' type (one-byte counts from `patient_weights`): a
  metric multiplies it by floats or sums it with NumPy's reductions, which add small
  integers in 64 bits, never in the block's own type (a sum of counts passes 255)."""
  out = np.empty(len(w))
  for rows in _row_blocks(w, block_bytes):
    out[rows] = metric(w[rows])
  return out


class Ranking:
  """One label's examples ranked by score once, for its AUROC and average precision
  under any number of weight rows (bootstrap resamples).

  Both metrics need, for each positive, the weight of the negatives below its score
  (AUROC, ties counted half) or of every example at or above it (precision). Ranked
  once, those are prefix sums over the negatives and over the positives, each in
  score order, read where each positive's tie group starts and ends: one gather and one
  cumulative sum of the weights per metric pass, none of the masked copies of the whole
  weight matrix an ECG-by-ECG formulation needs. The weights are counts, so every
  prefix sum, and AUROC's numerator, is an exact integer (or half-integer) in float64:
  AUROC does not depend on the order of the sums.
  """

  def __init__(self, y: np.ndarray, score: np.ndarray):
    y = np.asarray(y)
    if not np.isin(y, (0, 1)).all():
      raise ValueError("labels must be 0 or 1")
    order = np.argsort(score, kind="stable")
    sorted_score, y_sorted = np.asarray(score)[order], y[order]
    group = np.cumsum(np.concatenate([[True], sorted_score[1:] != sorted_score[:-1]])) - 1
    is_pos = y_sorted == 1
    self.pos_columns, self.neg_columns = order[is_pos], order[~is_pos]
    groups = group[-1] + 1 if len(group) else 0
    pos_in = np.bincount(group[is_pos], minlength=groups)
    neg_in = np.bincount(group[~is_pos], minlength=groups)
    pos_through, neg_through = np.cumsum(pos_in), np.cumsum(neg_in)
    pos_before, neg_before = pos_through - pos_in, neg_through - neg_in
    # AUROC: per positive, the negatives ranked below its tie group and through it.
    of_positive = group[is_pos]
    self.negatives_below = neg_before[of_positive]
    self.negatives_through = neg_through[of_positive]
    self.tied = bool((self.negatives_below != self.negatives_through).any())
    # Average precision: per tie group holding a positive, highest score first.
    held = np.flatnonzero(pos_in)[::-1]
    self.group_pos_before, self.group_pos_through = pos_before[held], pos_through[held]
    self.group_neg_before = neg_before[held]

  def auroc(self, w: np.ndarray, block_bytes: int = BLOCK_BYTES) -> np.ndarray:
    """AUROC under each row of weights w (B, n); NaN where a class has no weight. The
    Mann-Whitney statistic with ties counted half: for every positive, the weight of
    negatives scored below it plus half of those tied with it."""
    return self._per_row(w, block_bytes, ("auroc",))[0]

  def average_precision(self, w: np.ndarray, block_bytes: int = BLOCK_BYTES) -> np.ndarray:
    """Average precision (scikit-learn's step-wise AUPRC) under each row of weights."""
    return self._per_row(w, block_bytes, ("average_precision",))[0]

  def auroc_and_average_precision(self, w: np.ndarray, block_bytes: int = BLOCK_BYTES
                                  ) -> tuple[np.ndarray, np.ndarray]:
    """Both, from one gather and prefix sum of the weights per block of rows."""
    return self._per_row(w, block_bytes, ("auroc", "average_precision"))

  def _per_row(self, w, block_bytes, metrics):
    out = tuple(np.empty(len(w)) for _ in metrics)
    for rows in _row_blocks(w, block_bytes):
      for into, value in zip(out, self._block(w[rows], metrics)):
        into[rows] = value
    return out

  def _block(self, w, metrics):
    positives = np.take(w, self.pos_columns, axis=1)
    negatives_cumulative = _prefix_sums(np.take(w, self.neg_columns, axis=1))
    total_neg = negatives_cumulative[:, -1]
    out = []
    with np.errstate(invalid="ignore", divide="ignore"):
      if "auroc" in metrics:
        below = np.take(negatives_cumulative, self.negatives_below, axis=1)
        if self.tied:
          through = np.take(negatives_cumulative, self.negatives_through, axis=1)
          below += 0.5 * (through - below)
        out.append((positives * below).sum(axis=1) / (positives.sum(axis=1) * total_neg))
      if "average_precision" in metrics:
        positives_cumulative = _prefix_sums(positives)
        total_pos = positives_cumulative[:, -1]
        pos_before = np.take(positives_cumulative, self.group_pos_before, axis=1)
        pos_at_or_above = total_pos[:, None] - pos_before
        every_at_or_above = pos_at_or_above + (
            total_neg[:, None] - np.take(negatives_cumulative, self.group_neg_before, axis=1))
        in_group = np.take(positives_cumulative, self.group_pos_through, axis=1) - pos_before
        precision = pos_at_or_above / every_at_or_above
        out.append(np.nansum(in_group * precision, axis=1) / total_pos)
    return out


def _prefix_sums(w: np.ndarray) -> np.ndarray:
  """(B, m) -> (B, m + 1): each row's sums of its first 0..m columns."""
  out = np.zeros((len(w), w.shape[1] + 1))
  np.cumsum(w, axis=1, dtype=np.float64, out=out[:, 1:])
  return out


def weighted_auroc(y: np.ndarray, score: np.ndarray, w: np.ndarray) -> np.ndarray:
  """AUROC under each row of weights w (B, n) (Ranking.auroc)."""
  return Ranking(y, score).auroc(w)


def weighted_average_precision(y: np.ndarray, score: np.ndarray, w: np.ndarray) -> np.ndarray:
  """Average precision under each row of weights w (B, n) (Ranking.average_precision)."""
  return Ranking(y, score).average_precision(w)


def weight_of(w: np.ndarray, chosen: np.ndarray) -> np.ndarray:
  """Each row's total weight on the chosen ECGs, a block of rows at a time: the chosen
  columns gathered in the weights' own type, then summed in float64. The weights are
  counts, so every partial sum is an exact integer, as in `(w * chosen).sum(1)`."""
  columns = np.flatnonzero(chosen)
  return per_row_block(
      w, lambda block: np.take(block, columns, axis=1).sum(axis=1, dtype=np.float64))


def weighted_sensitivity(y, score, w, threshold):
  hit = (score >= threshold) & (y == 1)
  with np.errstate(invalid="ignore", divide="ignore"):
    return weight_of(w, hit) / weight_of(w, y == 1)


def weighted_specificity(y, score, w, threshold):
  hit = (score < threshold) & (y == 0)
  with np.errstate(invalid="ignore", divide="ignore"):
    return weight_of(w, hit) / weight_of(w, y == 0)


def interval(metric, y, score, weights, *args, level: float = 0.95) -> Interval:
  """Point estimate on the data as given, percentile interval over resamples."""
  estimate = float(metric(y, score, np.ones((1, len(y))), *args)[0])
  return percentile_interval(estimate, metric(y, score, weights, *args), level)


def percentile_interval(estimate: float, values: np.ndarray, level: float = 0.95) -> Interval:
  """The percentile interval of a metric's values over resamples (NaN ones dropped)."""
  values = values[np.isfinite(values)]
  if not len(values):
    return Interval(estimate, float("nan"), float("nan"), 0)
  tail = 100 * (1 - level) / 2
  low, high = np.percentile(values, [tail, 100 - tail])
  return Interval(estimate, float(low), float(high), len(values))
