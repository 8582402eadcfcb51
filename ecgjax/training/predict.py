"""Running a model over a split and bringing predictions to every host."""

import jax
import numpy as np
from jax.experimental import multihost_utils

from ecgjax.training import nonfinite


def to_host(x) -> np.ndarray:
  """A global jax array, or per-process numpy arrays, as one numpy array on every host."""
  if jax.process_count() == 1:
    return np.asarray(x)
  return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def collect_predictions(source, split: str, predict, *, training_set: bool = False):
  """`predict(local_batch)` over a split, padding dropped: (outputs, labels, patients)."""
  outs, labels, patients = [], [], []
  for local in source.eval_batches(split, training_set=training_set):
    keep = to_host(local.pop("mask"))
    patient = to_host(local.pop("patient"))
    outs.append(to_host(predict(local))[keep])
    labels.append(to_host(local["labels"])[keep])
    patients.append(patient[keep])
  scores = np.concatenate(outs)
  nonfinite.check_predictions(scores, split)
  return scores, np.concatenate(labels), np.concatenate(patients)
