"""A file's ECGs as a model's input: what an exported model (`python -m ecgjax.export`)
takes, computed exactly as predict computes it.

  from ecgjax.inference import model_input
  windows = model_input.file_windows("A00001.hea", "EXPORT_DIR")   # {record: array}

Each array is int16 µV, (windows, samples, leads) in the card's lead order: the card's
recipe applied (filters, resampling to its rate), leads matched by name, a long
record cut into windows (predict aggregates a record's windows per label, by their
maximum by default; an exclusive group's classes by their mean). Uses numpy and the
readers only: no JAX call is made.
"""

import json
import os

import numpy as np

from ecgjax.ecg import files as ecg_files
from ecgjax.ecg.formats.errors import RecordFormatError
from ecgjax.inference import score_files
from ecgjax.models import model_card


def read_card(card_or_path) -> dict:
  """A model card: the dict itself, or read from a model_card.json or a directory
  holding one (an export directory, a workdir)."""
  if isinstance(card_or_path, dict):
    return card_or_path
  path = str(card_or_path)
  if os.path.isdir(path):
    path = os.path.join(path, model_card.CARD_FILE)
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def file_windows(path: str, card, options: score_files.Options = score_files.Options()
                 ) -> dict[str, np.ndarray]:
  """{record name: (windows, samples, leads) int16} for every ECG in the file at `path`
  (a CODE-15% file holds many). `card`: a model card or where to find one. `options`:
  predict's reading options (lead names, .npy/.csv rate and leads, missing leads,
  window stride). Raises RecordFormatError naming the file and the reason."""
  found, _ = ecg_files.discover([path], ecg_files.ArrayLayout(options.sampling_rate,
                                                             options.leads))
  if not found:
    raise RecordFormatError(path, "not an ECG file of a known format")
  out = {}
  for prepared in score_files.prepare_file(found[0], read_card(card)["input"], options):
    if prepared.error is not None:
      raise RecordFormatError(path, f"{prepared.record}: {prepared.error}")
    out[prepared.record] = prepared.windows
  return out
