"""The model card: what a checkpoint is, in a file beside it and inside it.

Every pretraining and fine-tuning run writes `model_card.json` (and a readable
`model_card.md`) into its workdir and into each checkpoint it saves, so a
checkpoint alone answers the questions every user of a published ECG model asks
(which output is which label, what input it reads, at which threshold it was measured):

- `labels`: the head's outputs, in order; `snomed`: each label's SNOMED CT code
  where the vocabulary has one;
- `thresholds` per label (on calibrated probabilities) with the `threshold_rule`
  and where they were chosen (`operating_points`: split, step, examples);
- `calibration`: per-label Platt parameters applied to the head's logits;
- `input`: sampling rate, samples, lead names in order, units and dtype as
  stored, the preprocessing `recipe`, and how the model turns that into its input;
- `training`: dataset names and versions, split sizes, label prevalence, steps,
  the command; `metrics` with 95% CIs where a test split was scored;
- `model`: architecture, its config, parameter count; `ecgjax_version`.

Everything that reads a model (fine-tuning, evaluate, predict, export) reads the
card; labels are matched by name, never by position alone. Pure Python: this is
imported by serving code that has neither TensorFlow nor the training stack. This
module holds the card's schema, its checks and its files; card_markdown renders it.
"""

import datetime
import importlib.metadata
import json
import shlex
import sys

from etils import epath

from ecgjax import storage
from ecgjax.ecg import labels as vocabulary, preprocess
from ecgjax.ecg.labels import exclusions
from ecgjax.models import card_markdown

CARD_FILE = "model_card.json"
CARD_MARKDOWN = "model_card.md"
CARD_VERSION = 1
MICROVOLTS_PER_MILLIVOLT = 1000.0
REQUIRED = ("card_version", "labels", "snomed", "thresholds", "threshold_rule", "calibration",
            "input", "training", "model", "ecgjax_version")


class ModelCardError(ValueError):
  """A card that is missing, unreadable or incomplete: the message says how to get one."""


def ecgjax_version() -> str:
  try:
    return importlib.metadata.version("ecgjax")
  except importlib.metadata.PackageNotFoundError:
    return "unknown"


def command_line() -> str:
  """The command that started this process, as typed (with `-m module`)."""
  return " ".join(shlex.quote(a) for a in getattr(sys, "orig_argv", sys.argv))


def snomed_codes(names) -> dict[str, str | None]:
  by_name = {label.name: label.snomed for label in vocabulary.vocabulary()}
  return {name: by_name.get(name) for name in names}


def input_contract(metadata: dict, signal_shape) -> dict:
  """The input a model trained on a dataset with this metadata expects.

  Real archives record their preprocessing recipe; the synthetic builder renders
  at its rate with no filtering, which is the default recipe at that rate.
  """
  samples, leads = (int(v) for v in signal_shape)
  recipe = dict(metadata.get("preprocess") or preprocess.Recipe(
      sampling_rate=float(metadata["sampling_rate"]),
      duration=float(metadata.get("duration_s", samples / float(metadata["sampling_rate"])))
  ).to_dict())
  lead_names = list(metadata.get("lead_names") or [])
  if len(lead_names) != leads:
    raise ModelCardError(f"dataset metadata names {len(lead_names)} leads, its signal has {leads}")
  return {
      "sampling_rate": float(metadata["sampling_rate"]),
      "samples": samples,
      "duration_s": samples / float(metadata["sampling_rate"]),
      "leads": lead_names,
      "units": metadata.get("units", "microvolt"),
      "dtype": "int16",
      "layout": "(samples, leads)",
      "recipe": recipe,
      "model_input": "float32 millivolts: int16 microvolts / 1000",
  }


def no_operating_points(names) -> dict:
  """What a card holds before its first evaluation: identity calibration, no thresholds."""
  return {"threshold_rule": None, "thresholds": {n: None for n in names},
          "thresholds_undefined": {n: "no evaluation yet" for n in names},
          "calibration": {"method": "platt",
                          "labels": {n: {"a": 1.0, "b": 0.0, "reason": "no evaluation yet"}
                                     for n in names}}}


def label_exclusions(names) -> list[dict]:
  """The exclusions among `names` (ecg.labels.exclusions) as a card lists them."""
  return [e.describe() for e in exclusions.for_labels(names)]


def build(*, task: str, label_names, data: dict, model: dict, steps: int,
          operating_points: dict | None = None, points_from: dict | None = None,
          metrics: dict | None = None, init_from: dict | None = None,
          extra_training: dict | None = None, exclusive_groups=(),
          embedding: dict | None = None) -> dict:
  """A card from what a run knows. `data` is the input source's `describe()`;
  `exclusive_groups` the head's groups of exclusive classes by name (models.head);
  `model` holds `architecture`, `config`, `parameters`, `in_leads`;
  `operating_points` comes from evaluation.results.operating_points; `embedding`
  describes a self-supervised encoder (no labels: what its features are)."""
  names = list(label_names)
  points = operating_points or no_operating_points(names)
  # A mixture lists each of its sources (with its weight and annotated labels).
  trained_on = data["dataset"].get("sources") or [data["dataset"]]
  training = {"task": task, "datasets": trained_on, "steps": int(steps),
              "command": command_line(), **(extra_training or {})}
  if init_from:
    training["init_from"] = init_from
  card = {
      "card_version": CARD_VERSION,
      "ecgjax_version": ecgjax_version(),
      "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      "labels": names,
      # Classes that exclude each other (models.head): one softmax per group.
      "exclusive_groups": [list(group) for group in exclusive_groups],
      # Labels that exclude each other, and how predict resolves a contradictory set.
      "label_exclusions": label_exclusions(names),
      "snomed": snomed_codes(names),
      "thresholds": {n: points["thresholds"][n] for n in names},
      "thresholds_undefined": dict(points.get("thresholds_undefined", {})),
      # Labels called at the fallback probability: too few validation positives to
      # choose a threshold from (evaluation.results.MIN_THRESHOLD_POSITIVES).
      "thresholds_fallback": dict(points.get("thresholds_fallback", {})),
      "threshold_rule": points["threshold_rule"],
      "operating_points": points_from,
      "calibration": {"method": points["calibration"]["method"],
                      "applies_to": "logit",
                      "formula": "p = sigmoid(a * logit + b)",
                      "labels": {n: points["calibration"]["labels"][n] for n in names}},
      "input": data["input"],
      "training": training,
      "metrics": metrics,
      "model": {**model, "num_labels": len(names)},
  }
  if embedding is not None:
    card["embedding"] = embedding
  return card


def is_self_supervised(card: dict) -> bool:
  """A self-supervised encoder's card: no labels, an `embedding` entry."""
  return "embedding" in card


def refit(card: dict, points: dict, head_of: dict, points_from: dict, metrics: dict) -> dict:
  """`card` with the calibration and thresholds of the labels in `head_of` (dataset
  label -> head label) replaced by `points` (evaluation.results.operating_points, by
  dataset label), chosen on another dataset; the other labels keep theirs, and
  `refit` records which labels were refitted, where, and by which rule."""
  new = json.loads(json.dumps(card))
  undefined = dict(points.get("thresholds_undefined", {}))
  fallback = dict(points.get("thresholds_fallback", {}))
  new.setdefault("thresholds_fallback", {})
  for name, head_name in head_of.items():
    new["thresholds"][head_name] = points["thresholds"][name]
    new["calibration"]["labels"][head_name] = points["calibration"]["labels"][name]
    new["thresholds_undefined"].pop(head_name, None)
    new["thresholds_fallback"].pop(head_name, None)
    if name in undefined:
      new["thresholds_undefined"][head_name] = undefined[name]
    if name in fallback:
      new["thresholds_fallback"][head_name] = fallback[name]
  new["calibration"]["method"] = points["calibration"]["method"]
  new["threshold_rule"] = points["threshold_rule"]
  new["operating_points"] = points_from
  new["metrics"] = metrics
  new["refit"] = {"labels": [head_of[n] for n in head_of], "on": points_from,
                  "threshold_rule": points["threshold_rule"],
                  "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
                      timespec="seconds")}
  return new


def validate(card: dict, where: str) -> dict:
  missing = [k for k in REQUIRED if k not in card]
  if missing:
    raise ModelCardError(f"{where}: model card lacks {', '.join(missing)}")
  if card["card_version"] > CARD_VERSION:
    raise ModelCardError(f"{where}: model card version {card['card_version']} is newer than "
                         f"this ecgjax ({ecgjax_version()}) reads ({CARD_VERSION}): upgrade ecgjax")
  names = card["labels"]
  if len(set(names)) != len(names):
    raise ModelCardError(f"{where}: model card repeats a label name")
  for field in ("thresholds", "snomed"):
    if set(card[field]) != set(names):
      raise ModelCardError(f"{where}: model card's {field} do not name the same labels as "
                           "its `labels`")
  if set(card["calibration"]["labels"]) != set(names):
    raise ModelCardError(f"{where}: model card's calibration does not cover its labels")
  if card["model"].get("num_labels", len(names)) != len(names):
    raise ModelCardError(f"{where}: model card lists {len(names)} labels for a head of "
                         f"{card['model']['num_labels']}")
  return card


def read(path: str) -> dict:
  """A card from `model_card.json` or the directory that holds it."""
  path = epath.Path(path)                # a local path or a bucket's (gs://...)
  if path.is_dir():
    path = path / CARD_FILE
  try:
    card = json.loads(path.read_text(encoding="utf-8"))
  except FileNotFoundError as e:
    raise ModelCardError(f"{path}: no model card") from e
  except (OSError, json.JSONDecodeError) as e:
    raise ModelCardError(f"{path}: unreadable model card: {e}") from e
  return validate(card, path)


def write(directory: str, card: dict) -> None:
  """model_card.json and model_card.md into `directory`, each replaced whole."""
  for name, text in ((CARD_FILE, json.dumps(card, indent=2)),
                     (CARD_MARKDOWN, card_markdown.markdown(card))):
    storage.write_text(storage.join(directory, name), text)
