"""Choosing a small training set by patient, keeping positives for every label.

Rare conditions are rare: a random 200 ECGs may hold none of them. Patients are
taken in a seeded random order, first those needed so each label reaches
`min_positives` positive ECGs, then any patient that still fits, until the set
holds exactly `train_size` ECGs where whole patients allow. A patient's ECGs are
never split.
"""

import numpy as np


def choose_training_examples(patients: np.ndarray, labels: np.ndarray, train_size: int,
                             min_positives: int, seed: int) -> np.ndarray:
  """Boolean mask over examples; all of them when `train_size` is 0 or too large."""
  n = len(patients)
  if train_size <= 0 or train_size >= n:
    return np.ones(n, bool)
  keys, index = np.unique(patients, return_inverse=True)
  rng = np.random.default_rng(seed)
  order = rng.permutation(len(keys))
  ecgs = np.bincount(index, minlength=len(keys))
  positives = np.zeros((len(keys), labels.shape[1]))
  np.add.at(positives, index, labels)
  chosen = np.zeros(len(keys), bool)
  budget = train_size

  def take(p):
    nonlocal budget
    chosen[p] = True
    budget -= ecgs[p]

  for label in np.argsort(positives.sum(axis=0)):       # rarest label first
    for p in order:
      if positives[chosen, label].sum() >= min_positives or budget <= 0:
        break
      if not chosen[p] and positives[p, label] > 0 and ecgs[p] <= budget:
        take(p)
  for p in order:
    if budget <= 0:
      break
    if not chosen[p] and ecgs[p] <= budget:
      take(p)
  return chosen[index]
