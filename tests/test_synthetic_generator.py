"""The generator draws physiology, not noise with a label attached."""

import collections

import numpy as np
import pytest
import scipy.signal

from ecgjax.ecg import leads
from ecgjax.ecg.labels import exclusions
from ecgjax.synthetic import conditions, generator

FS = 250


@pytest.fixture(scope="module")
def cohort():
  """The first ECG of 700 patients (seed 0), with label names."""
  out = []
  for index in range(700):
    r = generator.generate_record(0, index, 0, FS, 10.0)
    r["names"] = {conditions.NAMES[k] for k in np.flatnonzero(r["labels"])}
    out.append(r)
  return out


def rr_intervals(signal: np.ndarray) -> np.ndarray:
  """R-R intervals (s) from the spatial QRS energy of the 12 leads."""
  b, a = scipy.signal.butter(2, [8, 30], btype="bandpass", fs=FS)
  energy = np.sum(scipy.signal.filtfilt(b, a, signal / 1000, axis=0) ** 2, axis=1)
  peaks, _ = scipy.signal.find_peaks(energy, height=0.3 * np.percentile(energy, 99),
                                     distance=int(0.27 * FS))
  return np.diff(peaks) / FS


def test_vocabulary_sizes_and_groups():
  assert len(conditions.PRETRAIN) >= 30
  assert len(conditions.RARE) >= 3
  assert not set(conditions.GROUPS["pretrain"]) & set(conditions.GROUPS["rare"])
  groups = collections.Counter(c.group for c in conditions.PRETRAIN)
  assert {"rhythm", "conduction", "morphology"} <= set(groups)


def test_records_are_deterministic_and_independent_of_order():
  a = generator.generate_record(7, 3, 1, 100, 10.0)
  generator.generate_record(7, 4, 0, 100, 10.0)
  b = generator.generate_record(7, 3, 1, 100, 10.0)
  np.testing.assert_array_equal(a["signal"], b["signal"])
  np.testing.assert_array_equal(a["labels"], b["labels"])
  c = generator.generate_record(8, 3, 1, 100, 10.0)
  assert not np.array_equal(a["signal"], c["signal"])


def test_limb_leads_obey_einthoven_and_goldberger(cohort):
  for r in cohort[:50]:
    for name, residual in leads.limb_lead_residuals(r["signal"]).items():
      assert np.abs(residual).max() < 0.01, name      # µV, float rounding only


def test_amplitudes_are_physiological(cohort):
  peak_to_peak = np.array([np.ptp(r["signal"][:, 1]) for r in cohort]) / 1000   # lead II, mV
  assert 0.4 < np.median(peak_to_peak) < 3.5
  assert np.max([np.abs(r["signal"]).max() for r in cohort]) < 10_000    # < 10 mV


def test_heart_rate_labels_match_rendered_rate(cohort):
  brady = [np.median(rr_intervals(r["signal"])) for r in cohort if "sinus_bradycardia" in r["names"]
           and not r["names"] & {"premature_ventricular_contractions", "premature_atrial_contractions"}]
  tachy = [np.median(rr_intervals(r["signal"])) for r in cohort if "sinus_tachycardia" in r["names"]
           and not r["names"] & {"premature_ventricular_contractions", "premature_atrial_contractions"}]
  assert brady and tachy
  assert np.median(brady) > 60 / 62      # slower than 62/min
  assert np.median(tachy) < 60 / 98      # faster than 98/min


def test_atrial_fibrillation_is_irregularly_irregular(cohort):
  def cv(r):
    rr = rr_intervals(r["signal"])
    return np.std(rr) / np.mean(rr)
  af = [cv(r) for r in cohort if r["names"] == {"atrial_fibrillation"}
        or (r["names"] & {"atrial_fibrillation"} and len(r["names"]) <= 2)]
  sinus = [cv(r) for r in cohort if r["names"] == {"sinus_rhythm"}]
  assert len(af) >= 5 and len(sinus) >= 50
  assert np.median(af) > 2.5 * np.median(sinus)


def test_bundle_branch_block_widens_the_qrs(cohort):
  def qrs_width(r):
    # Width of the QRS energy burst 70% down from its peak, median over beats;
    # the energy is smoothed over 40 ms and measured low enough that the notch
    # of a bundle-branch block does not split one complex into two.
    b, a = scipy.signal.butter(2, [5, 40], btype="bandpass", fs=FS)
    e = np.sum(scipy.signal.filtfilt(b, a, r["signal"] / 1000, axis=0) ** 2, axis=1)
    e = np.convolve(e, np.ones(int(0.04 * FS)) / int(0.04 * FS), mode="same")
    widths = scipy.signal.peak_widths(e, scipy.signal.find_peaks(
        e, height=0.3 * np.percentile(e, 99), distance=int(0.27 * FS))[0], rel_height=0.7)[0]
    return np.median(widths) / FS
  normal = [qrs_width(r) for r in cohort if r["names"] == {"sinus_rhythm"}][:40]
  lbbb = [qrs_width(r) for r in cohort if "left_bundle_branch_block" in r["names"]]
  assert lbbb, "no LBBB in the sample cohort"
  # LBBB's QRS is 130-170 ms against a normal 75-110 (ratio about 1.6); an energy
  # width read from all 12 leads is a rough proxy of it.
  assert np.median(lbbb) > 1.45 * np.median(normal)


def test_prevalences_run_from_common_to_rare(cohort):
  counts = collections.Counter(n for r in cohort for n in r["names"])
  assert counts["sinus_rhythm"] > 0.4 * len(cohort)
  seen = [n for n in conditions.GROUPS["pretrain"] if counts[n]]
  assert len(seen) >= 25, f"only {len(seen)} pretraining labels in 700 ECGs"
  # Age drives degenerative disease: AF is commoner in the older half.
  ages = np.array([r["age"] for r in cohort])
  af = np.array(["atrial_fibrillation" in r["names"] for r in cohort])
  old = ages > np.median(ages)
  assert af[old].mean() > af[~old].mean()


def test_splits_are_by_patient_and_sized_as_planned():
  planned = generator.plan(3, 2000)
  assert sum(p.ecg_count for p in planned) == 2000
  assert np.mean([p.ecg_count for p in planned]) > 1.5    # patients have several ECGs
  keys = collections.defaultdict(set)
  for p in planned:
    keys[p.split].add(generator.synthetic_patient_key(3, p.index))
  assert not keys["train"] & keys["validation"]
  assert not keys["train"] & keys["test"]
  sizes = collections.Counter()
  for p in planned:
    sizes[p.split] += p.ecg_count
  assert 0.7 < sizes["train"] / 2000 < 0.9
  # A smaller dataset is a prefix of a larger one.
  assert generator.plan(3, 500)[:-1] == planned[:len(generator.plan(3, 500)) - 1]


def test_labels_follow_what_is_drawn(cohort):
  """Findings read off P waves are never labelled where no P wave is drawn."""
  no_p = {"atrial_fibrillation", "atrial_flutter", "junctional_rhythm"}
  p_findings = {"left_atrial_enlargement", "right_atrial_enlargement", "first_degree_av_block"}
  for r in cohort:
    if r["names"] & no_p:
      assert not r["names"] & p_findings, r["names"]
  # Exactly one underlying rhythm per ECG.
  rhythms = {"sinus_rhythm", "sinus_bradycardia", "sinus_tachycardia", "atrial_fibrillation",
             "atrial_flutter", "third_degree_av_block", "junctional_rhythm"}
  for r in cohort:
    assert len(r["names"] & rhythms) == 1 or "ventricular_pacing" in r["names"], r["names"]
  # So the rhythm group a head can train as one softmax names at most one class per ECG,
  # and one for all but the few in third-degree block or paced.
  group = set(exclusions.RHYTHM_GROUP)
  in_group = collections.Counter(len(r["names"] & group) for r in cohort)
  assert set(in_group) <= {0, 1} and in_group[1] > 0.9 * len(cohort), in_group


def test_a_patients_ecgs_resemble_each_other_more_than_a_strangers():
  """Baseline morphology belongs to the patient: the median beat of two visits of one
  patient is closer than that of two patients (what patient-level splits guard)."""
  def template(patient, visit):
    r = generator.generate_record(1, patient, visit, FS, 10.0)
    b, a = scipy.signal.butter(2, [1, 40], btype="bandpass", fs=FS)
    filtered = scipy.signal.filtfilt(b, a, r["signal"], axis=0)
    return r, np.percentile(filtered, 99, axis=0)       # per-lead QRS amplitude profile
  same, other = [], []
  for p in range(60):
    a, ta = template(p, 0)
    b, tb = template(p, 1)
    if a["labels"].tolist() == b["labels"].tolist():
      same.append(np.linalg.norm(ta - tb))
      other.append(np.linalg.norm(ta - template(p + 1000, 0)[1]))
  assert len(same) >= 10
  assert np.median(same) < 0.7 * np.median(other)


@pytest.mark.slow
def test_generation_in_worker_processes_equals_generation_in_one():
  """The spawned workers (which do not re-import the caller's main module) render the
  same ECGs, in the same order, as one process does."""
  from ecgjax.synthetic import generator
  args = (7, 400, "train", 100.0, 10.0)
  parallel = list(generator.generate_split_parallel(*args, workers=2))
  serial = list(generator.generate_split_parallel(*args, workers=1))
  assert len(parallel) == len(serial) >= 256       # the parallel path is taken
  for a, b in zip(parallel, serial):
    assert a.keys() == b.keys()
    for key in a:
      np.testing.assert_array_equal(a[key], b[key])
