"""synthetic_ecg: 12-lead ECGs from a cardiac dipole model, built offline.

Each ECG is rendered from a moving cardiac dipole (sums of Gaussian activation
waves for P, QRS and T, a plateau for ST) projected onto the lead fields of the
nine electrodes; noise (baseline wander with respiration, band-limited muscle
artefact, 50/60 Hz powerline where the sampling rate resolves it) is added per
electrode, and the 12 leads are formed from the electrodes as an ECG machine
forms them, so Einthoven's (III = II - I) and Goldberger's relations hold. Each
recording then passes a cart (ecgjax/synthetic/recording.py): 0.05 Hz or
0.5-0.67 Hz high-pass, 40/100/150 Hz low-pass, a 50/60 Hz notch on half, and
rare electrode motion, swapped arm cables, amplifier saturation or a flat lead.
Per-lead R and S amplitudes, intervals and axes of normal ECGs match published
adult normal values (ecgjax/synthetic/normal_ranges.py, tests/test_normal_ranges.py).
Heart rate varies beat to beat (respiratory sinus arrhythmia, Mayer waves,
jitter); QT follows RR by Bazett's formula.

Patients carry chronic traits across their 1-8 ECGs (age, sex, axis, heart
rotation relative to the chest electrodes, voltage,
conduction blocks, hypertrophy, old infarcts, arrhythmic substrate, rare
disease); prevalences rise with age where they do clinically and conditions
co-occur as they do. Splits are by patient (80/10/10): no patient is in two.
Labels are read from what was rendered (a 58/min sinus rhythm is labelled
bradycardia); LVH and atrial enlargement by the published voltage and P-wave
criteria measured on the drawn beat (ecgjax/synthetic/criteria.py), which
ecgjax/synthetic/label_criteria.py checks again on the rendered ECGs
(docs/sim-to-real.md).

Label groups (in the metadata, `label_groups`): `pretrain`, the common
diagnoses for pretraining; `rare`, conjunctions of subtle features kept for
fine-tuning only. Conditions and how each is rendered:

  sinus_rhythm [rhythm]: P before every QRS at a fixed PR, rate 60-100/min.
  sinus_bradycardia [rhythm]: sinus rhythm below 60/min.
  sinus_tachycardia [rhythm]: sinus rhythm above 100/min.
  sinus_arrhythmia [rhythm]: sinus rhythm whose PP intervals span more than 0.12 s (respiratory modulation, deepest in the young).
  atrial_fibrillation [rhythm]: no P waves; 4-9 Hz fibrillatory waves strongest in V1 and the inferior leads; irregularly irregular RR (CV 0.15-0.3).
  atrial_flutter [rhythm]: negative sawtooth atrial waves at 250-330/min in II, III, aVF; 2:1 to 4:1 conduction.
  premature_atrial_contractions [rhythm]: beats 15-45% early with a P' from a high-right, left or low atrial focus; the earliest conduct with a longer PR, a right-bundle aberrancy (unless a bundle-branch block is present) or not at all; sinus node reset.
  premature_ventricular_contractions [rhythm]: early beats without P at a coupling interval fixed per recording (380-560 ms), QRS 120-180 ms with the axis and V1 shape of their focus (mostly the outflow tracts), discordant T, full compensatory pause.
  first_degree_av_block [rhythm]: PR 210-360 ms.
  second_degree_av_block [rhythm]: Wenckebach: PR lengthens beat by beat until one P is not conducted.
  third_degree_av_block [rhythm]: P waves at 60-95/min dissociated from a 30-45/min escape rhythm.
  junctional_rhythm [rhythm]: no P waves, narrow QRS at 40-60/min.
  ventricular_pacing [rhythm]: pacing stimulus before every QRS (mostly small bipolar ones, shrunk further by the cart's low-pass), wide QRS with superior axis (right-ventricular apex), discordant T.
  left_bundle_branch_block [conduction]: QRS 130-170 ms, no septal q, broad notched R in I, aVL, V5-V6, QS in V1, discordant ST-T.
  right_bundle_branch_block [conduction]: QRS at least 120 ms with a slow terminal rightward-anterior wave: rsR' in V1, wide S in I and V6, T inverted in V1-V2.
  incomplete_right_bundle_branch_block [conduction]: a smaller terminal rightward-anterior wave, QRS 110-119 ms.
  left_anterior_fascicular_block [conduction]: frontal axis -45 to -80 degrees, qR in aVL, rS in II, III, aVF.
  left_posterior_fascicular_block [conduction]: frontal axis 100 to 150 degrees, rS in I, qR in III.
  wolff_parkinson_white [conduction]: PR 80-115 ms and a slurred delta wave starting the QRS in the accessory pathway's direction.
  nonspecific_intraventricular_conduction_delay [conduction]: QRS widened to 110-130 ms without a bundle-branch pattern.
  left_ventricular_hypertrophy [morphology]: QRS voltage meeting Sokolow-Lyon (S V1 + R V5/V6 >= 3.5 mV) or Cornell (R aVL + S V3 > 2.8 mV men, 2.0 women), read on the drawn beat (not with LBBB, pre-excitation or pacing); hypertrophy scales the left-posterior forces 1.3-2.2x, often with lateral strain.
  right_ventricular_hypertrophy [morphology]: right axis and a dominant anterior-rightward R: tall R in V1.
  left_atrial_enlargement [morphology]: P in II lasting 120 ms or more, or a terminal negative P in V1 of 0.04 mm.s or more, read on the drawn beat; enlargement widens and notches the P and deepens its terminal part in V1.
  right_atrial_enlargement [morphology]: P above 0.25 mV in II, read on the drawn beat; enlargement makes it tall and peaked in II, III, aVF.
  low_qrs_voltage [morphology]: QRS below 0.5 mV peak to peak in every limb lead.
  prolonged_qt [morphology]: QTc 470-560 ms (Bazett).
  left_axis_deviation [morphology]: frontal QRS axis below -30 degrees.
  right_axis_deviation [morphology]: frontal QRS axis above 90 degrees.
  st_elevation_anterior [morphology]: ST injury vector anterior: ST up >=0.15 mV in V1-V4.
  st_elevation_inferior [morphology]: ST injury vector inferior: ST up in II, III, aVF, reciprocal depression in aVL.
  st_elevation_lateral [morphology]: ST injury vector left-superior: ST up in I, aVL, V5-V6, reciprocal depression in III.
  st_depression_lateral [morphology]: ST vector away from the lateral wall: ST down in I, V4-V6.
  st_depression_inferior [morphology]: ST vector superior: ST down in II, III, aVF.
  t_inversion_anterior [morphology]: T vector turned posterior: T negative in V1-V4.
  t_inversion_inferior [morphology]: T vector turned superior: T negative in II, III, aVF.
  t_inversion_lateral [morphology]: T vector turned rightward: T negative in I, aVL, V5-V6.
  q_waves_anterior [morphology]: old anterior infarct: initial 40 ms of QRS points posterior, QS in V1-V3.
  q_waves_inferior [morphology]: old inferior infarct: initial QRS points superior, Q >= 40 ms in II, III, aVF.
  q_waves_lateral [morphology]: old lateral infarct: initial QRS points rightward, Q in I, aVL, V5-V6.
  hypertrophic_cardiomyopathy [rare]: LVH forces (1.15-1.7x, often below the LVH voltage criteria) AND deep narrow septal q in the lateral and inferior leads AND deep T inversion in V3-V6.
  cardiac_amyloidosis [rare]: low limb voltage (0.4-0.75x) AND pseudo-infarct loss of anterior R AND PR 190-280 ms; atrial fibrillation in a fifth.
  brugada_pattern [rare]: coved ST elevation 0.1-0.35 mV confined to V1-V2 descending into an inverted T, with a small terminal r' in half.

Features: `signal` int16 µV (samples, 12) in the order I, II, III, aVR, aVL, aVF,
V1-V6, stored as raw bytes; `labels` multi-hot uint8 over `label_names`;
`record_id`; `patient` (an opaque hashed key); `age`; `sex`.
"""

import tensorflow_datasets as tfds

from ecgjax.ecg import leads
from ecgjax.synthetic import conditions, generator
from tfds_builders import ecg_archive


class SyntheticEcgConfig(tfds.core.BuilderConfig):
  """Size, sampling rate, duration and seed of a synthetic cohort."""

  def __init__(self, *, num_ecgs: int, sampling_rate: int, duration: float = 10.0,
               seed: int = 0, **kwargs):
    super().__init__(**kwargs)
    self.num_ecgs = num_ecgs
    self.sampling_rate = sampling_rate
    self.duration = duration
    self.seed = seed

  @property
  def samples(self) -> int:
    return int(round(self.sampling_rate * self.duration))


class Builder(tfds.core.GeneratorBasedBuilder):
  __doc__ = __doc__
  VERSION = tfds.core.Version(generator.VERSION)
  RELEASE_NOTES = {
      "1.0.0": "First release: 39 pretraining and 3 rare conditions.",
      "1.1.0": "Brugada ST 0.1-0.35 mV as documented; its ECGs carry the anterior "
               "ST elevation and incomplete RBBB labels a reader would give; each "
               "patient's heart is rotated about its long axis (transition zone).",
      "1.2.0": "Sim-to-real: per-lead amplitudes to published normals (limb leads "
               "smaller, precordial peak in V2-V4, voltage falling with age), QRS "
               "duration per patient, the cart's filters and recording mishaps, "
               "atrial ectopy by focus with aberrant and blocked PACs, sinus "
               "arrhythmia read off the PP intervals, RBBB/iRBBB durations by "
               "definition, bipolar and unipolar pacing stimuli, low voltage by the "
               "limb-lead criterion.",
      "1.3.0": "PVCs from anatomical foci (mostly the outflow tracts: inferior axis, "
               "left- or right-bundle shape by site) at a coupling interval fixed per "
               "recording, instead of any direction at 60-75% of the cycle.",
      "1.4.0": "An early premature atrial beat is aberrant (a functional right-bundle "
               "delay) only where the bundles conduct: with a bundle-branch block "
               "already present it keeps the patient's QRS, instead of gaining a "
               "second terminal wave.",
      "1.5.0": "LVH and atrial enlargement labelled by the published criteria read "
               "on the drawn beat (Sokolow-Lyon or Cornell voltage; P in II above "
               "0.25 mV; P of 120 ms or a V1 terminal force of 0.04 mm.s), not by "
               "the hidden degree that drew them; P duration varies per patient "
               "(about 100 +/- 12 ms); women's precordial voltage three quarters "
               "of men's; a smaller terminal P in V1 in normals.",
      "1.6.0": "Beat-to-beat variability: breathing swings each beat's amplitude "
               "(2-10%) and electrical axis (1.5-7 degrees) with the breath that "
               "modulates the sinus rate, and every beat differs a little at random "
               "(amplitude, a small turn, its waves' timing); before, every beat of a "
               "kind was a copy. Drawn from a stream of its own: labels and every other "
               "draw are 1.5.0's.",
      "1.7.0": "Body noise in the atrial band: somatic tremor (physiological 8-12 Hz, "
               "essential 4-12 Hz, parkinsonian 4-6 Hz) on a limb's electrode in "
               "15-35% of recordings, more with age, mostly fainter than f-waves; "
               "muscle artefact from 10-25 Hz up (was 20 Hz). Before, only atrial "
               "activity had energy at 4-9 Hz. Drawn from a stream of its own: labels "
               "and every other draw are 1.6.0's.",
  }
  BUILDER_CONFIGS = [
      SyntheticEcgConfig(name="tiny", num_ecgs=600, sampling_rate=100,
                         description="600 ECGs at 100 Hz, for tests."),
      SyntheticEcgConfig(name="demo", num_ecgs=16_000, sampling_rate=100,
                         description="16,000 ECGs at 100 Hz: the laptop demo."),
      SyntheticEcgConfig(name="large", num_ecgs=120_000, sampling_rate=500,
                         description="120,000 ECGs at 500 Hz, paper-shaped inputs."),
      SyntheticEcgConfig(name="large_100hz", num_ecgs=120_000, sampling_rate=100,
                         description="120,000 ECGs at 100 Hz."),
  ]

  def _info(self) -> tfds.core.DatasetInfo:
    cfg = self.builder_config
    return ecg_archive.dataset_info(
        self, description=ecg_archive.describe(self),
        features=ecg_archive.ecg_features(cfg.samples, len(conditions.NAMES)),
        metadata=tfds.core.MetadataDict(
            label_names=list(conditions.NAMES),
            label_groups={k: list(v) for k, v in conditions.GROUPS.items()},
            # The generator decides every label, so every one is annotated; all
            # 12 leads are simulated (a subset is chosen at training time).
            annotated_labels=list(conditions.NAMES),
            recorded_leads=list(leads.STANDARD_LEADS),
            sampling_rate=cfg.sampling_rate,
            duration_s=cfg.duration,
            lead_names=list(leads.STANDARD_LEADS),
            units="microvolt",
            seed=cfg.seed,
        ),
        homepage="https://github.com/ecgjax/ecgjax",
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # everything is generated locally
    return {split: self._generate_examples(split) for split in generator.SPLIT_FRACTIONS}

  def _generate_examples(self, split: str):
    cfg = self.builder_config
    records = generator.generate_split_parallel(
        cfg.seed, cfg.num_ecgs, split, cfg.sampling_rate, cfg.duration)
    for r in records:
      yield r["record_id"], generator.stored_example(r)
