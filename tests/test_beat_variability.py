"""Beat-to-beat variability (generator 1.6.0): breathing swings each beat's amplitude
and axis as published ECG-derived-respiration studies measure, every beat differs a
little at random, and adding it changed no label and no other draw."""

import hashlib

import numpy as np
import scipy.signal

from ecgjax.synthetic import generator, render, rhythm, variability


def lead_ii_r_amplitudes(seed: int, index: int, varied: bool) -> np.ndarray:
  """Lead II's R peaks of one cohort ECG rendered noiseless by an ideal cart, its
  beats varied or all alike."""
  patient, rng, spec = generator.draw_ecg(seed, index, 0)
  sched = rhythm.schedule(rng, spec.rhythm, 10.0)
  beats_rng = np.random.default_rng([seed, index, 1 << 17]) if varied else None
  signal = generator.render_ecg(rng, spec, sched, 250, 10.0, beats_rng=beats_rng,
                                noise=render.NoiseSpec(0, 0, 0))
  lead = signal[:, 1]
  peaks, _ = scipy.signal.find_peaks(lead, distance=60, height=0.5 * lead.max())
  return lead[peaks]


def test_breathing_and_jitter_make_every_beat_differ_by_a_few_per_cent():
  spreads, alike = [], []
  for index in range(40):
    _, _, spec = generator.draw_ecg(0, index, 0)
    if spec.rhythm.kind != "sinus" or spec.rhythm.pvc_probability or spec.rhythm.paced:
      continue
    varied = lead_ii_r_amplitudes(0, index, varied=True)
    same = lead_ii_r_amplitudes(0, index, varied=False)
    if len(varied) >= 6 and len(same) >= 6 and same.mean() > 300:
      spreads.append(varied.std() / varied.mean())
      alike.append(same.std() / same.mean())
  assert len(spreads) >= 10
  assert np.median(alike) < 0.005              # before 1.6.0: copies of one beat
  # Several per cent (1.6.0 draws a median of about 8% in lead II), as breathing moves
  # them; never a beat of twice another's size.
  assert 0.03 < np.median(spreads) < 0.12
  assert max(spreads) < 0.25


def test_the_swing_follows_the_breath_the_sinus_rate_follows():
  v = variability.BeatVariability(resp_hz=0.25, resp_phase=0.0, amplitude_swing=0.08,
                                  rotation_swing_deg=5.0, rotation_axis=(0.0, 0.0, 1.0),
                                  amplitude_jitter=0.0, rotation_jitter_deg=0.0,
                                  timing_jitter_s=0.0)
  rng = np.random.default_rng(0)
  inspired, inspired_turn = variability.beat_transform(v, rng, 1.0)   # sin = 1
  expired, expired_turn = variability.beat_transform(v, rng, 3.0)     # sin = -1
  assert np.isclose(inspired, 1.08) and np.isclose(expired, 0.92)
  turned = np.rad2deg(np.arccos(np.clip((inspired_turn @ expired_turn.T).trace() / 2 - 0.5,
                                        -1, 1)))
  assert np.isclose(turned, 10.0)
  # A sinus schedule records its breath; the recording's variability breathes with it.
  sched = rhythm.schedule(np.random.default_rng(1), rhythm.RhythmSpec("sinus", 70), 10.0)
  drawn = variability.sample(np.random.default_rng(2), sched.resp_hz, sched.resp_phase)
  assert drawn.resp_hz == sched.resp_hz and 0.18 <= drawn.resp_hz <= 0.33


def test_labels_are_those_of_generator_1_5_0():
  """The beats' variability (1.6.0) and the body noise (1.7.0) draw from streams of
  their own, so the cohort is the one 1.5.0 drew: the labels of its first 150 ECGs hash
  as 1.5.0's did (computed with 1.5.0). A version that changes labels says so in the
  builder's RELEASE_NOTES and updates this digest."""
  digest = hashlib.sha256()
  for index in range(150):
    digest.update(generator.generate_record(0, index, 0, 100, 10.0)["labels"].tobytes())
  assert digest.hexdigest()[:16] == "6e2d2023f89dc222"
