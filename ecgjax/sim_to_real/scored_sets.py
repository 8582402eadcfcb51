"""A built set's recordings scored by a model as predict scores them, and the normal
ECGs the model flags at its card's thresholds."""

import dataclasses
import shutil

import numpy as np
import tensorflow_datasets as tfds

from ecgjax.data import datasets, pipeline
from ecgjax.ecg import preprocess, windows as windows_lib
from ecgjax.evaluation import log_odds
from ecgjax.inference import batch_norm_adaptation, scoring

# Findings of a normal ECG: calling them on one is no false alarm (sinus arrhythmia is
# a normal variant, deepest in the young).
NORMAL_FINDINGS = frozenset({"sinus_rhythm", "sinus_arrhythmia", "normal_ecg"})


@dataclasses.dataclass
class ScoredSet:
  """A built set's recordings scored by a model, one row per recording (the windows of
  a long recording, RECORD_w0, RECORD_w1, ..., pooled by their maximum as evaluate
  pools them):
  - `labels`: the set's label names; `truth` and `known`: recordings x labels, from the
    set;
  - `model_labels`: the model's; `log_odds` (recordings x model labels) and
    `probabilities`, the log-odds calibrated as predict calibrates them;
  - `patients`: each recording's patient as evaluation keys it (data.pipeline.numeric_key),
    so a patient bootstrap over them resamples as evaluate's does."""
  labels: list[str]
  truth: np.ndarray
  known: np.ndarray
  model_labels: list[str]
  probabilities: np.ndarray
  log_odds: np.ndarray
  patients: np.ndarray


def score_set(model: scoring.LoadedModel, dataset: str, data_dir: str,
              split: str = "train+validation+test") -> ScoredSet:
  builder = datasets.load_builder(dataset, data_dir)
  names = datasets.resolve_labels(builder.info, "all")[0]
  stored = datasets.stored_leads(builder.info)
  columns = [stored.index(name) for name in model.card["input"]["leads"]]
  examples = list(tfds.as_numpy(builder.as_dataset(split=split)))
  cut = [model_windows(e["signal"][:, columns], model.card) for e in examples]
  windows = scoring.Scorer(model)(np.concatenate(cut))
  records: dict[str, list[int]] = {}   # a recording's rows of `windows`, in order
  first_example: dict[str, int] = {}   # and its first stored example
  start = 0
  for i, (e, pieces) in enumerate(zip(examples, cut)):
    recording = pipeline.recording_of(e["record_id"].decode())
    records.setdefault(recording, []).extend(range(start, start + len(pieces)))
    first_example.setdefault(recording, i)
    start += len(pieces)
  rows = list(first_example.values())
  known = [e["labels_known"] if "labels_known" in e else np.ones(len(names))
           for e in (examples[r] for r in rows)]
  pooled = np.stack([log_odds.pool(windows[m], "max", model.group_indices())
                     for m in records.values()])
  patients = pipeline.numeric_key([examples[r]["patient"] for r in rows]).numpy()
  return ScoredSet(names, np.stack([examples[r]["labels"] for r in rows]).astype(bool),
                   np.stack(known).astype(bool), list(model.labels), model.calibrate(pooled),
                   pooled, patients)


def model_windows(signal: np.ndarray, card: dict) -> np.ndarray:
  """A stored signal (samples, model's leads) as the windows its model reads, cut as
  predict cuts a file (ecg.windows): back to back, the last aligned to the end, a
  shorter signal padded as the card's recipe pads. A model trained on crops
  (`dataset.crop_s`) reads fewer samples than the sets store."""
  samples = int(card["input"]["samples"])
  pad = preprocess.recipe_from_dict(card["input"]["recipe"]).pad
  return windows_lib.cut(signal, samples, samples, pad)


def adapted_to(model_dir: str, dataset: str, data_dir: str, out_dir: str) -> str:
  """The model with its BatchNorm statistics recomputed on every signal of `dataset`
  (inference.batch_norm_adaptation; no label is read), as a model directory."""
  model = scoring.load(model_dir)
  builder = datasets.load_builder(dataset, data_dir)
  stored = datasets.stored_leads(builder.info)
  columns = [stored.index(name) for name in model.card["input"]["leads"]]
  signals = builder.as_dataset(split="train+validation+test").map(
      pipeline.no_autograph(lambda e: e["signal"]))
  per_ecg = [model_windows(s[:, columns], model.card) for s in tfds.as_numpy(signals)]
  windows = np.concatenate(per_ecg)
  stats = batch_norm_adaptation.adapted_batch_stats(model, windows)
  shutil.rmtree(out_dir, ignore_errors=True)
  return batch_norm_adaptation.write_adapted_model(model_dir, None, stats, out_dir,
                                                   ecgs=len(per_ecg), windows=len(windows))


def normals_flagged(model_dir: str, dataset: str, data_dir: str,
                    split: str = "train+validation+test") -> dict:
  """On `split`'s normal ECGs (those labelled normal_ecg; in a dataset without that
  label, the synthetic one, those whose only label is sinus_rhythm): how many the model
  calls positive, at its card's thresholds, for a label that is neither a normal finding
  (NORMAL_FINDINGS) nor one the set gives that ECG (a normal ECG may also be labelled
  sinus bradycardia), and how often each label is so called. What a user sees on a
  healthy person's ECG."""
  model = scoring.load(model_dir)
  return flagged_normals(model, score_set(model, dataset, data_dir, split))


def flagged_normals(model: scoring.LoadedModel, scored: ScoredSet,
                    annotated: list[str] | None = None, every_label: bool = False) -> dict:
  """normals_flagged on a set already scored by `model`. `annotated`: the labels the set
  annotates (all of its labels when None, as in the synthetic set). A set that
  annotates normal_ecg counts every label called on its normal ECGs; one that does not
  (CinC 2017 reads the rhythm alone) takes the ECGs labelled sinus rhythm and nothing
  else, and counts only the labels it annotates (a call it says nothing about is
  neither right nor wrong), unless `every_label`: then any label beyond a normal
  finding counts, as a user reading the output would count it."""
  names = scored.labels
  annotated = names if annotated is None else annotated
  counted = None
  if "normal_ecg" in annotated:
    normal = scored.truth[:, names.index("normal_ecg")]
  elif "sinus_rhythm" in names:
    normal = np.all(scored.truth == np.array([n == "sinus_rhythm" for n in names]), axis=1)
    counted = None if every_label else set(annotated)
  else:
    normal = np.zeros(len(scored.truth), bool)
  if not normal.any():
    return {"normal_ecgs": 0, "flagged": 0, "fraction": None, "labels_called": {}}
  called = model.called(scored.probabilities[normal])    # as predict's `positive`
  given = np.array([[name in names and bool(row[names.index(name)]) for name in model.labels]
                    for row in scored.truth[normal]])
  abnormal = np.array([name not in NORMAL_FINDINGS and (counted is None or name in counted)
                       for name in model.labels])
  false_alarm = called & ~given & abnormal
  flagged = false_alarm.any(axis=1)
  return {"normal_ecgs": int(normal.sum()), "flagged": int(flagged.sum()),
          "fraction": float(flagged.mean()),
          "labels_called": {name: int(n) for name, n in zip(model.labels, false_alarm.sum(axis=0))
                            if n}}


def counted_columns(scored: ScoredSet, annotated: list[str], min_positives: int):
  """(set column, model column) of the labels both name, the set annotates, and that
  have at least `min_positives` known positives: the labels a median counts."""
  pairs = []
  for name in annotated:
    if name in scored.labels and name in scored.model_labels:
      k = scored.labels.index(name)
      if (scored.truth[:, k] & scored.known[:, k]).sum() >= min_positives:
        pairs.append((k, scored.model_labels.index(name)))
  return pairs
