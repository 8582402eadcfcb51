"""From a beat schedule and morphologies to a 12-lead signal in microvolts.

The dipole is projected onto the nine electrodes' lead-field vectors; noise is
added per electrode (as it arises on a real body); the 12 leads are then formed
from electrode potentials exactly as an ECG machine forms them, so Einthoven's
and Goldberger's relations hold for signal and noise alike.
"""

import dataclasses

import numpy as np
import scipy.signal
import scipy.special

from ecgjax.ecg import leads
from ecgjax.synthetic import morphology as morph, recording, tremor as body, variability as var
from ecgjax.synthetic.rhythm import LEAD_IN, Schedule


# The limb electrodes are far from the heart and see its dipole weakly; the chest
# electrodes lie on it, V2-V4 closest. These gains put the population medians of
# normal R and S amplitudes per lead inside published adult values
# (benchmarks/synthetic_normal_ranges.py):
# limb-lead R about 1 mV in II, the deepest S in V2 and the largest QRS in V2-V4.
LIMB_GAIN = 0.8
CHEST_PLACEMENT = ((120, 1.25), (100, 1.9), (80, 2.0), (60, 2.1), (35, 1.55), (10, 1.05))


def _lead_field() -> np.ndarray:
  """(9, 3) electrode lead-field vectors in the torso frame.

  Limb electrodes sit on an equilateral triangle in the frontal plane (their sum
  is zero, so the Wilson terminal carries no dipole signal); the chest
  electrodes wrap the heart in the transverse plane from right-anterior (V1) to
  left-lateral (V6), at (angle, gain) `CHEST_PLACEMENT`.
  """
  h = 1 / np.sqrt(3)
  limbs = LIMB_GAIN * np.array([[-0.5, -h / 2, 0], [0.5, -h / 2, 0], [0, h, 0]])
  chest = []
  for angle, gain in CHEST_PLACEMENT:
    a = np.deg2rad(angle)
    chest.append(gain * np.array([np.cos(a), 0.15, np.sin(a)]))
  return np.concatenate([limbs, np.array(chest)])


LEAD_FIELD = _lead_field()


def placed_lead_field(rng: np.random.Generator | None, chest_rotation: float = 0.0,
                      chest_gain: float = 1.0) -> np.ndarray:
  """The lead field of one recording: chest electrodes are never placed exactly
  twice alike (a few degrees around the chest, a few percent in gain), around
  the patient's own heart rotation (`chest_rotation` degrees, which moves the
  transition zone; the limb leads, far from the heart, do not see it) and the
  patient's chest wall (`chest_gain`). Without `rng`: the patient's own field,
  electrodes exactly where they belong."""
  field = LEAD_FIELD.copy()
  for k in range(3, 9):
    misplaced_deg = rng.normal(0, 6) if rng is not None else 0.0
    a = np.deg2rad(chest_rotation + misplaced_deg)
    rot = np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])
    misplaced_gain = rng.lognormal(0, 0.08) if rng is not None else 1.0
    field[k] = chest_gain * misplaced_gain * rot @ field[k]
  return field


@dataclasses.dataclass
class NoiseSpec:
  baseline_mv: float = 0.1      # baseline wander amplitude
  muscle_mv: float = 0.01       # EMG, broadband
  powerline_mv: float = 0.01
  powerline_hz: float = 50.0


def gaussian_waves(t: np.ndarray, w: np.ndarray) -> np.ndarray:
  """Sum of Gaussian dipole waves (n, 6) over times t -> (samples, 3)."""
  if len(w) == 0:
    return np.zeros((len(t), 3))
  # Each wave only matters within 5 sigma; evaluate it on its own window.
  out = np.zeros((len(t), 3))
  dt = t[1] - t[0]
  for c, s, a, *u in w:
    lo = max(int((c - 5 * s - t[0]) / dt), 0)
    hi = min(int((c + 5 * s - t[0]) / dt) + 2, len(t))
    if hi <= lo:
      continue
    g = a * np.exp(-0.5 * ((t[lo:hi] - c) / s) ** 2)
    out[lo:hi] += g[:, None] * np.asarray(u)[None, :]
  return out


def _beat_waves(onset: float, v: morph.VentricularMorphology,
                qt: float) -> tuple[np.ndarray, tuple]:
  """Waves of one ventricular beat at `onset`, and its ST plateau."""
  qrs = v.qrs_waves.copy()
  qrs[:, 0] += onset
  t_amp = np.linalg.norm(v.t_vector)
  rows = [qrs]
  t_peak = onset + qt - 2.1 * v.t_width
  if t_amp > 1e-6:
    t_dir = v.t_vector / t_amp
    # An asymmetric T: a slower upstroke than downstroke.
    rows.append(morph.waves((t_peak, v.t_width, 0.8 * t_amp, t_dir),
                            (t_peak - v.t_width, 1.1 * v.t_width, 0.3 * t_amp, t_dir)))
  if v.pacing_spike_mv:
    rows.append(morph.waves((onset - 0.004, 0.0015, v.pacing_spike_mv, [0.3, -0.8, -0.5])))
  plateau = (onset + v.qrs_duration, t_peak, v.st_vector, v.st_coved)
  return np.concatenate(rows), plateau


def _plateaus(t: np.ndarray, plateaus: list) -> np.ndarray:
  """ST segments: a shift from the J point to the T peak with smooth edges.

  A coved segment starts at its full height at J and falls linearly to zero.
  """
  out = np.zeros((len(t), 3))
  for start, stop, vector, coved in plateaus:
    if not np.any(vector):
      continue
    rise = scipy.special.expit((t - start) / 0.006)
    fall = scipy.special.expit(-(t - stop) / 0.02)
    shape = rise * fall
    if coved:
      shape *= np.clip((stop + 0.04 - t) / (stop + 0.04 - start), 0, 1)
    out += shape[:, None] * vector[None, :]
  return out


def _atrial_activity(rng, t: np.ndarray, sched: Schedule) -> np.ndarray:
  """Continuous atrial signals: fibrillatory f-waves or flutter F-waves."""
  out = np.zeros((len(t), 3))
  if sched.atrial_activity == "fibrillation":
    direction = morph.unit([-0.2, 0.6, 0.75])
    f = np.zeros(len(t))
    for _ in range(3):
      hz = rng.uniform(4, 9)
      envelope = 1 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t + rng.uniform(0, 6.3))
      f += envelope * np.sin(2 * np.pi * hz * t + rng.uniform(0, 6.3))
    out += rng.uniform(0.02, 0.05) * f[:, None] * direction
  elif sched.atrial_activity == "flutter":
    direction = morph.unit([0.1, -0.95, 0.3])
    saw = scipy.signal.sawtooth(2 * np.pi * sched.atrial_rate / 60 * t
                                + rng.uniform(0, 6.3), width=0.8)
    out += rng.uniform(0.12, 0.22) * saw[:, None] * direction
  return out


def _electrode_noise(rng, n: int, fs: float, noise: NoiseSpec,
                     muscle_low_hz: float = 20.0) -> np.ndarray:
  """(n, 9) noise: baseline wander, muscle artefact (above `muscle_low_hz`),
  powerline interference."""
  t = np.arange(n) / fs
  out = np.zeros((n, 9))
  # Baseline wander: respiration (common to all electrodes) plus slow drifts.
  resp = np.sin(2 * np.pi * rng.uniform(0.15, 0.35) * t + rng.uniform(0, 6.3))
  out += noise.baseline_mv * resp[:, None] * rng.uniform(-1, 1, size=9)
  for _ in range(2):
    drift = np.sin(2 * np.pi * rng.uniform(0.03, 0.2) * t[:, None] + rng.uniform(0, 6.3, size=9))
    out += noise.baseline_mv * 0.7 * drift * rng.uniform(0, 1, size=9)
  # Muscle: broadband noise above muscle_low_hz where the rate allows, in bursts,
  # stronger on the limb electrodes.
  emg = rng.normal(size=(n, 9))
  if fs > 3 * muscle_low_hz:
    b, a = recording.butter(2, muscle_low_hz, "highpass", fs)
    emg = scipy.signal.lfilter(b, a, emg, axis=0)
  envelope = 1 + np.clip(np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t
                                + rng.uniform(0, 6.3)), 0, None) * rng.uniform(0, 3)
  limb_weight = np.array([1.5, 1.5, 1.5, 1, 1, 1, 1, 1, 1])
  out += noise.muscle_mv * emg * envelope[:, None] * limb_weight
  # Powerline: only representable when the sampling rate resolves it.
  if fs > 2.2 * noise.powerline_hz:
    hum = np.sin(2 * np.pi * noise.powerline_hz * t + rng.uniform(0, 6.3))
    out += noise.powerline_mv * hum[:, None] * rng.uniform(0.3, 1.0, size=9)
  return out


def render(rng: np.random.Generator, sched: Schedule,
           atria: dict[str, morph.AtrialMorphology],
           ventricles: dict[str, morph.VentricularMorphology],
           qtc: float, scale: float, noise: NoiseSpec,
           fs: float, duration: float, lead_field: np.ndarray = LEAD_FIELD,
           conditions: recording.Recording = recording.IDEAL,
           conditions_rng: np.random.Generator | None = None,
           beats: var.BeatVariability = var.NONE,
           beats_rng: np.random.Generator | None = None,
           body_noise: body.BodyNoise = body.QUIET,
           body_noise_rng: np.random.Generator | None = None) -> np.ndarray:
  """Renders a (samples, 12) float32 signal in microvolts, standard lead order,
  as a cart with `conditions` records it (by default: unfiltered, no mishaps).
  `conditions_rng` draws the artefacts' shapes, apart from the body's draws; each
  beat varies by `beats` (variability.py; by default not at all), drawn from
  `beats_rng`; `body_noise` adds tremor and sets the muscle artefact's spectrum
  (tremor.py; by default none, and muscle above 20 Hz), drawn from `body_noise_rng`."""
  beats_rng = beats_rng or np.random.default_rng(0)
  body_noise_rng = body_noise_rng or np.random.default_rng(0)
  n = int(round(fs * duration))
  # Simulate with the lead-in on both sides so beats straddling an edge are whole.
  t = np.arange(-int(LEAD_IN * fs), n + int(LEAD_IN * fs)) / fs
  wave_rows, plateaus = [], []
  for time, kind in zip(sched.p_times, sched.p_kinds, strict=True):
    p = atria[kind].p_waves.copy()
    p[:, 0] += time
    wave_rows.append(var.vary_waves(p, beats, beats_rng, time)[0])
  previous = None
  for time, kind in zip(sched.v_times, sched.v_kinds, strict=True):
    rr = np.clip(time - previous, 0.3, 2.0) if previous is not None else 60 / 70
    qt = qtc * np.sqrt(rr)
    rows, (start, stop, st_vector, coved) = _beat_waves(time, ventricles[kind], qt)
    rows, beat_scale, rotation = var.vary_waves(rows, beats, beats_rng, time)
    wave_rows.append(rows)
    plateaus.append((start, stop, beat_scale * rotation @ st_vector, coved))
    previous = time
  waves = np.concatenate(wave_rows) if wave_rows else np.zeros((0, 6))
  dipole = gaussian_waves(t, waves) + _plateaus(t, plateaus) + _atrial_activity(rng, t, sched)
  potentials = scale * dipole @ lead_field.T
  start = int(LEAD_IN * fs)
  potentials = (potentials[start:start + n]
                + _electrode_noise(rng, n, fs, noise, body_noise.muscle_low_hz)
                + body.tremor_noise(body_noise_rng, n, fs, body_noise.tremor))
  potentials = recording.electrode_artefacts(conditions_rng or rng, potentials, fs, conditions)
  recorded = recording.cart_processing(leads.leads_from_electrodes(potentials), fs, conditions)
  return (1000.0 * recorded).astype(np.float32)
