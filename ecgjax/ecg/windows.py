"""One record -> the int16 windows a model card's input contract asks for.

The card's recipe is applied as the dataset's builder applied it (filters at the
source rate, polyphase resampling to the card's rate; ecgjax.ecg.preprocess),
then leads are taken by name into the card's order. A record longer than the
model's window is cut into windows `stride` seconds apart, the last one aligned
to the record's end so no part goes unscored; a shorter one (at least the
recipe's `min_duration`) is padded at the end as the recipe pads (zeros, or the
recording repeated), as in training.
"""

import numpy as np

from ecgjax.ecg import leads as leads_lib, preprocess
from ecgjax.ecg.formats.errors import RecordFormatError
from ecgjax.ecg.record import EcgRecord


def window_starts(length: int, window: int, stride: int) -> list[int]:
  if length <= window:
    return [0]
  starts = list(range(0, length - window + 1, stride))
  if starts[-1] != length - window:
    starts.append(length - window)
  return starts


def lead_columns(record_leads, model_leads, path: str) -> list[int]:
  """Indices of the model's leads in the record, matched by name."""
  canonical = {leads_lib.canonical_lead_name(n): i for i, n in enumerate(record_leads)}
  missing = [n for n in model_leads if leads_lib.canonical_lead_name(n) not in canonical]
  if missing:
    raise RecordFormatError(path, f"missing leads {missing} the model needs (the file has "
                            f"{list(record_leads)}); --missing_leads=zero scores it with zeros")
  return [canonical[leads_lib.canonical_lead_name(n)] for n in model_leads]


def record_windows(record: EcgRecord, contract: dict, stride_s: float | None = None,
                   allow_missing: bool = False) -> np.ndarray:
  """(windows, samples, leads) int16 µV in the card's lead order.

  A lead the model reads that the record lacks (`record.filled_leads`) is refused,
  named, unless `allow_missing` (then it is scored as zeros)."""
  recipe = preprocess.recipe_from_dict(contract["recipe"])
  samples = int(contract["samples"])
  if recipe.sampling_rate != float(contract["sampling_rate"]):
    raise ValueError(f"model card: recipe rate {recipe.sampling_rate} differs from the input "
                     f"rate {contract['sampling_rate']}")
  if set(contract["leads"]) <= set(record.filled_leads):
    raise RecordFormatError(record.path, f"none of the model's leads is in the file "
                            f"(it lacks {list(record.filled_leads)})")
  lacking = [n for n in contract["leads"] if n in record.filled_leads]
  if lacking and not allow_missing:
    raise RecordFormatError(record.path, f"missing leads {lacking} the model reads (the model "
                            f"reads {list(contract['leads'])}); --missing_leads=zero scores "
                            "them as zeros")
  signal = preprocess.prepare(record, recipe)
  signal = signal[:, lead_columns(record.lead_names, contract["leads"], record.path)]
  stride = samples if stride_s is None else max(1, int(round(stride_s * recipe.sampling_rate)))
  return preprocess.quantize(cut(signal, samples, stride, recipe.pad), recipe, record.path)


def cut(signal: np.ndarray, samples: int, stride: int, pad: str) -> np.ndarray:
  """(samples_in, leads) -> (windows, samples, leads): windows `stride` apart, the last
  aligned to the end, a shorter signal padded as `pad` says (preprocess.crop_or_pad)."""
  return np.stack([preprocess.crop_or_pad(signal[s:s + samples], samples, pad)
                   for s in window_starts(len(signal), samples, stride)])
