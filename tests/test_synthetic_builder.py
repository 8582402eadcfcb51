"""The synthetic_ecg builder: TFDS's own builder checks, then what is on disk."""

import json
import os

import numpy as np
import tensorflow_datasets as tfds

from ecgjax.data import datasets
from ecgjax.ecg import leads
from ecgjax.synthetic import conditions, generator
from tfds_builders.synthetic_ecg import synthetic_ecg_dataset_builder as synthetic

TINY_SPLITS = {}
for _p in generator.plan(0, 600):
  TINY_SPLITS[_p.split] = TINY_SPLITS.get(_p.split, 0) + _p.ecg_count


class SyntheticEcgBuilderTest(tfds.testing.DatasetBuilderTestCase):
  DATASET_CLASS = synthetic.Builder
  BUILDER_CONFIG_NAMES_TO_TEST = ["tiny"]
  SPLITS = TINY_SPLITS
  SKIP_CHECKSUMS = True
  # The builder reads no inputs; TFDS still requires the directory to exist.
  EXAMPLE_DIR = os.path.dirname(synthetic.__file__)


def test_docstring_says_how_every_condition_is_rendered():
  for c in conditions.ALL:
    assert c.name in synthetic.Builder.__doc__, c.name


def test_large_config_has_at_least_100k_ecgs_and_tiny_at_most_1000():
  configs = {c.name: c for c in synthetic.Builder.BUILDER_CONFIGS}
  assert configs["tiny"].num_ecgs <= 1000
  assert configs["large"].num_ecgs >= 100_000


def test_signal_is_stored_as_int16_bytes(tiny_data_dir):
  directory = datasets.dataset_dir("synthetic_ecg/tiny", tiny_data_dir)
  features = json.load(open(os.path.join(directory, "features.json")))
  signal = features["featuresDict"]["features"]["signal"]["tensor"]
  assert signal["dtype"] == "int16" and signal["encoding"] == "bytes"
  # 600 ECGs of 1000 x 12 int16 = 14.4 MB of signal; int64 widening would double it.
  size = sum(os.path.getsize(os.path.join(directory, f)) for f in os.listdir(directory)
             if ".tfrecord" in f)
  assert size < 1.15 * 600 * 1000 * 12 * 2


def test_built_examples_match_the_generator_and_the_spec(tiny_data_dir):
  builder = datasets.load_builder("synthetic_ecg/tiny", tiny_data_dir)
  meta = builder.info.metadata
  assert meta["label_names"] == list(conditions.NAMES)
  assert meta["lead_names"] == list(leads.STANDARD_LEADS)
  assert meta["sampling_rate"] == 100
  patients = {}
  for split in ("train", "validation", "test"):
    for ex in tfds.as_numpy(builder.as_dataset(split=split)):
      patients.setdefault(split, set()).add(ex["patient"])
      assert ex["signal"].dtype == np.int16 and ex["signal"].shape == (1000, 12)
      assert ex["age"] >= 18 and ex["sex"] in (0, 1)
  assert not patients["train"] & patients["test"]
  assert not patients["train"] & patients["validation"]
  # One record against the generator: same labels, signal equal to within rounding,
  # and the limb-lead relations hold after int16 quantisation (within 2 µV).
  ex = next(iter(tfds.as_numpy(builder.as_dataset(split="train").take(1))))
  patient, visit = ex["record_id"].decode().lstrip("p").split("_e")
  ref = generator.generate_record(0, int(patient), int(visit), 100, 10.0)
  np.testing.assert_array_equal(ex["labels"], ref["labels"])
  np.testing.assert_allclose(ex["signal"], ref["signal"], atol=0.5 + 1e-3)
  for name, residual in leads.limb_lead_residuals(ex["signal"].astype(np.float64)).items():
    assert np.abs(residual).max() <= 2.0, name


def test_a_run_reads_the_synthetic_version_its_code_makes(tiny_data_dir, tmp_path):
  """A newer generator's data left on disk (by a newer checkout) is not read by older
  code: the run reads the version its generator makes, and a version that is not on
  disk is named with the build command."""
  from ecgjax.data import run_input
  from ecgjax.experiments import validation
  from tests.helpers import tiny_pretrain_config
  import shutil
  built = datasets.dataset_dir("synthetic_ecg/tiny", tiny_data_dir)
  assert os.path.basename(built) == generator.VERSION
  for version in (generator.VERSION, "99.0.0"):
    shutil.copytree(built, tmp_path / "synthetic_ecg" / "tiny" / version)
  assert datasets.dataset_dir("synthetic_ecg/tiny", str(tmp_path)).endswith("99.0.0")
  config = tiny_pretrain_config(str(tmp_path))
  source = run_input.make_input(config, validation.validate_pretrain(config, device_count=1))
  assert os.path.basename(os.fspath(source.builder.data_dir)) == generator.VERSION
  shutil.rmtree(tmp_path / "synthetic_ecg" / "tiny" / generator.VERSION)
  try:
    datasets.dataset_dir("synthetic_ecg/tiny", str(tmp_path), generator.VERSION)
    raise AssertionError("a version that is not on disk was found")
  except datasets.DatasetNotBuiltError as e:
    assert f"at version(s) 99.0.0, not at {generator.VERSION}" in str(e)
    assert f"tfds build tfds_builders/synthetic_ecg --data_dir={tmp_path}" in str(e)
