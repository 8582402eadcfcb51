"""Generated normal ECGs look like published adult normals, lead by lead.

Sources of the ranges are in benchmarks/synthetic_normal_ranges.py, the study that
measures them (apart from the generator, ecgjax/synthetic/). The generator
is never fitted to labelled recordings; these checks hold its physiology to the
literature instead.
"""

import os
import sys

import numpy as np
import pytest

from tests.helpers import REPO

sys.path.insert(0, os.path.join(REPO, "benchmarks"))
import synthetic_normal_ranges as nr  # noqa: E402

PRECORDIAL = ("V1", "V2", "V3", "V4", "V5", "V6")


@pytest.fixture(scope="module")
def normals():
  return nr.measure_normals(300, seed=0)


@pytest.mark.parametrize("lead", sorted(nr.PUBLISHED_R_MEDIAN))
def test_median_r_amplitude_is_in_the_published_range(normals, lead):
  lo, hi = nr.PUBLISHED_R_MEDIAN[lead]
  assert lo <= np.median(normals.r_mv[lead]) <= hi


@pytest.mark.parametrize("lead", sorted(nr.PUBLISHED_S_MEDIAN))
def test_median_s_depth_is_in_the_published_range(normals, lead):
  lo, hi = nr.PUBLISHED_S_MEDIAN[lead]
  assert lo <= np.median(normals.s_mv[lead]) <= hi


def test_p_waves_are_normal_sized_in_lead_ii(normals):
  lo, hi = nr.PUBLISHED_P_II_MEDIAN
  assert lo <= np.median(normals.p_ii_mv) <= hi
  assert np.mean(normals.p_ii_mv < nr.PUBLISHED_P_II_MAX) >= 0.97


def test_precordial_progression(normals):
  """R grows from V1 to V4, the S is deepest in V1-V3, and the largest QRS is in
  V2-V4, not V5-V6 (the generator's fault before version 1.2.0)."""
  r = [np.median(normals.r_mv[v]) for v in PRECORDIAL]
  s = [np.median(normals.s_mv[v]) for v in PRECORDIAL]
  assert r[0] < r[1] < r[2] < r[3]
  assert int(np.argmax(s)) in (0, 1, 2)
  peak_to_peak = [np.median(normals.r_mv[v] + normals.s_mv[v]) for v in PRECORDIAL]
  assert PRECORDIAL[int(np.argmax(peak_to_peak))] in ("V2", "V3", "V4")
  limb = max(np.median(normals.r_mv[v] + normals.s_mv[v]) for v in ("I", "II", "aVF"))
  assert max(peak_to_peak) > 1.4 * limb


@pytest.mark.parametrize("field", sorted(nr.PUBLISHED_LIMITS))
def test_intervals_and_axis_spread_across_the_normal_limits(normals, field):
  """Each draw is clipped to the published 2nd-98th percentile limits (and an axis
  outside them is labelled a deviation, not normal), so being inside proves little;
  what can fail is the spread: the median near the middle of the limits and the
  10th-90th percentiles covering at least 30% of their width, not one template."""
  lo, hi = nr.PUBLISHED_LIMITS[field]
  values = getattr(normals, field)
  assert lo + 0.2 * (hi - lo) <= np.median(values) <= hi - 0.2 * (hi - lo)
  p10, p90 = np.percentile(values, [10, 90])
  assert p90 - p10 >= 0.3 * (hi - lo)


def test_men_have_larger_voltage_and_wider_qrs(normals):
  men, women = normals.sexes == "male", normals.sexes == "female"
  assert np.median(normals.s_mv["V2"][men]) > np.median(normals.s_mv["V2"][women])
  assert np.median(normals.qrs_ms[men]) > np.median(normals.qrs_ms[women])


def test_voltage_falls_with_age(normals):
  young, old = normals.ages < 45, normals.ages >= 65
  sokolow = normals.s_mv["V1"] + np.maximum(normals.r_mv["V5"], normals.r_mv["V6"])
  assert np.median(sokolow[young]) > np.median(sokolow[old])
