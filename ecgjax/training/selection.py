"""Which model a fine-tuning run keeps: the one with the best mean validation AUROC.

Shared by the loop and the linear probe, so every mode selects the same way.
"""

import numpy as np
from absl import logging


def score(auroc_mean: float | None, names) -> float:
  """A model's criterion from its validation mean AUROC over the labels it can score;
  -inf when it scores none."""
  if auroc_mean is None:
    logging.warning("the validation split scores none of %s (each lacks positives or "
                    "negatives there): the last model is kept, not the best", ", ".join(names))
    return -np.inf
  return auroc_mean


def keeps(score: float, best_score: float) -> bool:
  """Whether a model scoring `score` on validation replaces the kept one: a better
  score, or, while validation can score no label at all (a small archive's fold
  without positives), the later model."""
  return score > best_score or score == best_score == -np.inf
