"""Generated normal ECGs measured against published adult normal values.

The generator's physiology is checked here, never fitted to labelled recordings:
the cohort draws intervals and axes, and the dipole model and lead field make the
per-lead amplitudes. `measure_normals` renders noise-free normal ECGs (sinus rhythm
and nothing else on the label list) and reads each lead's R and S amplitudes off
the first whole beat; `PUBLISHED` holds the adult values they must fall within.

  python benchmarks/synthetic_normal_ranges.py [COUNT]   (prints the medians)

Sources (adults, both sexes; amplitudes in mV, intervals in ms, axis in degrees):
- Intervals and axis, about the 2nd-98th percentiles: Mason JW, Ramseth DJ,
  Chanter DO et al., "Electrocardiographic reference ranges derived from 79,743
  ambulatory subjects", J Electrocardiol 2007;40:228-234: PR 120-200 ms (men's
  upper limit near 210), QRS 70-110 ms, Bazett QTc below 450 (men) and 460
  (women), frontal QRS axis -30 to +90.
- Per-lead R and S medians: Macfarlane PW, Lawrie TDV (eds), Comprehensive
  Electrocardiology, 2nd ed. (Springer 2010), ch. 35 normal-limits tables from
  the Glasgow population, and Rijnbeek PR et al., "Normal values of the
  electrocardiogram for ages 16-90 years", J Electrocardiol 2014;47:914-921.
  The precordial R grows from V1 to a maximum at V4-V5 and the S is deepest in
  V2 (median about 1.5 mV in men, 1.1 in women) so the largest QRS is in V2-V4;
  limb-lead R medians are about 1.0 mV in II and 0.5-0.7 in I. The ranges below
  enclose the published medians of men and women from 20 to 80 years, so they
  test the population median of each lead, not any single ECG.
"""

import dataclasses

import numpy as np

from ecgjax.ecg import leads as lead_names
from ecgjax.synthetic import cohort, criteria, generator, morphology as morph, render, rhythm

# Population-median ranges per lead, (low, high) in mV.
PUBLISHED_R_MEDIAN = {
    "I": (0.35, 0.85), "II": (0.65, 1.3), "aVL": (0.1, 0.55), "aVF": (0.35, 1.0),
    "V1": (0.1, 0.4), "V2": (0.3, 0.9), "V3": (0.5, 1.2), "V4": (0.9, 1.9),
    "V5": (0.9, 1.8), "V6": (0.7, 1.4),
}
PUBLISHED_S_MEDIAN = {
    "V1": (0.6, 1.3), "V2": (1.0, 1.9), "V3": (0.6, 1.4), "V4": (0.25, 0.9),
    "V5": (0.05, 0.5), "V6": (0.0, 0.3),
}
# P wave in lead II: amplitude below 0.25 mV (above it: right atrial enlargement), a
# median about 0.1 mV (Macfarlane & Lawrie 2010).
PUBLISHED_P_II_MEDIAN = (0.06, 0.18)
PUBLISHED_P_II_MAX = 0.25
# 2nd-98th percentile ranges; `fraction_within` tests that most normals fall inside.
PUBLISHED_LIMITS = {"pr_ms": (120, 210), "qrs_ms": (70, 110), "qtc_ms": (350, 460),
                    "axis_deg": (-30, 90)}


@dataclasses.dataclass
class NormalMeasurements:
  r_mv: dict[str, np.ndarray]          # lead -> R amplitude per ECG
  s_mv: dict[str, np.ndarray]          # lead -> S depth per ECG (positive mV)
  p_ii_mv: np.ndarray                  # P wave height in lead II
  pr_ms: np.ndarray
  qrs_ms: np.ndarray
  qtc_ms: np.ndarray
  axis_deg: np.ndarray
  ages: np.ndarray
  sexes: np.ndarray


def _is_normal(spec: cohort.EcgSpec) -> bool:
  return spec.labels == {"sinus_rhythm"}


def measure_normals(count: int, seed: int = 0, fs: float = 500.0) -> NormalMeasurements:
  """Renders the first `count` normal ECGs of the cohort for `seed`, noise-free."""
  rows = {"r": [], "s": [], "p": [], "pr": [], "qrs": [], "qtc": [], "axis": [], "age": [],
          "sex": []}
  index = 0
  while len(rows["r"]) < count:
    patient, rng, spec = generator.draw_ecg(seed, index, 0)
    index += 1
    if not _is_normal(spec):
      continue
    sched = rhythm.schedule(rng, spec.rhythm, 10.0)
    quiet = render.NoiseSpec(baseline_mv=0.0, muscle_mv=0.0, powerline_mv=0.0)
    signal = generator.render_ecg(rng, spec, sched, fs, 10.0, noise=quiet)
    ventricle = spec.ventricles["normal"]
    onset = next(t for t, k in zip(sched.v_times, sched.v_kinds) if t > 0.3 and k == "normal")
    start = int(onset * fs)
    # The PR segment (20 ms before QRS onset) is the isoelectric reference.
    baseline = signal[start - int(0.02 * fs)] / 1000
    # R and S as the labelling criteria read them (criteria.r_and_s).
    qrs = slice(start - int(0.01 * fs), start + int((ventricle.qrs_duration + 0.03) * fs))
    r, s = criteria.r_and_s(signal[qrs] / 1000 - baseline)
    rows["r"].append(r)
    rows["s"].append(s)
    p_start = start - int(spec.rhythm.pr * fs)
    rows["p"].append(float((signal[p_start:start - int(0.01 * fs), 1] / 1000
                            - baseline[1]).max()))
    rows["pr"].append(spec.rhythm.pr * 1000)
    rows["qrs"].append(ventricle.qrs_duration * 1000)
    rows["qtc"].append(spec.qtc * 1000)
    rows["axis"].append(morph.frontal_axis(ventricle))
    rows["age"].append(patient.age)
    rows["sex"].append(patient.sex)
  r, s = np.array(rows["r"]), np.array(rows["s"])
  names = lead_names.STANDARD_LEADS
  return NormalMeasurements(
      r_mv={n: r[:, i] for i, n in enumerate(names)},
      s_mv={n: s[:, i] for i, n in enumerate(names)}, p_ii_mv=np.array(rows["p"]),
      pr_ms=np.array(rows["pr"]), qrs_ms=np.array(rows["qrs"]),
      qtc_ms=np.array(rows["qtc"]), axis_deg=np.array(rows["axis"]),
      ages=np.array(rows["age"]), sexes=np.array(rows["sex"]))


def fraction_within(values: np.ndarray, limits: tuple[float, float]) -> float:
  lo, hi = limits
  return float(np.mean((values >= lo) & (values <= hi)))


def main(count: int = 300) -> None:
  m = measure_normals(count)
  for lead in lead_names.STANDARD_LEADS:
    print(f"{lead:4s} R {np.median(m.r_mv[lead]):.2f} (published {PUBLISHED_R_MEDIAN.get(lead)})  "
          f"S {np.median(m.s_mv[lead]):.2f} (published {PUBLISHED_S_MEDIAN.get(lead)})")
  for field, limits in PUBLISHED_LIMITS.items():
    values = getattr(m, field)
    print(f"{field}: 2nd/50th/98th percentiles {np.percentile(values, [2, 50, 98]).round(1)}, "
          f"published {limits}")


if __name__ == "__main__":
  import sys
  main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
