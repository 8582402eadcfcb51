"""Running a model over a split and bringing its log-odds (models.head.log_odds) to every
host.

A dataset built with windows (physionet2017's `_wN` records) holds several
examples per recording; `aggregate` ("max" or "mean", as predict pools a long
file's windows) scores each recording once, from its windows' log-odds.
Examples of a dataset without windows are each their own recording, so
aggregation leaves them as they are.
"""

import jax
import numpy as np
from jax.experimental import multihost_utils

from ecgjax.evaluation import log_odds
from ecgjax.training import nonfinite

AGGREGATIONS = (*log_odds.POOLINGS, "none")


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
  """One row per recording, in order of first appearance: its windows' log-odds pooled
  by `how` (evaluation.log_odds.pool, as predict pools a long file's windows; an
  exclusive group's columns, `groups`, by their mean probability), its labels (a
  recording's windows share them) and its first window's patient."""
  if how == "none":
    return scores, labels, patients
  if how not in AGGREGATIONS:
    raise ValueError(f"aggregate must be one of {AGGREGATIONS}, got {how!r}")
  recording_of, first = recording_rows(recordings)
  if len(first) == len(recordings):
    return scores, labels, patients
  n = len(first)
  windows = np.argsort(recording_of, kind="stable")
  bounds = np.cumsum(np.bincount(recording_of, minlength=n))[:-1]
  pooled = np.stack([log_odds.pool(scores[rows], how, groups)
                     for rows in np.split(windows, bounds)])
  merged = np.full((n, labels.shape[1]), -np.inf, labels.dtype)
  np.maximum.at(merged, recording_of, labels)     # NaN (not annotated) stays NaN
  return pooled, merged, patients[first]


def recording_rows(recordings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(each example's recording as a row number, in order of first appearance; the
  example index where each recording first appears, in that order)."""
  _, first, inverse = np.unique(recordings, return_index=True, return_inverse=True)
  order = np.argsort(first)                 # unique() sorts by hash; keep split order
  rank = np.empty_like(order)
  rank[order] = np.arange(len(order))
  return rank[inverse], first[order]


def collect_predictions(source, split: str, predict, *, training_set: bool = False,
                        aggregate: str = "none", groups=()):
  """`predict(local_batch)` (log-odds) over a split: (log-odds, labels, patients), one
  row per example, or per recording with `aggregate` (max | mean; an exclusive
  group's columns, `groups`, by their mean probability)."""
  scores, labels, patients, recordings = collect_outputs(source, split, predict,
                                                         training_set=training_set)
  nonfinite.check_predictions(scores, split)
  return aggregate_recordings(scores, labels, patients, recordings, aggregate, groups)
