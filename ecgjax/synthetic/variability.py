"""Beat-to-beat variability: no two beats of a real ECG are the same.

Breathing moves the heart in the chest: on each breath the electrical axis swings by
a few degrees in the frontal plane and the QRS amplitude rises and falls by several
per cent (Moody GB et al., "Derivation of respiratory signals from multi-lead ECGs",
Computers in Cardiology 1985;12:113; Bailón R et al., "A robust method for ECG-based
estimation of the respiratory frequency during stress testing", IEEE Trans Biomed Eng
2006;53:1273: the ECG-derived respiration read from just these changes). Beyond
breathing, each beat differs a little at random (amplitude by a per cent or two, its
waves' timing by a millisecond or so), as signal-averaging studies measure.

Before generator 1.6.0 every beat of a kind was an exact copy, so a network could
learn "identical beats" as the mark of a regular rhythm without ectopy, and read
a real sinus ECG's natural variation as abnormal. Each recording draws its variability
from a stream of its own (generator.generate_record), so adding it left every other
draw, and every label, as it was.
"""

import dataclasses

import numpy as np

# The frontal plane's normal in the torso frame (render.py: x left, y vertical, z
# anterior): breathing rotates the heart mostly about the anteroposterior axis.
_FRONTAL_NORMAL = np.array([0.0, 0.0, 1.0])


@dataclasses.dataclass(frozen=True)
class BeatVariability:
  resp_hz: float              # breaths per second
  resp_phase: float           # radians at t = 0
  amplitude_swing: float      # fractional amplitude change at the breath's peak
  rotation_swing_deg: float   # axis swing at the breath's peak, degrees
  rotation_axis: tuple        # unit vector the heart turns about
  amplitude_jitter: float     # per-beat random amplitude change, sd (fraction)
  rotation_jitter_deg: float  # per-beat random rotation, sd (degrees)
  timing_jitter_s: float      # per-wave random shift within a beat, sd (seconds)


NONE = BeatVariability(0.25, 0.0, 0.0, 0.0, (0.0, 0.0, 1.0), 0.0, 0.0, 0.0)


def sample(rng: np.random.Generator, resp_hz: float | None = None,
           resp_phase: float | None = None) -> BeatVariability:
  """One recording's variability; breathing at `resp_hz`/`resp_phase` where the
  rhythm already breathes (sinus arrhythmia), else at a resting adult rate."""
  tilt = rng.normal(0, 0.3, size=3)
  axis = _FRONTAL_NORMAL + tilt * np.array([1.0, 1.0, 0.0])
  drawn_hz, drawn_phase = rng.uniform(0.18, 0.33), rng.uniform(0, 2 * np.pi)
  return BeatVariability(
      resp_hz=float(resp_hz if resp_hz is not None else drawn_hz),
      resp_phase=float(resp_phase if resp_phase is not None else drawn_phase),
      amplitude_swing=float(rng.uniform(0.02, 0.10)),
      rotation_swing_deg=float(rng.uniform(1.5, 7.0)),
      rotation_axis=tuple(float(v) for v in axis / np.linalg.norm(axis)),
      amplitude_jitter=float(rng.uniform(0.005, 0.025)),
      rotation_jitter_deg=float(rng.uniform(0.3, 1.5)),
      timing_jitter_s=float(rng.uniform(0.0, 0.0015)))


def _rotation(axis: np.ndarray, degrees: float) -> np.ndarray:
  """Rodrigues' rotation about the unit `axis`."""
  a = np.deg2rad(degrees)
  k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
  return np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * k @ k


def beat_transform(v: BeatVariability, rng: np.random.Generator,
                   time: float) -> tuple[float, np.ndarray]:
  """(amplitude factor, 3x3 rotation) of the heart for a beat at `time` seconds."""
  breath = np.sin(2 * np.pi * v.resp_hz * time + v.resp_phase)
  scale = (1 + v.amplitude_swing * breath) * (1 + v.amplitude_jitter * rng.normal())
  rotation = _rotation(np.asarray(v.rotation_axis), v.rotation_swing_deg * breath)
  if v.rotation_jitter_deg:
    # The beat's own small wobble, about an axis of its own.
    wobble = rng.normal(size=3)
    rotation = _rotation(wobble / np.linalg.norm(wobble),
                         v.rotation_jitter_deg * rng.normal()) @ rotation
  return float(scale), rotation


def vary_waves(waves: np.ndarray, v: BeatVariability, rng: np.random.Generator,
               time: float) -> tuple[np.ndarray, float, np.ndarray]:
  """One beat's (n, 6) wave rows (centre, width, amplitude, direction) as this beat
  shows them; also the beat's amplitude factor and rotation, for what the rows do
  not hold (its ST plateau)."""
  scale, rotation = beat_transform(v, rng, time)
  out = waves.copy()
  out[:, 2] *= scale
  out[:, 3:6] = out[:, 3:6] @ rotation.T
  if v.timing_jitter_s:
    out[:, 0] += rng.normal(0, v.timing_jitter_s, size=len(out))
  return out, scale, rotation
