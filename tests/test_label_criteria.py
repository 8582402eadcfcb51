"""The generator's measured labels against the published criteria a reader applies
(ecgjax/ecg/synthetic/label_criteria.py), read off rendered ECGs."""

import pytest

from ecgjax.ecg.synthetic import label_criteria


@pytest.fixture(scope="module")
def measured():
  return label_criteria.measure(400, seed=0)


@pytest.mark.parametrize("label", ["left_axis_deviation", "right_axis_deviation"])
def test_axis_labels_follow_the_aha_criterion_as_measured_on_the_leads(measured, label):
  a = label_criteria.agreement(measured, label)
  assert a["labelled"] >= 8, a
  assert a["labelled_meeting"] >= 0.9 and a["unlabelled_meeting"] <= 0.02, a


def test_left_atrial_enlargement_labels_show_its_p_wave_criteria(measured):
  a = label_criteria.agreement(measured, "left_atrial_enlargement")
  assert a["labelled"] >= 8 and a["labelled_meeting"] >= 0.85, a

