"""How a real electrocardiograph records: its filters, and what goes wrong at the bedside.

render.py makes the body's signal; this module makes it a recording. Each ECG draws
its own cart settings and mishaps from its own random stream (so adding them left
every physiological draw as it was):
- the cart's filters: a high-pass of 0.05 Hz (one-pass first order, the AHA
  diagnostic setting) or 0.5-0.67 Hz (two-pass, as modern carts remove wander
  without distorting ST); a low-pass of 40, 100 or 150 Hz; a 50/60 Hz notch on
  about half the carts (Kligfield P et al., "Recommendations for the standardization
  and interpretation of the electrocardiogram, part I", Circulation 2007;115:1306);
- electrode motion: a burst of large low-frequency artefact on one electrode,
  which every lead using that electrode shows, as in the MIT-BIH Noise Stress Test
  Database's "em" record;
- the arm electrodes swapped (lead I inverted, II and III exchanged, aVR and aVL
  exchanged), in about 0.4% of recordings (Batchvarov VN et al., "Incorrect
  electrode cable connection during electrocardiographic recording", Europace
  2007;9:1081);
- amplifier saturation at a few millivolts, where a large wander drives a lead
  into its rails;
- one flat lead: a disconnected or dead channel, stored as zeros, as PhysioNet
  2020/2021 and CODE-15% records have.
None of these changes a label: a reader diagnoses through them, and the model must.
"""

import dataclasses
import functools

import numpy as np
import scipy.signal

NOTCH_Q = 30.0


@dataclasses.dataclass
class Recording:
  highpass_hz: float = 0.05
  highpass_two_pass: bool = False
  lowpass_hz: float = 150.0
  notch_hz: float | None = None
  arms_swapped: bool = False
  # (start s, duration s, electrode index 0-8, amplitude mV)
  motion: list[tuple[float, float, int, float]] = dataclasses.field(default_factory=list)
  saturation_mv: float | None = None
  flat_lead: int | None = None


IDEAL = Recording(highpass_hz=0.0, lowpass_hz=float("inf"))


def sample_recording(rng: np.random.Generator, powerline_hz: float,
                     duration: float) -> Recording:
  """One recording's cart settings and mishaps."""
  two_pass = rng.uniform() < 0.4
  rec = Recording(
      highpass_hz=float(rng.choice([0.5, 0.67])) if two_pass else 0.05,
      highpass_two_pass=two_pass,
      lowpass_hz=float(rng.choice([40.0, 100.0, 150.0], p=[0.3, 0.3, 0.4])),
      notch_hz=powerline_hz if rng.uniform() < 0.5 else None,
      arms_swapped=bool(rng.uniform() < 0.004))
  for _ in range(rng.poisson(0.15)):
    length = rng.uniform(0.4, 2.5)
    rec.motion.append((float(rng.uniform(-0.5, duration)), float(length),
                       int(rng.integers(9)), float(rng.uniform(0.3, 1.5))))
  if rng.uniform() < 0.01:
    rec.saturation_mv = float(rng.uniform(2.5, 5.0))
  if rng.uniform() < 0.008:
    rec.flat_lead = int(rng.integers(12))
  return rec


def electrode_artefacts(rng: np.random.Generator, potentials: np.ndarray, fs: float,
                        rec: Recording) -> np.ndarray:
  """(samples, 9) electrode potentials in mV -> with motion bursts and cables as
  connected (RA and LA swapped when `arms_swapped`)."""
  out = potentials.copy()
  n = len(out)
  for start, length, electrode, amp in rec.motion:
    lo, hi = max(int(start * fs), 0), min(int((start + length) * fs), n)
    if hi - lo < 4:
      continue
    # Low-frequency (below ~8 Hz) noise under a smooth window: the skin-electrode
    # interface stretched by movement.
    burst = np.cumsum(rng.normal(size=hi - lo))
    burst -= np.linspace(burst[0], burst[-1], hi - lo)
    burst = burst / (np.abs(burst).max() + 1e-9) * amp
    out[lo:hi, electrode] += burst * np.hanning(hi - lo)
  if rec.arms_swapped:
    out[:, [0, 1]] = out[:, [1, 0]]
  return out


@functools.lru_cache(maxsize=64)
def butter(order: int, hz: float, btype: str, fs: float):
  # A cart has a handful of settings: design each filter once per process (the
  # design, not the filtering, was a tenth of the generator's time).
  return scipy.signal.butter(order, hz, btype=btype, fs=fs)


@functools.lru_cache(maxsize=16)
def _notch(hz: float, fs: float):
  return scipy.signal.iirnotch(hz, NOTCH_Q, fs=fs)


def cart_processing(leads_mv: np.ndarray, fs: float, rec: Recording) -> np.ndarray:
  """(samples, 12) leads in mV -> as the cart filters, clips and stores them."""
  out = leads_mv
  nyquist = fs / 2
  if 0 < rec.highpass_hz < nyquist:
    b, a = butter(1, rec.highpass_hz, "highpass", fs)
    if rec.highpass_two_pass:
      out = scipy.signal.filtfilt(b, a, out, axis=0)
    else:
      # A one-pass filter starts from the first sample's level, as a cart that has
      # been settling before the stored window does.
      zi = scipy.signal.lfilter_zi(b, a)[:, None] * out[:1]
      out, _ = scipy.signal.lfilter(b, a, out, axis=0, zi=zi)
  if rec.lowpass_hz < 0.9 * nyquist:
    b, a = butter(2, rec.lowpass_hz, "lowpass", fs)
    out = scipy.signal.filtfilt(b, a, out, axis=0)
  if rec.notch_hz and rec.notch_hz < 0.9 * nyquist:
    b, a = _notch(rec.notch_hz, fs)
    out = scipy.signal.filtfilt(b, a, out, axis=0)
  if rec.saturation_mv:
    out = np.clip(out, -rec.saturation_mv, rec.saturation_mv)
  if rec.flat_lead is not None:
    out = out.copy()
    out[:, rec.flat_lead] = 0.0
  return out
