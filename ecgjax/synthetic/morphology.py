"""Beat morphology as a moving cardiac dipole.

The heart's electrical activity is modelled as one dipole vector d(t) in the
torso frame (x: patient's left, y: inferior, z: anterior), the sum of Gaussian
activation waves, each with a centre time, a width, an amplitude (mV) and a 3-D
direction. P, QRS and T are groups of such waves; the ST segment is a plateau.
Conditions act on the waves the way they act on the heart: a bundle-branch block
delays and redirects late depolarisation, an infarct removes the forces of its
territory, an injury current shifts the ST segment towards its territory.
"""

import dataclasses

import numpy as np

# Wave rows: centre (s, relative to beat onset), sigma (s), amplitude (mV), ux, uy, uz.
WAVE_COLUMNS = 6


def unit(v) -> np.ndarray:
  v = np.asarray(v, dtype=np.float64)
  return v / np.linalg.norm(v)


def frontal(angle_deg: float, anterior: float = 0.0) -> np.ndarray:
  """Unit vector at a hexaxial frontal angle (0 = lead I, +90 = aVF)."""
  a = np.deg2rad(angle_deg)
  return unit([np.cos(a), np.sin(a), anterior])


def waves(*rows) -> np.ndarray:
  """Rows of (centre, sigma, amplitude, direction) -> (n, 6) array."""
  return np.array([[c, s, a, *unit(u)] for c, s, a, u in rows], dtype=np.float64)


# Territories as directions from the heart's centre towards the wall.
TERRITORY = {
    "anterior": unit([-0.1, 0.1, 1.0]),
    "inferior": unit([-0.1, 1.0, 0.1]),
    "lateral": unit([0.9, -0.35, 0.1]),
}
# Where ST depression points (subendocardial ischaemia: towards the cavity).
ST_DEPRESSION = {
    "lateral": unit([-0.85, -0.1, -0.5]),
    "inferior": unit([0.1, -1.0, 0.0]),
}
RIGHT_VENTRICULAR_OUTFLOW = unit([-0.55, -0.1, 0.83])   # Brugada's V1-V2
RIGHT_ANTERIOR_TERMINAL = unit([-0.6, 0.0, 0.8])        # RBBB's late forces


@dataclasses.dataclass
class AtrialMorphology:
  p_waves: np.ndarray                     # relative to atrial activation


@dataclasses.dataclass
class VentricularMorphology:
  """One beat's ventricular waves, QT-independent parts relative to QRS onset."""
  qrs_waves: np.ndarray
  qrs_duration: float
  st_vector: np.ndarray                   # mV, 3-D; zero for an isoelectric ST
  st_coved: bool                          # peaks at J and descends (Brugada)
  t_vector: np.ndarray                    # mV, 3-D: amplitude times direction
  t_width: float                          # sigma of the T wave, s
  pacing_spike_mv: float = 0.0            # at the dipole; 0: not paced


def normal_atrium(rng: np.random.Generator, p_axis: float,
                  duration_scale: float = 1.0) -> AtrialMorphology:
  """Right then left atrial activation; `duration_scale` stretches both (the P lasts
  about 88 ms at 1.0, measured as benchmarks/synthetic_label_criteria.py measures it)."""
  amp = rng.uniform(0.1, 0.18)
  p = waves(
      (0.045, 0.018, amp * 0.7, frontal(p_axis + 15, 0.3)),   # right atrium
      # Left atrium: leftward and a little posterior, a small terminal negative P in
      # V1 whose force stays below the left atrial abnormality criterion (criteria.py).
      (0.065, 0.018, amp * 0.6, frontal(p_axis - 10, -0.1)),
  )
  p[:, :2] *= duration_scale
  return AtrialMorphology(p)


# Ectopic atrial foci and their P' axes (frontal degrees, anterior part): a P' wave
# points away from its focus (Kistler PM et al., "P-wave morphology in focal atrial
# tachycardia", J Am Coll Cardiol 2006;48:1010-1017). High right-atrial foci (crista
# terminalis) look like sinus P waves; left-atrial foci are negative in I and aVL and
# positive in V1; low foci are negative in the inferior leads.
ECTOPIC_ATRIAL_SITES = {
    "high_right": ((50, 85), (0.1, 0.4), 0.45),
    "left": ((100, 160), (0.4, 0.8), 0.3),
    "low": ((-90, -40), (-0.1, 0.3), 0.25),
}


def ectopic_atrium(rng: np.random.Generator) -> AtrialMorphology:
  """A P' wave from one focus, drawn by `ECTOPIC_ATRIAL_SITES` prevalence."""
  sites = list(ECTOPIC_ATRIAL_SITES)
  site = sites[rng.choice(len(sites), p=[ECTOPIC_ATRIAL_SITES[s][2] for s in sites])]
  (lo, hi), (front_lo, front_hi), _ = ECTOPIC_ATRIAL_SITES[site]
  return AtrialMorphology(waves(
      (0.045, rng.uniform(0.016, 0.024), rng.uniform(0.08, 0.17),
       frontal(rng.uniform(lo, hi), rng.uniform(front_lo, front_hi))),
  ))


def normal_ventricle(rng: np.random.Generator, axis: float, t_amp: float,
                     qrs_duration: float = 0.09) -> VentricularMorphology:
  """Septal q, early and late left-ventricular R, terminal S; concordant T.

  The waves are drawn at frontal axis 50 degrees; `rotate_frontal` moves them to
  the patient's axis. The left-ventricular free wall's forces point well behind
  the frontal plane (the normal adult QRS loop is posterior in the transverse
  plane): they make the deep S in V1-V3. `qrs_duration` stretches the sequence.
  """
  r = rng.uniform(1.0, 1.7)
  qrs = waves(
      (0.012, 0.007, 0.18 * r, [-0.5, 0.3, 0.8]),            # septum: right-anterior
      (0.034, 0.010, 0.65 * r, frontal(40, 0.5)),            # apex: left-anterior
      (0.050, 0.011, 0.9 * r, frontal(35, -0.9)),            # free wall: left-posterior
      (0.072, 0.009, 0.25 * r, [-0.3, -0.6, -0.6]),          # base: right-superior-posterior
  )
  qrs[:, :2] *= qrs_duration / 0.09
  # People differ wave by wave, not just in overall size and axis: each wave's
  # timing, width, size and direction varies, so no one template is "normal".
  n = len(qrs)
  qrs[:, 0] *= rng.uniform(0.9, 1.1, size=n)
  qrs[:, 1] *= rng.uniform(0.85, 1.15, size=n)
  qrs[:, 2] *= rng.lognormal(0, 0.2, size=n)
  qrs[:, 3:] = [unit(d + rng.normal(scale=0.2, size=3)) for d in qrs[:, 3:]]
  t_direction = unit(frontal(45, 0.45) + rng.normal(scale=0.2, size=3))
  ventricle = VentricularMorphology(
      qrs_waves=qrs, qrs_duration=qrs_duration, st_vector=np.zeros(3), st_coved=False,
      t_vector=t_amp * t_direction, t_width=rng.uniform(0.034, 0.048))
  return rotate_frontal(ventricle, axis - 50)


def rotate_frontal(v: VentricularMorphology, degrees: float) -> VentricularMorphology:
  """Turns every QRS wave's frontal projection, keeping its anterior part."""
  a = np.deg2rad(degrees)
  rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
  qrs = v.qrs_waves.copy()
  qrs[:, 3:] = qrs[:, 3:] @ rot.T
  return dataclasses.replace(v, qrs_waves=qrs)


def mean_qrs_vector(v: VentricularMorphology) -> np.ndarray:
  """The QRS's net force (area-weighted), whose frontal angle is the axis."""
  w = v.qrs_waves
  return (w[:, 1:2] * w[:, 2:3] * w[:, 3:]).sum(axis=0)


def frontal_axis(v: VentricularMorphology) -> float:
  x, y, _ = mean_qrs_vector(v)
  return float(np.rad2deg(np.arctan2(y, x)))


def discordant_t(v: VentricularMorphology, amp: float) -> VentricularMorphology:
  """Secondary repolarisation of abnormal depolarisation: ST-T opposite the QRS."""
  away = -unit(mean_qrs_vector(v))
  return dataclasses.replace(v, t_vector=amp * away, st_vector=0.08 * away)


def left_bundle_branch_block(rng, axis: float) -> VentricularMorphology:
  dur = rng.uniform(0.13, 0.17)
  r = rng.uniform(1.0, 1.4)
  v = VentricularMorphology(
      qrs_waves=waves(
          (0.30 * dur, 0.13 * dur, 0.9 * r, frontal(axis + 10, -0.6)),
          (0.62 * dur, 0.14 * dur, 1.0 * r, frontal(axis - 5, -0.9)),
      ),
      qrs_duration=dur, st_vector=np.zeros(3), st_coved=False,
      t_vector=np.zeros(3), t_width=rng.uniform(0.045, 0.055))
  return discordant_t(v, rng.uniform(0.35, 0.55))


def paced_ventricle(rng) -> VentricularMorphology:
  """Right-ventricular apical pacing: wide, superior axis, LBBB-like. The stimulus is
  large from a unipolar lead and small from the commoner bipolar one; the cart's
  low-pass then shrinks and widens it further, often to a fraction of a millivolt."""
  v = left_bundle_branch_block(rng, axis=rng.uniform(-80, -50))
  spike = rng.lognormal(np.log(0.8), 0.5) if rng.uniform() < 0.8 else rng.uniform(2.0, 6.0)
  return dataclasses.replace(v, pacing_spike_mv=float(spike))


# Where premature ventricular beats start, and so where their forces point: away
# from the focus, across the rest of the ventricles. Name: (share, frontal axis
# range in degrees, anterior component range, QRS duration range in s). Most
# idiopathic PVCs arise in the outflow tracts, the right more often than the left:
# an inferior axis, a left-bundle-branch-block shape in V1 (right) or an early
# precordial transition (left). Fascicular foci give a right-bundle-branch-block
# shape with a superior axis and the narrowest ectopic QRS; right-ventricular body
# and apex foci a left-bundle shape with a superior axis; left-ventricular apical
# foci point superiorly and away from V4-V6; basal lateral (mitral annular) foci
# a right-bundle shape with an inferior-rightward axis. A small share has any
# direction, for the structural hearts whose scars put foci anywhere.
PVC_FOCI = {
    "right_ventricular_outflow": (0.40, (70, 100), (-0.8, -0.4), (0.14, 0.17)),
    "left_ventricular_outflow": (0.15, (80, 115), (-0.1, 0.4), (0.13, 0.16)),
    "left_fascicular": (0.10, (-90, -50), (0.5, 0.9), (0.12, 0.14)),
    "right_ventricular_body": (0.10, (-80, -20), (-0.8, -0.4), (0.14, 0.18)),
    "left_ventricular_apex": (0.10, (-150, -95), (-0.4, 0.4), (0.14, 0.18)),
    "left_ventricular_lateral": (0.10, (100, 160), (0.4, 0.8), (0.14, 0.18)),
    "any": (0.05, None, None, (0.13, 0.18)),
}


def ectopic_focus(rng) -> tuple[str, np.ndarray, float]:
  """A PVC focus drawn by PVC_FOCI's shares: (name, main force direction, QRS s)."""
  names = list(PVC_FOCI)
  shares = np.array([PVC_FOCI[n][0] for n in names])
  name = names[rng.choice(len(names), p=shares / shares.sum())]
  _, axis, anterior, duration = PVC_FOCI[name]
  if axis is None:
    direction = unit(rng.normal(size=3))
  else:
    direction = frontal(rng.uniform(*axis), rng.uniform(*anterior))
  return name, direction, float(rng.uniform(*duration))


def ectopic_ventricle(rng) -> VentricularMorphology:
  """A premature ventricular beat from a focus (PVC_FOCI): wide, its forces pointing
  away from the focus, a slurred second half, discordant T."""
  _, d1, dur = ectopic_focus(rng)
  d2 = unit(d1 + 0.4 * rng.normal(size=3))
  amp = rng.uniform(1.2, 2.0)
  v = VentricularMorphology(
      qrs_waves=waves((0.35 * dur, 0.15 * dur, amp, d1),
                      (0.65 * dur, 0.12 * dur, 0.5 * amp, d2)),
      qrs_duration=dur, st_vector=np.zeros(3), st_coved=False,
      t_vector=np.zeros(3), t_width=0.055)
  return discordant_t(v, 0.35 * amp)


def add_terminal_right_anterior(v: VentricularMorphology, amp: float,
                                duration_gain: float) -> VentricularMorphology:
  """Right bundle-branch delay: a slow late wave to the right ventricle."""
  end = v.qrs_duration
  late = waves((end + 0.25 * duration_gain, 0.4 * duration_gain, amp,
                RIGHT_ANTERIOR_TERMINAL))
  return dataclasses.replace(v, qrs_waves=np.concatenate([v.qrs_waves, late]),
                             qrs_duration=end + duration_gain)


def widen(v: VentricularMorphology, factor: float) -> VentricularMorphology:
  """Slow, non-specific intraventricular conduction: every QRS wave stretched."""
  qrs = v.qrs_waves.copy()
  qrs[:, :2] *= factor
  return dataclasses.replace(v, qrs_waves=qrs, qrs_duration=v.qrs_duration * factor)


def scale_forces(v: VentricularMorphology, factor: float,
                 toward: np.ndarray | None = None) -> VentricularMorphology:
  """Scales QRS waves; with `toward`, only waves pointing into that half-space."""
  qrs = v.qrs_waves.copy()
  if toward is None:
    qrs[:, 2] *= factor
  else:
    weight = np.clip(qrs[:, 3:] @ toward, 0, 1)
    qrs[:, 2] *= 1 + (factor - 1) * weight
  return dataclasses.replace(v, qrs_waves=qrs)


def scale_frontal(v: VentricularMorphology, factor: float) -> VentricularMorphology:
  """Scales the frontal (limb-lead) part of every QRS wave only."""
  qrs = v.qrs_waves.copy()
  vectors = qrs[:, 2:3] * qrs[:, 3:]
  vectors[:, :2] *= factor
  amp = np.linalg.norm(vectors, axis=1, keepdims=True)
  qrs[:, 2:3], qrs[:, 3:] = amp, vectors / amp
  return dataclasses.replace(v, qrs_waves=qrs)


def infarct(v: VentricularMorphology, territory: np.ndarray,
            strength: float) -> VentricularMorphology:
  """Dead myocardium: its forces vanish, so the initial QRS points away (Q waves)."""
  v = scale_forces(v, 1 - 0.6 * strength, toward=territory)
  q = waves((0.02, 0.011, 0.55 * strength, -territory))
  qrs = np.concatenate([q, v.qrs_waves])
  return dataclasses.replace(v, qrs_waves=qrs)


def invert_t(v: VentricularMorphology, direction: np.ndarray,
             strength: float) -> VentricularMorphology:
  """Turns the T vector away from `direction`: T negative in the leads facing it."""
  t = v.t_vector
  size = max(np.linalg.norm(t), 0.15)
  along = t @ direction
  turned = t - along * direction - strength * size * direction
  return dataclasses.replace(v, t_vector=turned)


def add_st(v: VentricularMorphology, vector: np.ndarray,
           coved: bool = False) -> VentricularMorphology:
  return dataclasses.replace(v, st_vector=v.st_vector + vector,
                             st_coved=v.st_coved or coved)


def add_delta_wave(v: VentricularMorphology, rng, pre_excitation: float
                   ) -> VentricularMorphology:
  """Wolff-Parkinson-White: early slurred activation through an accessory pathway.

  The delta wave starts `pre_excitation` seconds before the normal QRS onset;
  the beat's reference time stays the normal onset so the PR shortens.
  """
  pathway = unit(frontal(rng.choice([-30, 20, 70, 110]), rng.uniform(-0.8, 0.3)))
  delta = waves((-pre_excitation * 0.35, pre_excitation * 0.45,
                 rng.uniform(0.35, 0.6), pathway))
  v = dataclasses.replace(v, qrs_waves=np.concatenate([delta, v.qrs_waves]))
  return discordant_t(v, np.linalg.norm(v.t_vector) * 0.8 + 0.1)


def left_atrial_enlargement(a: AtrialMorphology, amp: float) -> AtrialMorphology:
  p = a.p_waves.copy()
  p[:, 1] *= 1.25
  late = waves((0.10, 0.022, amp, [0.4, 0.15, -0.9]))
  return AtrialMorphology(np.concatenate([p, late]))


def right_atrial_enlargement(a: AtrialMorphology, amp: float) -> AtrialMorphology:
  p = a.p_waves.copy()
  p[0, 2] = amp
  p[0, 3:] = frontal(78, 0.3)
  p[:, 1] *= 0.9
  return AtrialMorphology(p)
