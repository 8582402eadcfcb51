"""Somatic tremor and the muscle artefact's spectrum: body noise in the atrial band.

Before generator 1.7.0 the body's noise had nothing between respiration's wander
(below 0.4 Hz) and muscle artefact (above 20 Hz), so the only activity in the band
of fibrillatory waves (4-9 Hz) and flutter waves (4-6 Hz) was atrial. A network could
learn "energy at 4-9 Hz" as atrial fibrillation, and real recordings have such energy
without it: a trembling limb draws an oscillation on its electrode (rest tremor of
Parkinson's disease 4-6 Hz, essential tremor 4-12 Hz, enhanced physiological tremor
8-12 Hz), a textbook mimic of flutter and fibrillation waves on the ECG; and surface
muscle activity reaches down to about 10 Hz. Each recording draws both from a stream
of its own (generator.generate_record), so labels and every other draw are as before.
"""

import dataclasses

import numpy as np

# Electrodes (render.py's order: RA, LA, LL, V1-V6) a trembling limb moves.
_LIMB_ELECTRODES = ((0,), (1,), (0, 1), (2,))
_LIMB_WEIGHTS = (0.35, 0.35, 0.2, 0.1)   # the arms tremble most often


@dataclasses.dataclass(frozen=True)
class Tremor:
  hz: float                   # the tremor's frequency
  mv: float                   # amplitude on its electrodes
  electrodes: tuple           # which limb electrodes it moves
  burst_hz: float             # how fast its strength waxes and wanes


@dataclasses.dataclass(frozen=True)
class BodyNoise:
  tremor: Tremor | None = None
  muscle_low_hz: float = 20.0   # the muscle artefact's lower edge


QUIET = BodyNoise()


def sample(rng: np.random.Generator, age: float) -> BodyNoise:
  """One recording's tremor (in about a quarter of adults' resting ECGs, more with
  age, mostly fainter than fibrillatory waves) and muscle artefact's lower edge."""
  tremor = None
  if rng.uniform() < 0.15 + 0.2 * np.clip((age - 40) / 50, 0, 1):
    kind = rng.choice(3, p=[0.5, 0.3, 0.2])   # physiological, essential, parkinsonian
    hz = (rng.uniform(8, 12), rng.uniform(4, 12), rng.uniform(4, 6))[kind]
    tremor = Tremor(hz=float(hz), mv=float(rng.lognormal(np.log(0.015), 0.7)),
                    electrodes=_LIMB_ELECTRODES[rng.choice(4, p=_LIMB_WEIGHTS)],
                    burst_hz=float(rng.uniform(0.05, 0.5)))
  return BodyNoise(tremor=tremor, muscle_low_hz=float(rng.uniform(10, 25)))


def tremor_noise(rng: np.random.Generator, n: int, fs: float,
                 tremor: Tremor | None) -> np.ndarray:
  """(n, 9) electrode potentials in mV: the tremor's oscillation, its frequency
  wandering a little and its strength waxing and waning."""
  out = np.zeros((n, 9))
  if tremor is None or tremor.hz >= fs / 2:
    return out
  t = np.arange(n) / fs
  wander = np.cumsum(rng.normal(0, 0.02, size=n)) / fs      # Hz drift, integrated
  phase = 2 * np.pi * (tremor.hz * t + wander) + rng.uniform(0, 2 * np.pi)
  strength = 0.6 + 0.4 * np.sin(2 * np.pi * tremor.burst_hz * t + rng.uniform(0, 2 * np.pi))
  wave = tremor.mv * strength * np.sin(phase)
  for electrode in tremor.electrodes:
    out[:, electrode] += wave * rng.uniform(0.7, 1.0)
  return out
