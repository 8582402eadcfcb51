"""The models shipped inside the package, found by name: `--model=NAME` (and init_from,
evaluate's checkpoint) wherever a model directory is accepted.

Each is a model directory (training.checkpoints.write_model_directory) in
ecgjax/shipped_models/, named by its folder. Plain file reads and JSON, no JAX: a
command's --help lists them, and a misspelt name is answered before anything loads.
"""

import difflib
import json
import os

from etils import epath

SHIPPED_MODELS = epath.Path(__file__).resolve().parent.parent / "shipped_models"


def names() -> list[str]:
  if not SHIPPED_MODELS.is_dir():
    return []
  return sorted(p.name for p in SHIPPED_MODELS.iterdir() if (p / "checkpoints").is_dir())


def resolve(path_or_name: str) -> str:
  """A model directory as given, or the directory of the shipped model so named (a
  name is a single path component that is not an existing path)."""
  value = str(path_or_name)
  if "/" in value or os.sep in value or epath.Path(value).exists():
    return value
  if value in names():
    return os.fspath(SHIPPED_MODELS / value)
  return value


def not_found(path_or_name: str, what: str = "--model") -> str | None:
  """One line for a model that is neither an existing directory nor a shipped model's
  name, with the shipped names and the closest of them ("did you mean"); None for a
  model that is there."""
  value = str(path_or_name)
  if epath.Path(resolve(value)).is_dir():
    return None
  shipped = names()
  close = difflib.get_close_matches(value, shipped, n=1, cutoff=0.6)
  return (f"{what}={value}: no such directory"
          + (f", nor a model shipped with ecgjax ({', '.join(shipped)})" if shipped else "")
          + (f" (did you mean {what}={close[0]}?)" if close else ""))


def describe() -> str:
  """A --help paragraph: each shipped model's name, the leads and rate it reads, and
  its number of labels, from its card."""
  lines = []
  for name in names():
    with open(SHIPPED_MODELS / name / "model_card.json", encoding="utf-8") as f:
      card = json.load(f)
    leads = card["input"]["leads"]
    lines.append(f"  {name}: {'lead ' + leads[0] if len(leads) == 1 else f'{len(leads)} leads'}"
                 f" at {card['input']['sampling_rate']:g} Hz, {len(card['labels'])} labels")
  return ("Shipped models (--model=NAME, no training needed; their cards say what they "
          "are and are not):\n" + "\n".join(lines)) if lines else ""
