"""A sweep's finished runs as the report reads them: each run's results.json and
predictions.npz (read_predictions), and the test rows a label is known on."""

import dataclasses

import numpy as np

from ecgjax import storage
from ecgjax.evaluation import log_odds, metrics


@dataclasses.dataclass
class Run:
  mode: str
  train_size: int
  seed: int
  results: dict
  predictions: dict          # arrays of predictions.npz (read_predictions)


def read_predictions(run_dir: str) -> dict:
  """A run's predictions.npz: names, {val,test}_labels, {val,test}_log_odds and
  test_patients. A run written before ecgjax kept log-odds stored probabilities as
  `*_scores`; those are read back as log-odds (confident scores there had already
  rounded to 1.0 and still tie)."""
  predictions = storage.load_npz(storage.join(run_dir, "predictions.npz"))
  for split in ("val", "test"):
    if f"{split}_log_odds" not in predictions and f"{split}_scores" in predictions:
      predictions[f"{split}_log_odds"] = log_odds.from_probabilities(
          predictions.pop(f"{split}_scores"))
  return predictions


def load_runs(run_dirs: list[str]) -> list[Run]:
  runs = []
  for d in run_dirs:
    r = storage.read_json(storage.join(d, "results.json"))
    runs.append(Run(r["mode"], r["train_size"], r["seed"], r, read_predictions(d)))
  return runs


def size_name(size: int) -> str:
  return "all" if size == 0 else str(size)


def known_rows(predictions: dict, k: int) -> tuple[np.ndarray, np.ndarray]:
  """The test rows whose label k is known (NaN marks a mixture's unannotated label or a
  record's unknown one) and their 0/1 labels."""
  y = predictions["test_labels"][:, k]
  rows = metrics.annotated(y)
  return rows, y[rows].astype(int)
