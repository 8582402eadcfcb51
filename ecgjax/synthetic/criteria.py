"""The published criteria a reader applies to the measured labels, read off leads.

The generator labels LVH and atrial enlargement by these criteria measured on the
beat it draws (cohort.py), and benchmarks/synthetic_label_criteria.py checks them
again on rendered ECGs, so both read the leads the same way. Amplitudes in mV, times in s.

- Left ventricular hypertrophy by voltage: Sokolow-Lyon, S in V1 plus the larger R
  of V5 and V6, at least 3.5 mV (Sokolow M, Lyon TP, Am Heart J 1949;37:161-186), or
  the Cornell voltage, R in aVL plus S in V3, above 2.8 (men) or 2.0 (women) (Casale
  PN et al., Circulation 1987;75:565-572). Neither applies with a left bundle-branch
  block, pre-excitation or pacing (Hancock EW et al., AHA/ACCF/HRS recommendations
  part V, Circulation 2009;119:e251-e261).
- Right atrial enlargement: P in II above 0.25 mV (Hancock 2009).
- Left atrial enlargement: P duration in II of 120 ms or more, or a P terminal force
  in V1 (depth times duration of its negative terminal part) of 0.04 mm.s (0.004
  mV.s) or more (Morris JJ et al., Circulation 1964;29:242-252; Hancock 2009).
"""

import numpy as np

from ecgjax.ecg import leads as lead_names

# QRS shapes on which no voltage criterion for LVH is read (Hancock 2009).
VOLTAGE_CRITERIA_VOID = frozenset({"left_bundle_branch_block", "wolff_parkinson_white",
                                   "ventricular_pacing"})
SOKOLOW_LYON_MV = 3.5
CORNELL_MV = {"male": 2.8, "female": 2.0}
RAE_P_AMPLITUDE_MV = 0.25
LAE_P_DURATION_S = 0.12
LAE_P_TERMINAL_FORCE_MV_S = 0.004
LEAD = {name: i for i, name in enumerate(lead_names.STANDARD_LEADS)}


def r_and_s(window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Per lead of a baseline-subtracted QRS window (samples, 12): R, the highest
  point, and S, the deepest point after the R (a QS complex, with no R, is all S)."""
  peak = np.argmax(window, axis=0)
  r = np.clip(window.max(axis=0), 0, None)
  s = np.array([max(0.0, -(window[peak[k]:, k] if r[k] > 0.05 else window[:, k]).min())
                for k in range(window.shape[1])])
  return r, s


def sokolow_lyon_mv(r: np.ndarray, s: np.ndarray) -> float:
  return float(s[LEAD["V1"]] + max(r[LEAD["V5"]], r[LEAD["V6"]]))


def cornell_mv(r: np.ndarray, s: np.ndarray) -> float:
  return float(r[LEAD["aVL"]] + s[LEAD["V3"]])


def lvh_by_voltage(r: np.ndarray, s: np.ndarray, sex: str) -> bool:
  return sokolow_lyon_mv(r, s) >= SOKOLOW_LYON_MV or cornell_mv(r, s) > CORNELL_MV[sex]


def p_wave(window: np.ndarray, fs: float) -> tuple[float, float, float]:
  """(signed P amplitude in II, P duration in II, P terminal force in V1 in mV.s) of a
  baseline-subtracted P window (samples, 12) sampled at `fs`. The duration spans the
  samples above a tenth of the P's peak; the terminal force is the last negative part
  of V1's P: its depth times its duration."""
  ii, v1 = window[:, LEAD["II"]], window[:, LEAD["V1"]]
  amplitude = float(np.abs(ii).max())
  above = np.flatnonzero(np.abs(ii) > 0.1 * max(amplitude, 1e-6))
  duration = (above[-1] - above[0] + 1) / fs if len(above) else 0.0
  negative = v1 < -0.005
  terminal = 0.0
  if negative.any():
    end = np.flatnonzero(negative)[-1]
    start = end
    while start > 0 and negative[start - 1]:
      start -= 1
    terminal = float(-v1[start:end + 1].min() * (end - start + 1) / fs)
  return float(ii[np.argmax(np.abs(ii))]), float(duration), terminal


def right_atrial_enlargement(p_ii_mv: float) -> bool:
  return p_ii_mv > RAE_P_AMPLITUDE_MV


def left_atrial_enlargement(p_duration_s: float, p_terminal_force_v1: float) -> bool:
  return (p_duration_s >= LAE_P_DURATION_S
          or p_terminal_force_v1 >= LAE_P_TERMINAL_FORCE_MV_S)
