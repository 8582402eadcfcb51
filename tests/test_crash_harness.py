"""The crash harness's fast form (tests/crash_harness.py): each command killed with a
real SIGKILL at the moments where a crash used to lose work, then run again until it
ends, finishes exactly as a run never interrupted. The full form (30 seeded moments per
command) is `python -m tests.crash_harness`; its report is in docs/scaling.md."""

import pytest

from tests import crash_harness

pytestmark = pytest.mark.slow     # runs commands end to end

FAST_MOMENTS = {
    # Right after the final checkpoint is committed, and with results.json written but
    # not yet in place: before, a rerun found step N of N and never wrote results.
    "pretrain": ["final_checkpoint_committed#1", "writing:results.json#1"],
    # While the train state and the kept model commit in the background (one unit).
    "finetune": ["checkpoint_saving#2"],
    # Between two runs of the sweep.
    "sweep": ["between_runs#2"],
}


def test_a_kill_at_any_of_these_moments_loses_nothing(tiny_data_dir, tmp_path):
  report = crash_harness.harness(
      list(FAST_MOMENTS), tiny_data_dir, str(tmp_path),
      pick=lambda name, passed: [m for m in FAST_MOMENTS[name] if m in passed])["commands"]
  for name, moments in FAST_MOMENTS.items():
    outcomes = report[name]["outcomes"]
    assert [o["moment"] for o in outcomes] == moments, name
    for o in outcomes:
      assert o["killed"], f"{name}: not killed at {o['moment']}"
      assert not o["lost"], f"{name} killed at {o['moment']}: {o['differences']}"
      assert o["differences"] == [] and o["strays"] == [], o
      assert o["reruns"] == 1, o       # one rerun finishes it
