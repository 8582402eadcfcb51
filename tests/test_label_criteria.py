"""The generator's measured labels against the published criteria a reader applies
(ecgjax/ecg/synthetic/label_criteria.py), read off rendered ECGs."""

import numpy as np
import pytest

from ecgjax.ecg.synthetic import label_criteria


@pytest.fixture(scope="module")
def measured():
  return label_criteria.measure(400, seed=0)


# Per label: (at least this many labelled ECGs, at least this share of them meeting the
# criterion on the rendered leads, at most this share of the unlabelled meeting it).
# The generator labels LVH and atrial enlargement by the criterion read off its drawn
# beat; the recording misplaces each chest electrode a little, so a borderline beat may
# read either way. Left atrial enlargement is mostly labelled by V1's terminal force
# near its criterion, which V1's placement moves: a fifth may read below it.
AGREEMENT = {
    "left_axis_deviation": (8, 0.9, 0.02),
    "right_axis_deviation": (8, 0.9, 0.02),
    "left_ventricular_hypertrophy": (3, 0.85, 0.05),
    "right_atrial_enlargement": (3, 0.85, 0.05),
    "left_atrial_enlargement": (8, 0.8, 0.08),
}


@pytest.mark.parametrize("label", sorted(AGREEMENT))
def test_labels_follow_their_published_criterion_on_the_rendered_leads(measured, label):
  min_labelled, min_meeting, max_unlabelled_meeting = AGREEMENT[label]
  a = label_criteria.agreement(measured, label)
  assert a["labelled"] >= min_labelled, a
  assert a["labelled_meeting"] >= min_meeting, a
  assert a["unlabelled_meeting"] <= max_unlabelled_meeting, a


def test_p_duration_varies_across_the_adult_range(measured):
  # Atrial enlargement must not be separable by a P duration that never varies.
  plain = np.array([m.p_duration_s for m in measured if m.p_duration_s is not None and not
                    m.labels & {"left_atrial_enlargement", "right_atrial_enlargement"}])
  low, median, high = np.percentile(plain * 1000, [10, 50, 90])
  assert high - low >= 20 and 90 <= median <= 110, (low, median, high)
