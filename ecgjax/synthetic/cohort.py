"""Who is recorded, and what their ECGs show.

A patient carries chronic traits (age, sex, axis, voltage, intervals, structural
disease, old infarcts, conduction blocks, rare conditions) that every one of
their ECGs shares; each recording then draws its own rhythm, ectopy and acute
changes. Prevalences rise with age where they do in the clinic, and conditions
co-occur as they do (LAFB with left axis, LVH with strain, old infarcts with T
inversion, complete heart block with pacing on a later visit).

Labels are read from what was rendered, not from what was intended: a sinus
rate of 58/min is bradycardia whatever the patient's usual rate, and LVH and
atrial enlargement are labelled where the drawn beat meets the published voltage
and P-wave criteria (criteria.py) on the patient's leads, whatever the hidden
hypertrophy or enlargement that drew it.
"""

import dataclasses

import numpy as np

from ecgjax.ecg import leads
from ecgjax.synthetic import conditions, criteria
from ecgjax.synthetic import morphology as morph
from ecgjax.synthetic import render
from ecgjax.synthetic.render import NoiseSpec
from ecgjax.synthetic.rhythm import RhythmSpec

LOW_VOLTAGE_LABEL_THRESHOLD = 0.5     # mV, every limb lead (the clinical criterion)
Q_WAVE_LABEL_THRESHOLD = 0.5
MAX_ECGS_PER_PATIENT = 8
# Traits whose QRS already shows a bundle-branch block (no aberrancy to add).
BUNDLE_BRANCH_BLOCKS = frozenset({"rbbb", "irbbb", "lbbb"})


@dataclasses.dataclass
class Patient:
  index: int
  age: int
  sex: str                      # female | male
  axis: float                   # frontal QRS axis, degrees
  p_axis: float
  voltage: float                # body habitus: overall dipole-to-skin gain
  heart_rate: float
  pr: float
  qtc: float
  t_amp: float
  traits: dict[str, float]      # chronic findings -> intensity
  ecg_count: int
  morphology_seed: int          # the patient's own QRS-T and P shapes, the same every visit
  # Rotation of the heart about its long axis relative to the chest electrodes
  # (degrees; + counter-clockwise seen from below): shifts the precordial
  # transition zone by about one lead per 20 degrees, the same every visit.
  chest_rotation: float = 0.0
  # Normal QRS duration, s: men's is longer (Mason et al. 2007;
  # benchmarks/synthetic_normal_ranges.py).
  qrs_duration: float = 0.09
  # How close the chest electrodes sit to the heart: a thinner chest wall and less
  # interposed lung in the young give larger precordial voltages.
  chest_gain: float = 1.0
  # How long atrial activation takes relative to the template's 88 ms P: adult P
  # duration is about 100 +/- 12 ms, 120 ms or more being left atrial abnormality
  # (Hancock 2009, criteria.py).
  p_duration_scale: float = 1.0


def _chance(rng, p: float) -> bool:
  return bool(rng.uniform() < p)


def sample_patient(rng: np.random.Generator, index: int) -> Patient:
  age = int(np.clip(rng.normal(58, 17), 18, 95))
  sex = "male" if rng.uniform() < 0.52 else "female"
  old = np.clip((age - 40) / 40, 0, 1.5)         # 0 at 40, 1 at 80
  male = sex == "male"
  traits: dict[str, float] = {}

  def maybe(name, p, lo=1.0, hi=1.0):
    if _chance(rng, p):
      traits[name] = float(rng.uniform(lo, hi))

  # Conduction system (mostly degenerative: more with age).
  maybe("lbbb", 0.008 + 0.03 * old)
  if "lbbb" not in traits:
    maybe("rbbb", 0.01 + 0.035 * old)
    if "rbbb" not in traits:
      maybe("irbbb", 0.03)
  maybe("lafb", 0.01 + 0.04 * old)
  if "lafb" not in traits:
    maybe("lpfb", 0.006)
  maybe("wpw", 0.012 if age < 50 else 0.003, 0.03, 0.045)
  maybe("ivcd", 0.01 + 0.02 * old, 1.2, 1.45)
  maybe("first_degree_block", 0.02 + 0.05 * old, 0.21, 0.36)
  # Structure.
  maybe("lvh", (0.04 + 0.08 * old) * (1.4 if male else 0.8), 1.3, 2.2)
  maybe("rvh", 0.01, 1.0, 1.0)
  maybe("lae", 0.02 + 0.05 * old, 0.07, 0.14)
  maybe("rae", 0.015, 0.35, 0.55)
  maybe("low_voltage", 0.03, 0.35, 0.7)
  maybe("long_qt", 0.035, 0.47, 0.56)
  # Old infarcts, more in older men.
  p_mi = (0.01 + 0.06 * old) * (1.5 if male else 0.7)
  for territory in ("inferior", "anterior", "lateral"):
    maybe(f"old_mi_{territory}", p_mi * {"inferior": 1.0, "anterior": 0.8, "lateral": 0.4}[territory],
          0.35, 1.0)
  # Rhythm substrate.
  maybe("chronic_af", 0.01 + 0.06 * old)
  if "chronic_af" not in traits:
    maybe("paroxysmal_af", 0.02 + 0.04 * old)
  maybe("conduction_disease", 0.006 + 0.02 * old)   # 2nd/3rd-degree block, later paced
  maybe("ectopy", 0.12 + 0.1 * old)
  # Rare conditions (fine-tuning targets), each a conjunction of features.
  maybe("hypertrophic_cardiomyopathy", 0.025 if age < 70 else 0.01)
  maybe("cardiac_amyloidosis", (0.01 + 0.03 * old) * (1.5 if male else 0.7))
  maybe("brugada_pattern", 0.035 if male else 0.012)

  # The frontal QRS axis turns leftward with age; its adult 2nd-98th percentiles span
  # about -30 to +90 degrees (Mason et al. 2007, benchmarks/synthetic_normal_ranges.py).
  axis = rng.normal(55 - 30 * old, 24)
  if "lafb" in traits:
    axis = rng.uniform(-80, -45)
  elif "lpfb" in traits or "rvh" in traits:
    axis = rng.uniform(100, 150)
  else:
    axis = float(np.clip(axis, -50, 110))
  return Patient(
      index=index, age=age, sex=sex, axis=float(axis),
      p_axis=float(rng.normal(55, 12)),
      # QRS voltage falls through adult life (Sokolow-Lyon about 3.0 mV in the
      # twenties, 2.3 past sixty: Macfarlane & Lawrie 2010) and is lower in women;
      # most of the fall is in the chest leads (`chest_gain`).
      voltage=float(rng.lognormal(0, 0.15) * (1.0 if male else 0.88)
                    * (1.12 - 0.15 * np.clip((age - 20) / 60, 0, 1))),
      heart_rate=float(np.clip(rng.normal(72, 10), 50, 100)),
      pr=float(np.clip(rng.normal(0.155, 0.02), 0.12, 0.2)),
      qtc=float(np.clip(rng.normal(0.41 if male else 0.42, 0.015), 0.37, 0.445)),
      t_amp=float(rng.uniform(0.22, 0.45)), traits=traits,
      # About 40% of patients have one ECG; the rest 2-8 (mean 2.3 overall).
      ecg_count=(1 if rng.uniform() < 0.4
                 else int(min(rng.geometric(0.45), MAX_ECGS_PER_PATIENT - 1)) + 1),
      morphology_seed=int(rng.integers(2 ** 63)),
      chest_rotation=float(rng.normal(0, 15)),
      # Drawn last, so every earlier draw is what it was before QRS width varied.
      qrs_duration=float(np.clip(rng.normal(0.095 if male else 0.088, 0.008), 0.074, 0.108)),
      # Women's precordial voltages are about three quarters of men's (S in V2, median
      # 1.1 against 1.5 mV: benchmarks/synthetic_normal_ranges.py), more than body habitus
      # (`voltage`) gives.
      chest_gain=float((1.2 - 0.35 * np.clip((age - 20) / 60, 0, 1)) * rng.lognormal(0, 0.1)
                       * (1.0 if male else 0.85)),
      p_duration_scale=float(np.clip(rng.normal(1.13, 0.12), 0.9, 1.45)),
  )


@dataclasses.dataclass
class EcgSpec:
  rhythm: RhythmSpec
  atria: dict
  ventricles: dict
  qtc: float
  scale: float
  noise: NoiseSpec
  labels: set[str]
  chest_rotation: float = 0.0
  chest_gain: float = 1.0


def sample_ecg(rng: np.random.Generator, patient: Patient, visit: int) -> EcgSpec:
  """The rendering recipe and labels for one recording of `patient`."""
  traits = patient.traits
  labels: set[str] = set()

  # ---- Rhythm for this recording.
  rate = float(np.clip(patient.heart_rate * rng.lognormal(0, 0.13), 38, 160))
  pr = traits.get("first_degree_block", patient.pr)
  kind = "sinus"
  wenckebach = paced = False
  if "conduction_disease" in traits:
    # Block progresses over visits; after complete block the patient is paced.
    stage = min(visit, 2) if rng.uniform() < 0.8 else int(rng.integers(0, 3))
    if stage == 0:
      wenckebach = True
    elif stage == 1:
      kind = "third_degree"
    else:
      paced = True
  amyloid = "cardiac_amyloidosis" in traits
  if amyloid:
    pr = max(pr, rng.uniform(0.17, 0.26))
  if "chronic_af" in traits or ("paroxysmal_af" in traits and rng.uniform() < 0.35) \
      or (amyloid and rng.uniform() < 0.2):
    kind = "fibrillation" if rng.uniform() < 0.85 else "flutter"
  elif kind == "sinus" and not paced and rng.uniform() < 0.012:
    kind = "junctional"
  if "wpw" in traits:
    pr = rng.uniform(0.08, 0.115) + traits["wpw"]
  # Respiratory sinus arrhythmia is deepest in the young and fades with age (vagal
  # tone); its depth is a fraction of the RR, and the label is read off the rendered
  # PP intervals (generator.py).
  youth = float(np.clip((75 - patient.age) / 55, 0.15, 1.0))
  rhythm = RhythmSpec(kind=kind, heart_rate=rate, pr=pr, paced=paced, wenckebach=wenckebach,
                      respiratory_modulation=float(0.045 * youth * rng.lognormal(0, 0.55)))
  if kind == "third_degree":
    rhythm.atrial_rate, rhythm.heart_rate = rng.uniform(60, 95), rng.uniform(30, 45)
  elif kind == "junctional":
    rhythm.heart_rate = rng.uniform(40, 60)
  elif kind == "flutter":
    rhythm.atrial_rate = rng.uniform(250, 330)
    rhythm.conduction_ratio = int(rng.choice([2, 2, 3, 4]))
  elif kind == "fibrillation":
    rhythm.heart_rate = rng.uniform(60, 130)
  if paced:
    rhythm.heart_rate = max(rate, 60)
  if "ectopy" in traits and kind in ("sinus", "fibrillation"):
    if rng.uniform() < 0.45:
      rhythm.pvc_probability = rng.uniform(0.08, 0.25)
      rhythm.pvc_coupling_s = rng.uniform(0.38, 0.56)
    if kind == "sinus" and rng.uniform() < 0.4:
      rhythm.pac_probability = rng.uniform(0.08, 0.25)
  elif rng.uniform() < 0.02 and kind == "sinus":
    rhythm.pvc_probability = rng.uniform(0.08, 0.2)
    rhythm.pvc_coupling_s = rng.uniform(0.38, 0.56)

  _rhythm_labels(rhythm, labels)

  # The patient's own shapes and structural findings come from the patient's
  # generator, so they repeat across visits; the recording's generator draws
  # what varies between recordings.
  own = np.random.default_rng(patient.morphology_seed)
  # The patient's leads, electrodes where they belong: what the criteria are read on.
  lead_field = render.placed_lead_field(None, patient.chest_rotation, patient.chest_gain)
  # ---- Atria.
  # Atrial enlargement is read off the P wave: unlabelled when none is drawn.
  atrium = morph.normal_atrium(own, patient.p_axis, patient.p_duration_scale)
  if "lae" in traits:
    atrium = morph.left_atrial_enlargement(atrium, traits["lae"])
  if "rae" in traits:
    atrium = morph.right_atrial_enlargement(atrium, traits["rae"])
  if kind in ("sinus", "third_degree"):
    _atrial_enlargement_labels(atrium, lead_field, patient.voltage, labels)
  atria = {"sinus": atrium, "ectopic": morph.ectopic_atrium(rng)}

  # ---- Ventricles: conduction first (it sets the activation sequence), then
  # structure, scars and acute changes on top.
  ventricle = _conducted_ventricle(own, patient, rhythm, labels)
  ventricle = _structural_changes(own, patient, ventricle, labels)
  ventricle = _acute_changes(rng, ventricle, labels)
  if "brugada_pattern" in traits:
    ventricle = _brugada(own, rng, ventricle, labels)
  # A premature atrial beat arriving early finds the right bundle refractory: a
  # functional right-bundle delay. A patient with a bundle-branch block has no such
  # delay to add (the right bundle already conducts late or not at all; with the
  # left one blocked, the beat goes down the bundle that conducts): the beat keeps
  # the patient's own QRS. The draws are made either way, so that nothing else in
  # the recording changes with this rule.
  functional_delay = morph.add_terminal_right_anterior(ventricle, rng.uniform(0.4, 0.7),
                                                       rng.uniform(0.035, 0.05))
  bundle_blocked = bool(traits.keys() & BUNDLE_BRANCH_BLOCKS)
  aberrant = ventricle if bundle_blocked else functional_delay
  ventricles = {"normal": ventricle, "pvc": morph.ectopic_ventricle(rng),
                "paced": morph.paced_ventricle(rng), "aberrant": aberrant}
  if not paced:   # a paced QRS's axis is the pacing site's, not a diagnosis
    _axis_labels(morph.frontal_axis(ventricle), labels)
  # Voltage criteria do not apply to a left-bundle, pre-excited or paced QRS (a paced
  # recording is labelled ventricular_pacing by now: _rhythm_labels).
  if not labels & criteria.VOLTAGE_CRITERIA_VOID:
    r, s = criteria.r_and_s(_leads_of(ventricle.qrs_waves, lead_field, patient.voltage))
    if criteria.lvh_by_voltage(r, s, patient.sex):
      labels.add("left_ventricular_hypertrophy")

  # Repolarisation time, then the QT as drawn: a wide QRS lengthens QT by its
  # extra width, which is not long-QT syndrome (the label reads repolarisation).
  repolarisation_qtc = traits.get("long_qt", patient.qtc * rng.uniform(0.97, 1.03))
  qtc = repolarisation_qtc + max(ventricle.qrs_duration - 0.1, 0)
  if repolarisation_qtc > (0.46 if patient.sex == "female" else 0.45):
    labels.add("prolonged_qt")

  noise = NoiseSpec(baseline_mv=rng.uniform(0.02, 0.25),
                    muscle_mv=rng.lognormal(np.log(0.012), 0.6),
                    powerline_mv=rng.uniform(0, 0.03),
                    powerline_hz=float(rng.choice([50.0, 60.0])))
  rare = [name for name in conditions.GROUPS["rare"] if name in traits]
  labels.update(rare)
  return EcgSpec(rhythm=rhythm, atria=atria, ventricles=ventricles, qtc=qtc,
                 scale=patient.voltage, noise=noise, labels=labels,
                 chest_rotation=patient.chest_rotation, chest_gain=patient.chest_gain)


def _rhythm_labels(r: RhythmSpec, labels: set[str]) -> None:
  if r.kind == "sinus":
    if r.paced:
      labels.add("ventricular_pacing")
    elif r.heart_rate < 60:
      labels.add("sinus_bradycardia")
    elif r.heart_rate > 100:
      labels.add("sinus_tachycardia")
    else:
      labels.add("sinus_rhythm")
    if r.wenckebach:
      labels.add("second_degree_av_block")
    elif r.pr > 0.2 and not r.paced:
      labels.add("first_degree_av_block")
  elif r.kind == "fibrillation":
    labels.add("atrial_fibrillation")
    if r.paced:
      labels.add("ventricular_pacing")
  else:
    labels.add({"flutter": "atrial_flutter", "third_degree": "third_degree_av_block",
                "junctional": "junctional_rhythm"}[r.kind])
  if r.pac_probability > 0:
    labels.add("premature_atrial_contractions")
  if r.pvc_probability > 0:
    labels.add("premature_ventricular_contractions")


def _conducted_ventricle(rng, patient: Patient, rhythm: RhythmSpec, labels: set[str]):
  traits = patient.traits
  axis = patient.axis
  if "lbbb" in traits:
    labels.add("left_bundle_branch_block")
    return morph.left_bundle_branch_block(rng, min(axis, 40))
  v = morph.normal_ventricle(rng, axis, patient.t_amp, patient.qrs_duration)
  if "lafb" in traits:
    labels.add("left_anterior_fascicular_block")
    # Initial forces through the posterior fascicle: inferior-rightward (q in I, aVL).
    v.qrs_waves[0, 3:] = morph.frontal(120, 0.5)
  if "lpfb" in traits:
    labels.add("left_posterior_fascicular_block")
    v.qrs_waves[0, 3:] = morph.frontal(-40, 0.5)
  if "rbbb" in traits:
    labels.add("right_bundle_branch_block")
    # Complete RBBB: QRS at least 120 ms in adults (Surawicz B et al., AHA/ACCF/HRS
    # recommendations part III, Circulation 2009;119:e235).
    v = morph.add_terminal_right_anterior(
        v, rng.uniform(0.5, 0.8), max(rng.uniform(0.035, 0.055), 0.122 - v.qrs_duration))
    v = morph.invert_t(v, morph.RIGHT_ANTERIOR_TERMINAL, 0.6)
  elif "irbbb" in traits:
    labels.add("incomplete_right_bundle_branch_block")
    # Incomplete RBBB: the same rSR' pattern with a QRS of 110-119 ms (ibid.).
    v = morph.add_terminal_right_anterior(
        v, rng.uniform(0.25, 0.45), max(rng.uniform(0.11, 0.119) - v.qrs_duration, 0.015))
  if "ivcd" in traits and "rbbb" not in traits:
    v = morph.widen(v, traits["ivcd"])
    labels.add("nonspecific_intraventricular_conduction_delay")
  if "wpw" in traits and rhythm.kind == "sinus" and not rhythm.paced:
    v = morph.add_delta_wave(v, rng, pre_excitation=traits["wpw"])
    labels.add("wolff_parkinson_white")
  return v


def _structural_changes(rng, patient: Patient, v, labels: set[str]):
  traits = patient.traits
  left_posterior = morph.unit([0.7, 0.2, -0.7])
  lvh = traits.get("lvh", 1.0)
  if "hypertrophic_cardiomyopathy" in traits:
    # Septal hypertrophy: deep narrow q; LV voltage often below the criterion;
    # deep (apical) T inversion.
    lvh = max(lvh, rng.uniform(1.15, 1.7))
    septal = morph.waves((0.014, 0.008, rng.uniform(0.25, 0.55), [-0.7, -0.35, 0.55]))
    v = dataclasses.replace(v, qrs_waves=np.concatenate([septal, v.qrs_waves[1:]]))
    v = morph.invert_t(v, morph.unit([0.45, 0.25, 0.85]), rng.uniform(0.4, 1.0))
    if rng.uniform() < 0.5:
      labels.add("q_waves_lateral")
    labels.add("t_inversion_lateral" if rng.uniform() < 0.5 else "t_inversion_anterior")
  if lvh > 1.0:
    # The LVH label is read off the voltage this gives (sample_ecg), not from `lvh`.
    v = morph.scale_forces(v, lvh, toward=left_posterior)
    v = morph.scale_forces(v, 0.5 + 0.5 * lvh, toward=-left_posterior)
    if lvh > 1.7 and rng.uniform() < 0.6:       # strain
      v = morph.invert_t(v, morph.TERRITORY["lateral"], rng.uniform(0.5, 1.0))
      v = morph.add_st(v, 0.06 * morph.ST_DEPRESSION["lateral"])
      labels.update({"t_inversion_lateral", "st_depression_lateral"})
  if "rvh" in traits:
    v = morph.scale_forces(v, 0.6, toward=morph.unit([0.3, 0, -1]))
    v = dataclasses.replace(v, qrs_waves=np.concatenate(
        [v.qrs_waves, morph.waves((0.045, 0.012, rng.uniform(0.7, 1.1), [-0.5, 0.4, 0.8]))]))
    labels.add("right_ventricular_hypertrophy")
  for territory in ("inferior", "anterior", "lateral"):
    strength = traits.get(f"old_mi_{territory}")
    if strength:
      v = morph.infarct(v, morph.TERRITORY[territory], strength)
      if strength >= Q_WAVE_LABEL_THRESHOLD:
        labels.add(f"q_waves_{territory}")
      if rng.uniform() < 0.5:
        v = morph.invert_t(v, morph.TERRITORY[territory], rng.uniform(0.4, 0.9))
        labels.add(f"t_inversion_{territory}")
  if "cardiac_amyloidosis" in traits:
    # Infiltration: small limb voltage and a pseudo-infarct loss of anterior forces.
    v = morph.scale_frontal(v, rng.uniform(0.5, 0.85))
    strength = rng.uniform(0.2, 0.65)
    v = morph.infarct(v, morph.TERRITORY["anterior"], strength)
    if strength >= 0.65:
      labels.add("q_waves_anterior")
  voltage = traits.get("low_voltage", 1.0)
  if voltage < 1.0:
    v = morph.scale_forces(v, voltage)
    v = dataclasses.replace(v, t_vector=v.t_vector * (0.5 + 0.5 * voltage))
  if _limb_qrs_amplitude(v) * patient.voltage < LOW_VOLTAGE_LABEL_THRESHOLD:
    labels.add("low_qrs_voltage")
  return v


MEASURE_RATE = 1000.0   # Hz: the criteria are read off the waves at 1 ms


def _leads_of(wave_rows: np.ndarray, lead_field: np.ndarray, scale: float) -> np.ndarray:
  """(samples, 12) mV: the waves alone (a P or a QRS, no baseline) on these leads."""
  centre, sigma = wave_rows[:, 0], wave_rows[:, 1]
  t = np.arange((centre - 5 * sigma).min(), (centre + 5 * sigma).max(), 1 / MEASURE_RATE)
  return leads.leads_from_electrodes(scale * render.gaussian_waves(t, wave_rows) @ lead_field.T)


def _atrial_enlargement_labels(atrium, lead_field: np.ndarray, scale: float,
                               labels: set[str]) -> None:
  p_ii, duration, terminal_force = criteria.p_wave(
      _leads_of(atrium.p_waves, lead_field, scale), MEASURE_RATE)
  if criteria.right_atrial_enlargement(p_ii):
    labels.add("right_atrial_enlargement")
  if criteria.left_atrial_enlargement(duration, terminal_force):
    labels.add("left_atrial_enlargement")


def _limb_qrs_amplitude(v) -> float:
  """The largest peak-to-peak QRS of the six limb leads, mV, before body habitus:
  the low-voltage criterion (every limb lead below 0.5 mV) read off the QRS as the
  limb electrodes record it."""
  t = np.arange(-0.05, v.qrs_duration + 0.05, 0.001)
  dipole = render.gaussian_waves(t, v.qrs_waves)
  limb = leads.leads_from_electrodes(dipole @ render.LEAD_FIELD.T)[:, :6]
  return float(np.max(limb.max(axis=0) - limb.min(axis=0)))


def _acute_changes(rng, v, labels: set[str]):
  """Ischaemia and injury of the day, and the rare Brugada pattern's ST."""
  if rng.uniform() < 0.05:
    territory = str(rng.choice(["anterior", "inferior", "lateral"], p=[0.45, 0.4, 0.15]))
    height = rng.uniform(0.1, 0.35)
    v = morph.add_st(v, height * morph.TERRITORY[territory])
    if height >= 0.15:
      labels.add(f"st_elevation_{territory}")
  elif rng.uniform() < 0.06:
    territory = str(rng.choice(["lateral", "inferior"], p=[0.65, 0.35]))
    depth = rng.uniform(0.05, 0.2)
    v = morph.add_st(v, depth * morph.ST_DEPRESSION[territory])
    if depth >= 0.08:
      labels.add(f"st_depression_{territory}")
  if rng.uniform() < 0.04:
    territory = str(rng.choice(["anterior", "inferior", "lateral"]))
    v = morph.invert_t(v, morph.TERRITORY[territory], rng.uniform(0.4, 1.0))
    labels.add(f"t_inversion_{territory}")
  return v


def _brugada(own, rng, v, labels: set[str]):
  """Coved right-precordial ST elevation into an inverted T, sometimes an r'.

  The pattern fluctuates between recordings (its height is the recording's);
  the r' is the patient's. Labels are what a reader of the common diagnoses
  writes for it without naming Brugada: anterior ST elevation when the ST
  reaches the STEMI label's 0.15 mV, incomplete RBBB for the rSr' in V1.
  """
  height = rng.uniform(0.1, 0.35)
  v = morph.add_st(v, height * morph.RIGHT_VENTRICULAR_OUTFLOW, coved=True)
  v = morph.invert_t(v, morph.RIGHT_VENTRICULAR_OUTFLOW, rng.uniform(0.3, 0.8))
  if own.uniform() < 0.5:
    v = morph.add_terminal_right_anterior(v, own.uniform(0.12, 0.25), 0.015)
    if "right_bundle_branch_block" not in labels:
      labels.add("incomplete_right_bundle_branch_block")
  if height >= 0.15:
    labels.add("st_elevation_anterior")
  return v


def _axis_labels(axis: float, labels: set[str]) -> None:
  if -90 <= axis < -30:
    labels.add("left_axis_deviation")
  elif 90 < axis <= 180:
    labels.add("right_axis_deviation")
