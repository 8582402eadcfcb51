"""The synthetic dataset's label vocabulary, and how each condition is rendered.

Two groups: `PRETRAIN` conditions are common diagnoses a cardiologist reads off
a resting ECG; `RARE` conditions are subtle conjunctions of features that the
pretraining vocabulary names only in parts. Pretraining never sees the rare
labels, so a fine-tuned model can only learn them from the few examples it is
given, helped by whatever the pretrained features already encode.

SNOMED CT codes are those of the PhysioNet/CinC 2021 mapping where one code
names exactly the condition; territory-specific findings carry None because
SNOMED's code (e.g. ST elevation, 164931005) does not name the territory.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Condition:
  name: str
  group: str          # rhythm | conduction | morphology | rare
  snomed: str | None
  rendering: str      # how the generator draws it; shown in the builder docs


PRETRAIN = (
    # Rhythm. Exactly one underlying rhythm per ECG; ectopy adds to it.
    Condition("sinus_rhythm", "rhythm", "426783006",
              "P before every QRS at a fixed PR, rate 60-100/min"),
    Condition("sinus_bradycardia", "rhythm", "426177001",
              "sinus rhythm below 60/min"),
    Condition("sinus_tachycardia", "rhythm", "427084000",
              "sinus rhythm above 100/min"),
    Condition("sinus_arrhythmia", "rhythm", "427393009",
              "sinus rhythm whose PP intervals span more than 0.12 s (respiratory "
              "modulation, deepest in the young)"),
    Condition("atrial_fibrillation", "rhythm", "164889003",
              "no P waves; 4-9 Hz fibrillatory waves strongest in V1 and the "
              "inferior leads; irregularly irregular RR (CV 0.15-0.3)"),
    Condition("atrial_flutter", "rhythm", "164890007",
              "negative sawtooth atrial waves at 250-330/min in II, III, aVF; "
              "2:1 to 4:1 conduction"),
    Condition("premature_atrial_contractions", "rhythm", "284470004",
              "beats 15-45% early with a P' from a high-right, left or low atrial "
              "focus; the earliest conduct with a longer PR, a right-bundle "
              "aberrancy (unless a bundle-branch block is present) or not at all; "
              "sinus node reset"),
    Condition("premature_ventricular_contractions", "rhythm", "427172004",
              "early beats without P at a coupling interval fixed per recording "
              "(380-560 ms), QRS 120-180 ms with the axis and V1 shape of their "
              "focus (mostly the outflow tracts), discordant T, full compensatory "
              "pause"),
    Condition("first_degree_av_block", "rhythm", "270492004",
              "PR 210-360 ms"),
    Condition("second_degree_av_block", "rhythm", "195042002",
              "Wenckebach: PR lengthens beat by beat until one P is not "
              "conducted"),
    Condition("third_degree_av_block", "rhythm", "27885002",
              "P waves at 60-95/min dissociated from a 30-45/min escape "
              "rhythm"),
    Condition("junctional_rhythm", "rhythm", "426995002",
              "no P waves, narrow QRS at 40-60/min"),
    Condition("ventricular_pacing", "rhythm", "10370003",
              "pacing stimulus before every QRS (mostly small bipolar ones, shrunk "
              "further by the cart's low-pass), wide QRS with superior axis "
              "(right-ventricular apex), discordant T"),
    # Conduction.
    Condition("left_bundle_branch_block", "conduction", "164909002",
              "QRS 130-170 ms, no septal q, broad notched R in I, aVL, V5-V6, "
              "QS in V1, discordant ST-T"),
    Condition("right_bundle_branch_block", "conduction", "59118001",
              "QRS at least 120 ms with a slow terminal rightward-anterior wave: "
              "rsR' in V1, wide S in I and V6, T inverted in V1-V2"),
    Condition("incomplete_right_bundle_branch_block", "conduction", "713426002",
              "a smaller terminal rightward-anterior wave, QRS 110-119 ms"),
    Condition("left_anterior_fascicular_block", "conduction", "445118002",
              "frontal axis -45 to -80 degrees, qR in aVL, rS in II, III, aVF"),
    Condition("left_posterior_fascicular_block", "conduction", "445211001",
              "frontal axis 100 to 150 degrees, rS in I, qR in III"),
    Condition("wolff_parkinson_white", "conduction", "74390002",
              "PR 80-115 ms and a slurred delta wave starting the QRS in the "
              "accessory pathway's direction"),
    Condition("nonspecific_intraventricular_conduction_delay", "conduction",
              "698252002", "QRS widened to 110-130 ms without a bundle-branch "
              "pattern"),
    # Chamber enlargement, voltage, intervals, axis.
    Condition("left_ventricular_hypertrophy", "morphology", "164873001",
              "QRS voltage meeting Sokolow-Lyon (S V1 + R V5/V6 >= 3.5 mV) or "
              "Cornell (R aVL + S V3 > 2.8 mV men, 2.0 women), read on the drawn "
              "beat (not with LBBB, pre-excitation or pacing); hypertrophy scales "
              "the left-posterior forces 1.3-2.2x, often with lateral strain"),
    Condition("right_ventricular_hypertrophy", "morphology", "89792004",
              "right axis and a dominant anterior-rightward R: tall R in V1"),
    Condition("left_atrial_enlargement", "morphology", "67741000119109",
              "P in II lasting 120 ms or more, or a terminal negative P in V1 "
              "of 0.04 mm.s or more, read on the drawn beat; enlargement widens "
              "and notches the P and deepens its terminal part in V1"),
    Condition("right_atrial_enlargement", "morphology", "446358003",
              "P above 0.25 mV in II, read on the drawn beat; enlargement makes "
              "it tall and peaked in II, III, aVF"),
    Condition("low_qrs_voltage", "morphology", "251146004",
              "QRS below 0.5 mV peak to peak in every limb lead"),
    Condition("prolonged_qt", "morphology", "111975006",
              "QTc 470-560 ms (Bazett)"),
    Condition("left_axis_deviation", "morphology", "39732003",
              "frontal QRS axis below -30 degrees"),
    Condition("right_axis_deviation", "morphology", "47665007",
              "frontal QRS axis above 90 degrees"),
    Condition("st_elevation_anterior", "morphology", None,
              "ST injury vector anterior: ST up >=0.15 mV in V1-V4"),
    Condition("st_elevation_inferior", "morphology", None,
              "ST injury vector inferior: ST up in II, III, aVF, reciprocal "
              "depression in aVL"),
    Condition("st_elevation_lateral", "morphology", None,
              "ST injury vector left-superior: ST up in I, aVL, V5-V6, "
              "reciprocal depression in III"),
    Condition("st_depression_lateral", "morphology", None,
              "ST vector away from the lateral wall: ST down in I, V4-V6"),
    Condition("st_depression_inferior", "morphology", None,
              "ST vector superior: ST down in II, III, aVF"),
    Condition("t_inversion_anterior", "morphology", None,
              "T vector turned posterior: T negative in V1-V4"),
    Condition("t_inversion_inferior", "morphology", None,
              "T vector turned superior: T negative in II, III, aVF"),
    Condition("t_inversion_lateral", "morphology", None,
              "T vector turned rightward: T negative in I, aVL, V5-V6"),
    Condition("q_waves_anterior", "morphology", None,
              "old anterior infarct: initial 40 ms of QRS points posterior, "
              "QS in V1-V3"),
    Condition("q_waves_inferior", "morphology", None,
              "old inferior infarct: initial QRS points superior, Q >= 40 ms "
              "in II, III, aVF"),
    Condition("q_waves_lateral", "morphology", None,
              "old lateral infarct: initial QRS points rightward, Q in I, aVL, "
              "V5-V6"),
)

RARE = (
    Condition("hypertrophic_cardiomyopathy", "rare", "233873004",
              "LVH forces (1.15-1.7x, often below the LVH voltage criteria) "
              "AND deep narrow septal q in the lateral and inferior leads AND "
              "deep T inversion in V3-V6"),
    Condition("cardiac_amyloidosis", "rare", None,
              "low limb voltage (0.4-0.75x) AND pseudo-infarct loss of anterior "
              "R AND PR 190-280 ms; atrial fibrillation in a fifth"),
    Condition("brugada_pattern", "rare", "418818005",
              "coved ST elevation 0.1-0.35 mV confined to V1-V2 descending into "
              "an inverted T, with a small terminal r' in half"),
)

ALL = PRETRAIN + RARE
NAMES = tuple(c.name for c in ALL)
GROUPS = {
    "pretrain": tuple(c.name for c in PRETRAIN),
    "rare": tuple(c.name for c in RARE),
}
INDEX = {name: i for i, name in enumerate(NAMES)}
