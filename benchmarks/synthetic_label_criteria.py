"""The generator's labels checked against the published criterion a reader applies.

Archives disagree most on the labels a reader decides by a measurement (axis, LVH,
atrial enlargement), so each such synthetic label states the criterion it follows,
and `measure` reads that criterion off generated ECGs as a reader would: on the
rendered leads of one beat, noise-free at 500 Hz, not from the generator's internal
parameters. `agreement` then counts, per label, how many labelled ECGs meet the
criterion and how many unlabelled ones do.

  python benchmarks/synthetic_label_criteria.py [COUNT]   (prints the table)

The criteria (ecgjax/synthetic/criteria.py, with their citations): frontal QRS axis
below -30 / above +90 degrees for left / right axis deviation (Surawicz B et al., AHA/ACCF/HRS
recommendations part III, Circulation 2009;119:e235-e240; the axis is the direction
of the net QRS area in the hexaxial frame, from leads I and aVF, aVF's lead vector
being sqrt(3)/2 of lead I's in Einthoven's triangle); Sokolow-Lyon or Cornell voltage
for LVH; P in II above 0.25 mV for right, P duration or V1's terminal force for left
atrial enlargement. Since generator 1.5.0 the generator labels LVH and atrial
enlargement by these criteria on the beat it draws; this module reads them again on
the rendered ECG, whose chest electrodes are misplaced a little per recording.
"""

import dataclasses

import numpy as np

from ecgjax.synthetic import criteria, generator, render, rhythm

FS = 500.0
DURATION = 10.0
_LEAD = criteria.LEAD
LABELS = ("left_axis_deviation", "right_axis_deviation", "left_ventricular_hypertrophy",
          "right_atrial_enlargement", "left_atrial_enlargement")


@dataclasses.dataclass
class Measured:
  """One ECG's measurements and generator labels."""
  labels: frozenset
  sex: str
  axis_deg: float
  sokolow_lyon_mv: float
  cornell_mv: float
  p_ii_mv: float | None          # None: no P wave before the measured beat
  p_duration_s: float | None
  p_terminal_force_v1: float | None   # mV.s

  def meets(self, label: str) -> bool | None:
    """Whether this ECG meets `label`'s criterion (None: not measurable here)."""
    if label == "left_axis_deviation":
      return -90 <= self.axis_deg < -30
    if label == "right_axis_deviation":
      return 90 < self.axis_deg <= 180
    if label == "left_ventricular_hypertrophy":
      if self.labels & criteria.VOLTAGE_CRITERIA_VOID:
        return None
      return self.sokolow_lyon_mv >= criteria.SOKOLOW_LYON_MV or self.cornell()
    if self.p_ii_mv is None:
      return None
    if label == "right_atrial_enlargement":
      return criteria.right_atrial_enlargement(self.p_ii_mv)
    if label == "left_atrial_enlargement":
      return criteria.left_atrial_enlargement(self.p_duration_s, self.p_terminal_force_v1)
    raise ValueError(f"no criterion for {label!r}")

  def cornell(self) -> bool:
    return self.cornell_mv > criteria.CORNELL_MV[self.sex]


def _p_wave(signal: np.ndarray, p_start: int, qrs_onset: int):
  """criteria.p_wave on the P window [p_start, QRS onset - 10 ms), against the level
  just before the P."""
  baseline = signal[max(p_start - int(0.02 * FS), 0)]
  window = signal[p_start:max(qrs_onset - int(0.01 * FS), p_start + 1)] - baseline
  return criteria.p_wave(window, FS)


def measure_ecg(seed: int, index: int) -> Measured:
  """Patient `index`'s first ECG, rendered noise-free through an ideal cart, measured
  on its first normally conducted beat after 0.3 s."""
  patient, rng, spec = generator.draw_ecg(seed, index, 0)
  sched = rhythm.schedule(rng, spec.rhythm, DURATION)
  quiet = render.NoiseSpec(baseline_mv=0.0, muscle_mv=0.0, powerline_mv=0.0)
  signal = generator.render_ecg(rng, spec, sched, FS, DURATION, noise=quiet) / 1000.0
  beats = [t for t, k in zip(sched.v_times, sched.v_kinds) if k == "normal" and 0.3 < t < 9.0]
  kind = "normal" if beats else next(k for t, k in zip(sched.v_times, sched.v_kinds) if t > 0.3)
  onset_s = beats[0] if beats else next(t for t in sched.v_times if t > 0.3)
  ventricle = spec.ventricles[kind]
  onset = int(onset_s * FS)
  baseline = signal[onset - int(0.02 * FS)]
  qrs = signal[onset - int(0.01 * FS):onset + int((ventricle.qrs_duration + 0.03) * FS)] - baseline
  r, s = criteria.r_and_s(qrs)
  area = qrs.sum(axis=0)
  axis = float(np.rad2deg(np.arctan2(area[_LEAD["aVF"]] / (np.sqrt(3) / 2), area[_LEAD["I"]])))
  # The sinus P that conducted this beat (a PR of 50-400 ms), where there is one.
  p_before = [t for t in sched.p_times if max(onset_s - 0.4, 0.05) < t < onset_s - 0.05]
  p = _p_wave(signal, int(p_before[-1] * FS), onset) if (
      p_before and spec.rhythm.kind == "sinus") else (None, None, None)
  return Measured(
      labels=frozenset(spec.labels), sex=patient.sex, axis_deg=axis,
      sokolow_lyon_mv=criteria.sokolow_lyon_mv(r, s), cornell_mv=criteria.cornell_mv(r, s),
      p_ii_mv=p[0], p_duration_s=p[1], p_terminal_force_v1=p[2])


def measure(count: int, seed: int = 0) -> list[Measured]:
  return [measure_ecg(seed, index) for index in range(count)]


def agreement(measured: list[Measured], label: str) -> dict:
  """Of the ECGs where the criterion can be read: how many carry the label, how many
  of those meet the criterion (`labelled_meeting`), and how many of the unlabelled
  do (`unlabelled_meeting`)."""
  rows = [(label in m.labels, m.meets(label)) for m in measured]
  rows = [(labelled, meets) for labelled, meets in rows if meets is not None]
  labelled = [meets for has, meets in rows if has]
  unlabelled = [meets for has, meets in rows if not has]
  return {"label": label, "ecgs": len(rows), "labelled": len(labelled),
          "labelled_meeting": float(np.mean(labelled)) if labelled else None,
          "unlabelled": len(unlabelled),
          "unlabelled_meeting": float(np.mean(unlabelled)) if unlabelled else None}


def main(count: int = 2000) -> None:
  measured = measure(count)
  print("| label | ECGs labelled | labelled meeting the criterion | unlabelled meeting it |")
  print("|---|---|---|---|")
  for label in LABELS:
    a = agreement(measured, label)
    fmt = lambda v: "n/a" if v is None else f"{v:.1%}"
    print(f"| {label} | {a['labelled']} of {a['ecgs']} | {fmt(a['labelled_meeting'])} | "
          f"{fmt(a['unlabelled_meeting'])} |")
  lvh = [m for m in measured if "left_ventricular_hypertrophy" in m.labels]
  rest = [m for m in measured if "left_ventricular_hypertrophy" not in m.labels]
  print(f"Cornell voltage: {np.mean([m.cornell() for m in lvh]):.1%} of LVH-labelled, "
        f"{np.mean([m.cornell() for m in rest]):.1%} of the others")
  print("Sokolow-Lyon mV, 10th/50th/90th percentiles: LVH-labelled "
        f"{np.percentile([m.sokolow_lyon_mv for m in lvh], [10, 50, 90]).round(2)}, others "
        f"{np.percentile([m.sokolow_lyon_mv for m in rest], [10, 50, 90]).round(2)}")
  plain = [m.p_duration_s * 1000 for m in measured if m.p_duration_s is not None
           and not m.labels & {"left_atrial_enlargement", "right_atrial_enlargement"}]
  print("P duration in II without atrial enlargement, ms, 10th/50th/90th percentiles: "
        f"{np.percentile(plain, [10, 50, 90]).round(0)}")


if __name__ == "__main__":
  import sys
  main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
