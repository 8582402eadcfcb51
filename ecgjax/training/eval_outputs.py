"""Running a model over a split and bringing predictions to every host.

A dataset built with windows (physionet2017's `_wN` records) holds several
examples per recording; `aggregate` ("max" or "mean", as predict aggregates a
long file's windows) scores each recording once, from its windows' outputs.
Examples of a dataset without windows are each their own recording, so
aggregation leaves them as they are.
"""

import jax
import numpy as np
from jax.experimental import multihost_utils

from ecgjax.training import nonfinite

AGGREGATIONS = ("max", "mean", "none")


def to_host(x) -> np.ndarray:
  """A global jax array, or per-process numpy arrays, as one numpy array on every host."""
  if jax.process_count() == 1:
    return np.asarray(x)
  return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def collect_outputs(source, split: str, predict, *, training_set: bool = False):
  """`predict(local_batch)` over a split, padding dropped: (outputs, labels, patients,
  recordings), the last the hashed recording of each example (its windows share it)."""
  outs, labels, patients, recordings = [], [], [], []
  for local in source.eval_batches(split, training_set=training_set):
    keep = to_host(local.pop("mask"))
    patient = to_host(local.pop("patient"))
    recording = to_host(local.pop("recording"))
    outs.append(to_host(predict(local))[keep])
    # NaN marks a label the example's dataset does not annotate (a mixture's).
    label_mask = to_host(local["label_mask"])[keep]
    labels.append(np.where(label_mask > 0, to_host(local["labels"])[keep], np.nan))
    patients.append(patient[keep])
    recordings.append(recording[keep])
  return (np.concatenate(outs), np.concatenate(labels), np.concatenate(patients),
          np.concatenate(recordings))


def aggregate_recordings(scores, labels, patients, recordings, how: str, groups=()):
  """One row per recording, in order of first appearance: scores by `how` over its
  windows, labels (a recording's windows share them) and patient of its first. An
  exclusive group's columns (`groups`, models.head) are always averaged: the mean of
  the windows' softmax is still a distribution over the group, the maximum is not."""
  if how == "none":
    return scores, labels, patients
  if how not in AGGREGATIONS:
    raise ValueError(f"aggregate must be one of {AGGREGATIONS}, got {how!r}")
  _, first, inverse = np.unique(recordings, return_index=True, return_inverse=True)
  if len(first) == len(recordings):
    return scores, labels, patients
  order = np.argsort(first)                 # unique() sorts by hash; keep split order
  rank = np.empty_like(order)
  rank[order] = np.arange(len(order))
  group = rank[inverse]
  n = len(first)
  mean = np.zeros((n, scores.shape[1]), np.float64)
  np.add.at(mean, group, scores)
  mean = (mean / np.bincount(group, minlength=n)[:, None]).astype(scores.dtype)
  out = mean
  if how == "max":
    out = np.full((n, scores.shape[1]), -np.inf, scores.dtype)
    np.maximum.at(out, group, scores)
    for columns in groups:
      out[:, list(columns)] = mean[:, list(columns)]
  merged = np.full((n, labels.shape[1]), -np.inf, labels.dtype)
  np.maximum.at(merged, group, labels)     # NaN (not annotated) stays NaN
  return out, merged, patients[first[order]]


def collect_predictions(source, split: str, predict, *, training_set: bool = False,
                        aggregate: str = "none", groups=()):
  """`predict(local_batch)` over a split: (outputs, labels, patients), one row per
  example, or per recording with `aggregate` (max | mean; an exclusive group's
  columns, `groups`, by mean)."""
  scores, labels, patients, recordings = collect_outputs(source, split, predict,
                                                         training_set=training_set)
  nonfinite.check_predictions(scores, split)
  return aggregate_recordings(scores, labels, patients, recordings, aggregate, groups)
