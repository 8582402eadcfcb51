import numpy as np

from ecgjax.ecg import leads


def test_electrode_matrix_satisfies_einthoven_and_goldberger():
  potentials = np.random.default_rng(0).normal(size=(500, 9))
  signal = leads.leads_from_electrodes(potentials)
  for name, residual in leads.limb_lead_residuals(signal).items():
    np.testing.assert_allclose(residual, 0, atol=1e-12, err_msg=name)


def test_precordial_leads_are_referenced_to_wilson_terminal():
  potentials = np.zeros((1, 9))
  potentials[0, :3] = 3.0           # a common shift of the limb electrodes
  signal = leads.leads_from_electrodes(potentials)
  np.testing.assert_allclose(signal[0, 6:], -3.0)   # V1-V6 see the shifted reference
  np.testing.assert_allclose(signal[0, :6], 0.0)    # limb leads are differences


def test_residuals_detect_an_inconsistent_signal():
  signal = leads.leads_from_electrodes(np.random.default_rng(1).normal(size=(100, 9)))
  signal[:, 2] += 0.5                # corrupt lead III
  assert np.abs(leads.limb_lead_residuals(signal)["einthoven"]).min() > 0.4
