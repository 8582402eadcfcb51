"""Every reader of ecgjax/ecg/formats/ over mutated copies of real files: only
RecordFormatError, naming the file, ever escapes (tests/reader_fuzzing.py).

Derandomized, so CI runs the same cases every time; `python -m tests.fuzz_readers`
runs many more with fresh randomness and counts the outcomes.
"""

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests import reader_fuzzing

MUTATION = st.builds(reader_fuzzing.Mutation, kind=st.sampled_from(reader_fuzzing.KINDS),
                     where=st.floats(0, 1), length=st.integers(1, 4096),
                     payload=st.binary(min_size=1, max_size=64))


@pytest.fixture(scope="module")
def fuzz_targets(shared_data):
  return reader_fuzzing.targets(shared_data)


# A numpy overflow warning is a value the reader let through unchecked: an error here.
@pytest.mark.slow     # 1,500 mutated files: the whole suite's, not the fast tier's
@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("name", ["wfdb", "physionet", "muse_xml", "hl7_aecg", "code15"])
def test_mutated_files_raise_only_record_format_errors(name, fuzz_targets, tmp_path):
  target = fuzz_targets[name]
  outcomes = set()

  @settings(max_examples=300, deadline=None, derandomize=True, database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
  @given(sample=st.integers(0, 7), file_index=st.integers(0, 1),
         mutations=st.lists(MUTATION, min_size=1, max_size=3))
  def check(sample, file_index, mutations):
    outcomes.add(reader_fuzzing.run_once(target, str(tmp_path / "case"), sample, file_index,
                                         mutations))

  check()
  # The fuzzer reached the readers' checks, not only their first line.
  assert any(o.startswith("RecordFormatError") for o in outcomes), outcomes


def test_the_unmutated_samples_read(fuzz_targets, tmp_path):
  for target in fuzz_targets.values():
    for i in range(len(target.samples)):
      assert reader_fuzzing.run_once(target, str(tmp_path / "case"), i, 0, []) == "read"
