"""Preprocessing from a reader's record to the int16 µV array a builder stores.

The recipe is explicit, versioned and recorded in each dataset's metadata, so a
dataset says exactly how its signals were made. In order:

1. optional filters at the source rate (zero-phase, second-order sections):
   band-pass (`bandpass_hz=(low, high)`), or high-pass baseline removal alone
   (`bandpass_hz=(low, None)`), and a notch at the mains frequency (`notch_hz`);
2. polyphase resampling to `sampling_rate` (scipy.signal.resample_poly, whose
   anti-aliasing FIR runs at the rational up/down factors);
3. crop or pad to `duration` seconds. Policy: keep the *first* `duration`
   seconds of a longer recording (its start is what every source has); pad a
   shorter one at the end, if it is at least `min_duration` seconds, else refuse
   it (`RecordFormatError`, counted in the build report). `pad="zeros"` pads with
   zeros; `pad="repeat"` repeats the recording until the window is full, so that a
   model reading whole recordings of different lengths through one fixed window
   sees only signal (its global average pool then weighs each part of a short
   recording nearly equally, and BatchNorm never sees a flat line that no ECG has);
4. round to int16 µV. Samples beyond ±32.767 mV are clipped; more than
   `max_clipped_fraction` of them means wrong units or a broken lead, and the
   record is refused.
"""

import dataclasses
import fractions

import numpy as np

from ecgjax.ecg import leads as leads_lib
from ecgjax.ecg.formats.errors import RecordFormatError
from ecgjax.ecg.record import EcgRecord

RECIPE_VERSION = "1"
PADS = ("zeros", "repeat")


@dataclasses.dataclass(frozen=True)
class Recipe:
  sampling_rate: float = 500.0
  duration: float = 10.0
  min_duration: float = 5.0
  bandpass_hz: tuple[float | None, float | None] | None = None
  notch_hz: float | None = None
  max_clipped_fraction: float = 0.001
  pad: str = "zeros"      # or "repeat" (step 3)
  version: str = RECIPE_VERSION

  def __post_init__(self):
    if self.pad not in PADS:
      raise ValueError(f"recipe: pad must be one of {PADS}, got {self.pad!r}")

  @property
  def samples(self) -> int:
    return int(round(self.sampling_rate * self.duration))

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)


def _filter(signal: np.ndarray, fs: float, recipe: Recipe) -> np.ndarray:
  # scipy.signal is imported where it is used: ~1 s of a command's start, and a
  # training command imports this module (for the recipe and windows) but filters nothing.
  import scipy.signal
  if recipe.bandpass_hz is not None:
    low, high = recipe.bandpass_hz
    nyquist = fs / 2
    if high is not None and high >= nyquist:
      high = None                      # nothing above Nyquist to remove
    if low and high:
      sos = scipy.signal.butter(2, [low, high], btype="bandpass", fs=fs, output="sos")
    elif low:
      sos = scipy.signal.butter(2, low, btype="highpass", fs=fs, output="sos")
    elif high:
      sos = scipy.signal.butter(4, high, btype="lowpass", fs=fs, output="sos")
    else:
      sos = None
    if sos is not None:
      signal = scipy.signal.sosfiltfilt(sos, signal, axis=0)
  if recipe.notch_hz and recipe.notch_hz < fs / 2:
    b, a = scipy.signal.iirnotch(recipe.notch_hz, Q=30.0, fs=fs)
    signal = scipy.signal.filtfilt(b, a, signal, axis=0)
  return signal


def resample(signal: np.ndarray, source_hz: float, target_hz: float) -> np.ndarray:
  """Polyphase resampling along time; exact for rational rate ratios."""
  if source_hz == target_hz:
    return signal
  import scipy.signal    # where it is used, as in _filter
  ratio = fractions.Fraction(target_hz / source_hz).limit_denominator(1000)
  return scipy.signal.resample_poly(signal, ratio.numerator, ratio.denominator, axis=0)


def crop_or_pad(signal: np.ndarray, samples: int, pad: str = "zeros") -> np.ndarray:
  """The first `samples` of `signal`, padded at the end when shorter (step 3)."""
  if signal.shape[0] >= samples:
    return signal[:samples]
  if pad == "repeat" and signal.shape[0]:
    return np.tile(signal, (-(-samples // signal.shape[0]), 1))[:samples]
  return np.pad(signal, ((0, samples - signal.shape[0]), (0, 0)))


def prepare(record: EcgRecord, recipe: Recipe) -> np.ndarray:
  """Steps 1-2: the record filtered and resampled to the recipe's rate, float µV
  (samples, leads), any length of at least `min_duration`."""
  if record.duration < recipe.min_duration:
    raise RecordFormatError(record.path, f"recording of {record.duration:.2f} s is shorter than "
                            f"the recipe's minimum {recipe.min_duration:g} s")
  signal = np.asarray(record.signal, dtype=np.float32)
  if not np.isfinite(signal).all():
    raise RecordFormatError(record.path, "non-finite (NaN or infinite) samples")
  if recipe.bandpass_hz is not None or recipe.notch_hz or (
      record.sampling_rate != recipe.sampling_rate):
    # Filters and resampling run in float64; a record already at the target
    # rate is only cropped and rounded, in float32 (exact for int16 µV).
    signal = _filter(signal.astype(np.float64), record.sampling_rate, recipe)
    signal = resample(signal, record.sampling_rate, recipe.sampling_rate)
  return signal


def quantize(signal: np.ndarray, recipe: Recipe, path: str) -> np.ndarray:
  """Step 4: float µV -> int16 µV, refusing a signal with too many clipped samples."""
  signal = np.rint(signal)
  clipped = np.count_nonzero((signal > 32767) | (signal < -32768)) / max(signal.size, 1)
  if clipped > recipe.max_clipped_fraction:
    raise RecordFormatError(path, f"{clipped:.1%} of samples beyond ±32.8 mV: wrong "
                            "units or a broken lead")
  return np.clip(signal, -32768, 32767).astype(np.int16)


def to_int16(record: EcgRecord, recipe: Recipe) -> np.ndarray:
  """(recipe.samples, 12) int16 µV in standard lead order."""
  if tuple(record.lead_names) != leads_lib.STANDARD_LEADS:
    raise RecordFormatError(record.path, f"leads {record.lead_names} not in standard order")
  return quantize(crop_or_pad(prepare(record, recipe), recipe.samples, recipe.pad), recipe,
                  record.path)


def recipe_from_dict(fields: dict) -> Recipe:
  """A recipe as recorded in dataset metadata or a model card (JSON lists -> tuples)."""
  fields = dict(fields)
  if fields.get("bandpass_hz") is not None:
    fields["bandpass_hz"] = tuple(fields["bandpass_hz"])
  return Recipe(**fields)
