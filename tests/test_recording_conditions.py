"""The synthetic cart: filters, electrode motion, swapped arm cables, saturation and a
flat lead act on a rendered ECG as they act on a real recording."""

import dataclasses

import numpy as np
import pytest

from ecgjax.ecg import leads
from ecgjax.synthetic import generator, recording, rhythm

FS = 500.0
LEAD = {name: i for i, name in enumerate(leads.STANDARD_LEADS)}
PLAIN = dataclasses.replace(recording.IDEAL)


def rendered(conditions: recording.Recording, seed: int = 3) -> np.ndarray:
  """One ECG (mV), the body drawn the same way whatever the cart does."""
  _, rng, spec = generator.draw_ecg(seed, 0, 0)
  sched = rhythm.schedule(rng, spec.rhythm, 10.0)
  return generator.render_ecg(rng, spec, sched, FS, 10.0, cart=conditions,
                              cart_rng=np.random.default_rng(0)) / 1000


def power_at(signal: np.ndarray, hz: float) -> float:
  spectrum = np.abs(np.fft.rfft(signal - signal.mean())) ** 2
  freqs = np.fft.rfftfreq(len(signal), 1 / FS)
  return float(spectrum[np.argmin(np.abs(freqs - hz))])


def test_swapped_arm_cables_mirror_the_limb_leads():
  plain = rendered(PLAIN)
  swapped = rendered(dataclasses.replace(PLAIN, arms_swapped=True))
  np.testing.assert_allclose(swapped[:, LEAD["I"]], -plain[:, LEAD["I"]], atol=1e-5)
  for a, b in (("II", "III"), ("aVR", "aVL")):
    np.testing.assert_allclose(swapped[:, LEAD[a]], plain[:, LEAD[b]], atol=1e-5)
  np.testing.assert_allclose(swapped[:, LEAD["aVF"]], plain[:, LEAD["aVF"]], atol=1e-5)
  # The Wilson terminal is the mean of the three limb electrodes: V leads unchanged.
  np.testing.assert_allclose(swapped[:, 6:], plain[:, 6:], atol=1e-5)


def test_motion_on_one_chest_electrode_shows_only_in_its_lead():
  plain = rendered(PLAIN)
  moved = rendered(dataclasses.replace(PLAIN, motion=[(2.0, 1.5, 5, 1.0)]))  # V3
  diff = np.abs(moved - plain).max(axis=0)
  assert diff[LEAD["V3"]] > 0.3
  assert np.all(np.delete(diff, LEAD["V3"]) < 1e-5)
  # ...while the left-leg electrode reaches every lead but I.
  moved = rendered(dataclasses.replace(PLAIN, motion=[(2.0, 1.5, 2, 1.0)]))
  diff = np.abs(moved - plain).max(axis=0)
  assert diff[LEAD["I"]] < 1e-5 and np.all(np.delete(diff, LEAD["I"]) > 0.05)


def test_cart_filters_shape_the_spectrum():
  t = np.arange(int(10 * FS)) / FS
  probe = (np.sin(2 * np.pi * 0.1 * t) + np.sin(2 * np.pi * 10 * t)
           + np.sin(2 * np.pi * 50 * t) + np.sin(2 * np.pi * 120 * t))[:, None] * np.ones(12)
  diagnostic = recording.cart_processing(probe, FS, recording.Recording())
  monitoring = recording.cart_processing(probe, FS, recording.Recording(
      highpass_hz=0.67, highpass_two_pass=True, lowpass_hz=40.0, notch_hz=50.0))
  for hz in (0.1, 10, 50, 120):   # 0.05-150 Hz passes all four
    assert power_at(diagnostic[:, 0], hz) > 0.5 * power_at(probe[:, 0], hz)
  assert power_at(monitoring[:, 0], 10) > 0.8 * power_at(probe[:, 0], 10)
  for hz in (0.1, 50, 120):       # wander, hum and muscle band removed (> 10 dB)
    assert power_at(monitoring[:, 0], hz) < 0.1 * power_at(probe[:, 0], hz)


def test_saturation_and_a_flat_lead():
  signal = rendered(recording.Recording(saturation_mv=0.4, flat_lead=LEAD["V2"],
                                        highpass_hz=0.0, lowpass_hz=float("inf")))
  assert np.all(signal[:, LEAD["V2"]] == 0)
  others = np.delete(signal, LEAD["V2"], axis=1)
  assert np.abs(others).max() == pytest.approx(0.4, abs=1e-6)
  assert np.mean(np.isclose(np.abs(others), 0.4, atol=1e-6)) > 0.005   # flat tops


def test_carts_vary_as_documented():
  draws = [recording.sample_recording(np.random.default_rng(i), 60.0, 10.0)
           for i in range(3000)]
  assert 0.4 < np.mean([d.notch_hz == 60.0 for d in draws]) < 0.6
  assert 0.3 < np.mean([d.highpass_two_pass for d in draws]) < 0.5
  assert {d.lowpass_hz for d in draws} == {40.0, 100.0, 150.0}
  assert 0.08 < np.mean([bool(d.motion) for d in draws]) < 0.2
  for field in ("arms_swapped", "saturation_mv", "flat_lead"):
    rate = np.mean([getattr(d, field) not in (False, None) for d in draws])
    assert 0 < rate < 0.03, field
