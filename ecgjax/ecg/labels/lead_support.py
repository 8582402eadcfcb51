"""Which labels one limb lead can support, and why: what a model that reads lead I alone
(a handheld recorder's single channel) may claim.

One lead shows the heart's rhythm, rate, AV conduction and ectopic beats: each is read
from the timing of P waves and QRS complexes, which any lead with a visible P wave
gives. It cannot show what is defined across leads: the axis (I with aVF), bundle-branch
and fascicular blocks (the QRS shape in V1 and V6, and the axis), hypertrophy and
atrial enlargement (precordial voltages), low voltage (all six limb leads), or where an
ST, T or Q abnormality lies (a territory is a set of contiguous leads). A label not
listed here is left out: a one-lead model claims only what is listed.
"""

_TIMING = "read from the timing of P waves and QRS complexes, which lead I shows"

ONE_LEAD = {
    "sinus_rhythm": f"rhythm: {_TIMING}",
    "sinus_bradycardia": f"rate and rhythm: {_TIMING}",
    "sinus_tachycardia": f"rate and rhythm: {_TIMING}",
    "sinus_arrhythmia": f"rhythm (RR intervals varying with breathing): {_TIMING}",
    "atrial_fibrillation": "rhythm: irregular RR intervals without P waves, the finding "
                           "handheld recorders are cleared for",
    "atrial_flutter": f"rhythm (flutter waves, regular ventricular rate): {_TIMING}",
    "junctional_rhythm": f"rhythm (no P wave before a narrow QRS): {_TIMING}",
    "premature_atrial_contractions": f"ectopy (early beats with a P wave): {_TIMING}",
    "premature_ventricular_contractions": "ectopy (early wide beats without a P wave): "
                                          f"{_TIMING}",
    "first_degree_av_block": f"AV conduction (PR interval over 200 ms): {_TIMING}",
    "second_degree_av_block": f"AV conduction (P waves not followed by a QRS): {_TIMING}",
    "third_degree_av_block": f"AV conduction (P waves and QRS complexes independent): {_TIMING}",
    "ventricular_pacing": "pacing: a pacemaker's spike before each wide QRS shows in any lead",
}

LEFT_OUT = {
    "left_bundle_branch_block": "the QRS shape in V1 and V6 tells it from other wide QRS",
    "right_bundle_branch_block": "the QRS shape in V1 and V6 tells it from other wide QRS",
    "incomplete_right_bundle_branch_block": "read from the QRS shape in V1",
    "left_anterior_fascicular_block": "defined by the axis, which needs I with aVF (or II)",
    "left_posterior_fascicular_block": "defined by the axis, which needs I with aVF (or II)",
    "wolff_parkinson_white": "the delta wave can be isoelectric in lead I; it is read "
                             "across leads",
    "nonspecific_intraventricular_conduction_delay": "a wide QRS without a bundle-branch "
                                                     "shape, which needs V1 and V6 to tell",
    "left_ventricular_hypertrophy": "voltage criteria in the precordial leads (S in V1 + R "
                                    "in V5 or V6)",
    "right_ventricular_hypertrophy": "R in V1 and the right axis",
    "left_atrial_enlargement": "the P wave in II and its terminal force in V1",
    "right_atrial_enlargement": "the P wave's height in II, III and aVF",
    "low_qrs_voltage": "defined on all six limb leads, or all six precordial leads",
    "prolonged_qt": "QT is measured where it is longest, usually a precordial lead; lead "
                    "I can under-read it",
    "left_axis_deviation": "the axis needs I with aVF (or II)",
    "right_axis_deviation": "the axis needs I with aVF (or II)",
}
for _territory in ("anterior", "inferior", "lateral"):
  for _finding in ("st_elevation", "st_depression", "t_inversion", "q_waves"):
    LEFT_OUT[f"{_finding}_{_territory}"] = (
        "a territory is a set of contiguous leads (anterior V1-V4, inferior II, III, aVF, "
        "lateral I, aVL, V5, V6): one lead neither shows it whole nor places it")

NOT_LISTED = "not listed as shown by one limb lead (ecg.labels.lead_support)"


def one_lead_scope(labels) -> tuple[dict, dict]:
  """(kept, left out) of `labels`, each {label: why}, in the given order."""
  kept = {n: ONE_LEAD[n] for n in labels if n in ONE_LEAD}
  left_out = {n: LEFT_OUT.get(n, NOT_LISTED) for n in labels if n not in ONE_LEAD}
  return kept, left_out
