"""Labels that exclude each other (ecg.labels.exclusions): a contradictory set of calls is
resolved by the stated rule, and what is dropped says why."""

from hypothesis import given, settings, strategies as st

from ecgjax.ecg import labels as vocabulary
from ecgjax.ecg.labels import exclusions


def test_af_beats_a_less_probable_sinus_rhythm_and_takes_its_refinements_with_it():
  kept, dropped = exclusions.resolve(
      {"sinus_rhythm": 0.6, "sinus_bradycardia": 0.7, "atrial_fibrillation": 0.9,
       "left_axis_deviation": 0.8}, exclusions.EXCLUSIONS)
  assert kept == ["atrial_fibrillation", "left_axis_deviation"]
  assert dropped == {"sinus_rhythm": "atrial rhythm: atrial_fibrillation is more probable",
                     "sinus_bradycardia": "atrial rhythm: atrial_fibrillation is more probable"}
  # The other way round, sinus bradycardia (a sinus rhythm) keeps the whole sinus side.
  kept, dropped = exclusions.resolve(
      {"sinus_rhythm": 0.6, "sinus_bradycardia": 0.95, "atrial_fibrillation": 0.9},
      exclusions.EXCLUSIONS)
  assert kept == ["sinus_rhythm", "sinus_bradycardia"] and list(dropped) == ["atrial_fibrillation"]


def test_one_av_block_degree_one_bundle_branch_one_axis():
  kept, dropped = exclusions.resolve(
      {"first_degree_av_block": 0.8, "third_degree_av_block": 0.95,
       "left_bundle_branch_block": 0.7, "right_bundle_branch_block": 0.75,
       "left_axis_deviation": 0.9, "right_axis_deviation": 0.6}, exclusions.EXCLUSIONS)
  assert kept == ["third_degree_av_block", "right_bundle_branch_block", "left_axis_deviation"]
  assert set(dropped) == {"first_degree_av_block", "left_bundle_branch_block",
                          "right_axis_deviation"}
  # PR-based labels need P waves: dropped under a more probable AF.
  kept, _ = exclusions.resolve({"atrial_fibrillation": 0.9, "first_degree_av_block": 0.5},
                               exclusions.EXCLUSIONS)
  assert kept == ["atrial_fibrillation"]


def test_bifascicular_block_is_no_contradiction():
  """A right bundle branch block with a left anterior fascicular block is a common
  finding (bifascicular block): both stay."""
  calls = {"right_bundle_branch_block": 0.9, "left_anterior_fascicular_block": 0.8}
  assert exclusions.resolve(calls, exclusions.EXCLUSIONS) == (list(calls), {})
  assert exclusions.violated(calls) == []


def test_exclusions_name_vocabulary_labels_and_are_cut_to_a_head():
  named = {n for e in exclusions.EXCLUSIONS for a in e.alternatives for n in a}
  assert named <= set(vocabulary.names())
  cut = exclusions.for_labels(["sinus_rhythm", "atrial_fibrillation", "left_axis_deviation"])
  assert [(e.name, e.alternatives) for e in cut] == [
      ("atrial rhythm", (("sinus_rhythm",), ("atrial_fibrillation",)))]
  assert cut[0].describe()["rule"] == exclusions.RULE


HEAD = sorted({n for e in exclusions.EXCLUSIONS for a in e.alternatives for n in a})


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(HEAD), st.floats(0.01, 1.0), min_size=1))
def test_what_is_kept_never_contradicts_itself(called):
  kept, dropped = exclusions.resolve(called, exclusions.for_labels(HEAD))
  assert exclusions.violated(kept) == []
  assert sorted(kept + list(dropped)) == sorted(called)        # nothing lost unsaid
  # The most probable call always survives.
  assert max(called, key=called.get) in kept or called[max(called, key=called.get)] in [
      called[k] for k in kept]
