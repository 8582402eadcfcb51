"""How good a self-supervised encoder's embeddings are, measured cheaply while it trains.

A self-supervised loss can fall while the representation collapses (every ECG mapped
near one point) or stays useless, so each evaluation logs, beside the loss:

- `embedding_rank`: RankMe (Garrido et al., ICML 2023), exp of the entropy of the
  normalised singular values of the embeddings: from 1 (collapsed) up to the
  embedding width. It needs no labels and tracked downstream accuracy in that paper.
- `embedding_std`: the mean over dimensions of the standard deviation of the
  L2-normalised embeddings times sqrt(width): about 1 when spread over every
  dimension, 0 when collapsed (VICReg's and SimSiam's collapse check).
- With a labelled probe set (`config.probe`): `knn_auroc` per label, a k-nearest-
  neighbour probe (cosine, k = KNN_NEIGHBOURS) scored leave-one-patient-out on that
  set, so an ECG's neighbours never include its own patient's. It trains nothing
  and takes a second on a few hundred ECGs.

Embeddings are the backbone's pooled features (steps.embed_step_fn), BatchNorm on its
running statistics: what a fine-tune and `predict --embeddings` read.
"""

import numpy as np

from ecgjax.evaluation import metrics as eval_metrics
from ecgjax.training import eval_outputs, nonfinite, steps

KNN_NEIGHBOURS = 10


def rank_me(embeddings: np.ndarray) -> float:
  singular = np.linalg.svd(np.asarray(embeddings, np.float64), compute_uv=False)
  p = singular / max(singular.sum(), 1e-12) + 1e-12
  return float(np.exp(-(p * np.log(p)).sum()))


def spread(embeddings: np.ndarray) -> float:
  z = np.asarray(embeddings, np.float64)
  z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
  return float(z.std(axis=0).mean() * np.sqrt(z.shape[1]))


def knn_scores(embeddings: np.ndarray, labels: np.ndarray, patients: np.ndarray,
               k: int = KNN_NEIGHBOURS) -> np.ndarray:
  """Per ECG and label, the share of positives among its k most similar ECGs (cosine)
  of other patients; NaN labels (not annotated) are left out of the share."""
  z = np.asarray(embeddings, np.float64)
  z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
  similarity = z @ z.T
  similarity[patients[:, None] == patients[None, :]] = -np.inf    # self included
  k = max(1, min(k, len(z) - 1))
  nearest = np.argsort(-similarity, axis=1)[:, :k]
  neighbour_labels = labels[nearest]                               # (n, k, labels)
  with np.errstate(invalid="ignore"):
    scores = np.nanmean(neighbour_labels, axis=1)
  return np.nan_to_num(scores, nan=0.0)


def embeddings_of(source, split: str, embed, step: int, last_finite) -> tuple:
  """(embeddings, labels, patients) of a split, one row per recording (a recording's
  windows averaged)."""
  try:
    out, labels, patients, recordings = eval_outputs.collect_outputs(source, split, embed)
  except nonfinite.NonFiniteError as e:
    raise nonfinite.NonFiniteError(f"step {step}: {e} ({last_finite()})") from e
  if not np.isfinite(out).all():
    raise nonfinite.NonFiniteError(f"step {step}: embeddings of {split} hold NaN or "
                                   f"infinity ({last_finite()})")
  rows, first = eval_outputs.recording_rows(recordings)
  if len(first) == len(recordings):
    return out, labels, patients
  pooled = np.zeros((len(first), out.shape[1]))
  np.add.at(pooled, rows, out)
  pooled /= np.bincount(rows)[:, None]
  return pooled, labels[first], patients[first]


class RepresentationMonitor:
  """Scores embeddings of a split (and of the probe set) at a step: what a
  self-supervised run logs where a supervised one logs validation AUROCs."""

  def __init__(self, source, par, graphdef, *, probe=None, probe_split: str = "validation",
               last_finite=lambda: ""):
    """`probe`: a labelled input source (or None), scored on `probe_split`."""
    self.source, self.probe, self.probe_split = source, probe, probe_split
    self.last_finite = last_finite
    self._par = par
    self._embed_step = par.eval_step(graphdef, steps.embed_step_fn)    # compiled once

  def probe_splits(self) -> list[str]:
    """The probe dataset's splits (none without a probe)."""
    if self.probe is None:
      return []
    return list(self.probe.describe()["dataset"]["splits"])

  def __call__(self, split: str, state, step: int, probe_split: str | None = None) -> dict:
    """metrics.jsonl's eval line: `split`'s embedding rank and spread, and the probe's
    k-NN AUROCs on `probe_split` (default: the one the monitor was made with; the
    conclusion asks for the test split). `state` is in the checkpoint layout."""
    on_path = self._par.from_checkpoint(state)
    embed = lambda local: self._embed_step(on_path, local)  # noqa: E731
    z, _, _ = embeddings_of(self.source, split, embed, step, self.last_finite)
    summary = {"examples": len(z), "embedding_width": int(z.shape[1]),
               "embedding_rank": rank_me(z), "embedding_std": spread(z)}
    if self.probe is not None:
      probe_split = probe_split or self.probe_split
      z, labels, patients = embeddings_of(self.probe, probe_split, embed, step,
                                          self.last_finite)
      scored = eval_metrics.per_label_auroc(labels, knn_scores(z, labels, patients),
                                            self.probe.label_names)
      summary.update(probe_split=probe_split, probe_examples=len(z), knn_auroc=scored["auroc"],
                     knn_auroc_median=scored["auroc_median"],
                     knn_auroc_mean=scored["auroc_mean"])
    return summary
