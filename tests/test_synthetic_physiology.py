"""The generator's physiology: atrial ectopy by site (aberrant only where the bundles
conduct), respiratory sinus arrhythmia read off the rendered rhythm, bundle-branch
durations by their definitions, pacing stimuli of realistic size, and PVCs by focus."""

import numpy as np

from ecgjax.synthetic import cohort, conditions, generator, morphology as morph, rhythm


def p_axis(atrium: morph.AtrialMorphology) -> float:
  x, y = (atrium.p_waves[:, 2:3] * atrium.p_waves[:, 3:5]).sum(axis=0)
  return float(np.rad2deg(np.arctan2(y, x)))


def test_ectopic_p_waves_point_away_from_their_focus():
  axes = np.array([p_axis(morph.ectopic_atrium(np.random.default_rng(i))) for i in range(600)])
  sinus_like = np.mean((axes > 40) & (axes < 95))
  negative_in_lead_i = np.mean(np.abs(axes) > 95)            # left-atrial foci
  negative_inferior = np.mean(axes < -35)                    # low foci
  assert 0.35 < sinus_like < 0.55
  assert 0.2 < negative_in_lead_i < 0.4
  assert 0.15 < negative_inferior < 0.35


def test_early_premature_atrial_beats_are_sometimes_aberrant_or_blocked():
  spec = rhythm.RhythmSpec(kind="sinus", heart_rate=75, pac_probability=0.5)
  kinds, blocked = [], 0
  for seed in range(60):
    s = rhythm.schedule(np.random.default_rng(seed), spec, 10.0)
    kinds += s.v_kinds
    for t, kind in zip(s.p_times, s.p_kinds):
      if kind == "ectopic" and not any(0 < v - t < 0.5 for v in s.v_times):
        blocked += 1
  assert "aberrant" in kinds and kinds.count("aberrant") < kinds.count("normal") / 5
  assert blocked > 0


def test_an_aberrant_beat_keeps_an_existing_bundle_branch_block():
  blocked, open_bundles = 0, 0
  for index in range(3000):
    patient = cohort.sample_patient(np.random.default_rng([0, index, 0]), index)
    spec = cohort.sample_ecg(np.random.default_rng([0, index, 1]), patient, 0)
    normal, aberrant = spec.ventricles["normal"], spec.ventricles["aberrant"]
    if cohort.BUNDLE_BRANCH_BLOCKS & set(patient.traits):
      # No second terminal wave on a bundle that is already late or blocked.
      np.testing.assert_array_equal(aberrant.qrs_waves, normal.qrs_waves)
      assert aberrant.qrs_duration == normal.qrs_duration
      blocked += 1
    else:   # a functional right-bundle delay: one slow terminal wave, 35-50 ms wider
      assert len(aberrant.qrs_waves) == len(normal.qrs_waves) + 1
      assert 0.035 <= aberrant.qrs_duration - normal.qrs_duration <= 0.05
      open_bundles += 1
  assert blocked > 50 and open_bundles > 1000


def test_sinus_arrhythmia_is_labelled_from_the_rendered_pp_intervals():
  labelled, young, old = 0, [], []
  for index in range(400):
    record = generator.generate_record(5, index, 0, 100.0, 10.0)
    patient = cohort.sample_patient(np.random.default_rng([5, index, 0]), index)
    rng = np.random.default_rng([5, index, 1])
    spec = cohort.sample_ecg(rng, patient, 0)
    sched = rhythm.schedule(rng, spec.rhythm, 10.0)
    spread = rhythm.sinus_pp_range(sched, 10.0)
    is_sa = bool(record["labels"][conditions.INDEX["sinus_arrhythmia"]])
    if spec.rhythm.kind == "sinus" and not spec.rhythm.paced:
      assert is_sa == (spread > rhythm.SINUS_ARRHYTHMIA_PP_RANGE)
      (young if patient.age < 40 else old).append(is_sa)
    else:
      assert not is_sa
    labelled += is_sa
  assert 0.01 < labelled / 400 < 0.12
  assert np.mean(young) > np.mean(old)           # vagal tone fades with age


def test_right_bundle_branch_block_durations_follow_the_definitions():
  complete, incomplete = [], []
  for index in range(6000):
    patient = cohort.sample_patient(np.random.default_rng([0, index, 0]), index)
    # (IVCD widens every wave; a Brugada r' adds its own terminal delay.)
    if not {"rbbb", "irbbb"} & set(patient.traits) or {"ivcd", "brugada_pattern"} & set(
        patient.traits):
      continue
    spec = cohort.sample_ecg(np.random.default_rng([0, index, 1]), patient, 0)
    duration = spec.ventricles["normal"].qrs_duration
    (complete if "rbbb" in patient.traits else incomplete).append(duration)
  assert len(complete) > 20 and len(incomplete) > 20
  assert min(complete) >= 0.12
  assert 0.108 <= min(incomplete) and max(incomplete) < 0.125


def test_pacing_stimuli_are_mostly_small_bipolar_ones():
  spikes = np.array([morph.paced_ventricle(np.random.default_rng(i)).pacing_spike_mv
                     for i in range(400)])
  assert np.all(spikes > 0)
  assert 0.6 < np.mean(spikes < 1.5) < 0.9
  assert np.mean(spikes > 2.0) > 0.1


def test_premature_ventricular_beats_come_mostly_from_the_outflow_tracts():
  """Generator 1.3.0: the foci of PVC_FOCI. Most PVCs have an inferior axis (outflow
  tracts), most of those a negative V1 (the right outflow tract's left-bundle shape),
  and a superior axis with a positive V1 (fascicular, right-bundle shape) occurs."""
  from ecgjax.synthetic import render
  v1 = render.LEAD_FIELD[3]                      # the first chest electrode
  beats = [morph.ectopic_ventricle(np.random.default_rng(seed)) for seed in range(1000)]
  axes = np.array([morph.frontal_axis(v) for v in beats])
  in_v1 = np.array([morph.mean_qrs_vector(v) @ v1 for v in beats])
  inferior = (axes > 60) & (axes < 125)
  assert 0.5 < inferior.mean() < 0.75
  assert 0.55 < np.mean(in_v1[inferior] < 0) < 0.9
  assert 0.05 < np.mean((axes < -40) & (axes > -100) & (in_v1 > 0)) < 0.25
  durations = np.array([v.qrs_duration for v in beats])
  assert durations.min() >= 0.12 and durations.max() <= 0.18


def test_a_recordings_pvcs_keep_one_coupling_interval():
  spec = rhythm.RhythmSpec(kind="sinus", heart_rate=60, pvc_probability=0.3,
                           pvc_coupling_s=0.42, respiratory_modulation=0.0)
  couplings = []
  for seed in range(20):
    s = rhythm.schedule(np.random.default_rng(seed), spec, 10.0)
    for before, (t, kind) in zip(s.v_times, list(zip(s.v_times, s.v_kinds))[1:]):
      if kind == "pvc":
        couplings.append(t - before)
  assert len(couplings) > 20
  assert np.all(np.abs(np.array(couplings) - 0.42) <= 0.021)
