"""Shared fixtures. Every test process simulates 8 CPU devices (DESIGN.md), so
sharding code runs on every test run; this must happen before JAX starts."""

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(os.path.dirname(REPO), "shared", "data")


@pytest.fixture(scope="session")
def shared_data() -> str:
  """../shared/data, or a failure that says where it was expected."""
  if not os.path.isdir(SHARED_DATA):
    pytest.fail(f"real ECG samples not found at {SHARED_DATA}: clone the project with "
                "../shared beside it", pytrace=False)
  return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory) -> str:
  """synthetic_ecg/tiny, built once per test session through the builder class."""
  from tfds_builders.synthetic_ecg import synthetic_ecg_dataset_builder as synthetic
  data_dir = str(tmp_path_factory.mktemp("tfds"))
  synthetic.Builder(config="tiny", data_dir=data_dir).download_and_prepare()
  return data_dir


@pytest.fixture(scope="session")
def tiny_pretrained(tiny_data_dir, tmp_path_factory) -> str:
  """A pretraining workdir (8 steps on synthetic_ecg/tiny) with its model card."""
  from ecgjax.experiments import pretraining
  workdir = str(tmp_path_factory.mktemp("pretrained"))
  pretraining.train_and_evaluate(tiny_pretrain_config(data_dir=tiny_data_dir, total_steps=8),
                              workdir)
  return workdir


TINY_MODEL = dict(stem_width=8, stage_widths=(8, 16), blocks_per_stage=(1, 1),
                  stage_strides=(2, 2), kernel_size=5)


def shrink(c, data_dir: str):
  """Points a config at synthetic_ecg/tiny with a tiny model and small batches."""
  c.dataset.name = "synthetic_ecg/tiny"
  c.dataset.data_dir = data_dir
  c.dataset.shuffle_buffer = 128
  for key, value in TINY_MODEL.items():
    c.model[key] = value
  c.batch_size = 16
  c.eval_batch_size = 64
  return c


def tiny_pretrain_config(data_dir: str, **overrides):
  """A small, fast pretraining config on synthetic_ecg/tiny."""
  from ecgjax.configs import pretrain
  c = shrink(pretrain.get_config(), data_dir)
  c.total_steps = 8
  c.log_every = 2
  c.eval_every = 8
  c.checkpoint_every = 4
  c.optimizer.warmup_steps = 2
  for key, value in overrides.items():
    target = c
    *parents, leaf = key.split(".")
    for p in parents:
      target = target[p]
    target[leaf] = value
  return c


def pytest_collection_modifyitems(config, items):
  """Drops tf.test.TestCase's `test_session` helper, which is not a test (TF skips it)."""
  kept = [i for i in items if i.name != "test_session"]
  if len(kept) != len(items):
    config.hook.pytest_deselected(items=[i for i in items if i.name == "test_session"])
    items[:] = kept
