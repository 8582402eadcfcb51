"""Body noise in the atrial band (generator 1.7.0): a trembling limb draws its
tremor's frequency on the leads that use its electrode, in about a quarter of
recordings and more with age, and muscle artefact starts at 10-25 Hz.

The rates and ranges below restate tremor.py's design (its docstring cites their
sources): these tests guard against regressions, so that changing them is a
deliberate act. The lead-field test checks physics: a left-arm tremor appears in lead
I (LA - RA) and not in lead II (LL - RA)."""

import numpy as np
import scipy.signal

from ecgjax.ecg import leads
from ecgjax.synthetic import tremor


def test_tremor_is_common_more_so_with_age_and_mostly_fainter_than_f_waves():
  rng = np.random.default_rng(0)
  young = [tremor.sample(rng, 30).tremor for _ in range(3000)]
  old = [tremor.sample(rng, 85).tremor for _ in range(3000)]
  young_rate = np.mean([t is not None for t in young])
  old_rate = np.mean([t is not None for t in old])
  assert 0.1 < young_rate < 0.2 < 0.3 < old_rate < 0.4
  drawn = [t for t in young + old if t is not None]
  # Fibrillatory waves are drawn at 0.02-0.05 mV (render._atrial_activity).
  assert 0.01 < np.median([t.mv for t in drawn]) < 0.02
  assert all(4 <= t.hz <= 12 for t in drawn)
  edges = [tremor.sample(rng, 50).muscle_low_hz for _ in range(500)]
  assert 10 <= min(edges) and max(edges) <= 25


def test_a_trembling_left_arm_shows_its_frequency_in_lead_i_and_not_in_lead_ii():
  shake = tremor.Tremor(hz=5.0, mv=0.05, electrodes=(1,), burst_hz=0.2)
  electrodes = tremor.tremor_noise(np.random.default_rng(1), 5000, 500.0, shake)
  twelve = leads.leads_from_electrodes(electrodes)
  order = list(leads.STANDARD_LEADS)
  freqs, power = scipy.signal.welch(twelve[:, order.index("I")], fs=500.0, nperseg=2048)
  assert abs(freqs[np.argmax(power)] - 5.0) < 0.5
  assert np.abs(twelve[:, order.index("II")]).max() < 1e-12     # LL - RA: no left arm
