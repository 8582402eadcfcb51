"""Shared fixtures. Every test process simulates 8 CPU devices, so sharding code
runs on every test run, compiles with LLVM's cheaper optimisation (helpers.
COMPILE_XLA_FLAGS) and keeps XLA's compiled programs in a persistent cache: the suite
trains the same tiny model many times, and a tiny pretraining spends most of its time
compiling. All must be set before JAX starts; subprocesses that tests start inherit
them through the environment (or helpers.xla_flags where a test sets its own)."""

import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from tests.helpers import xla_flags  # noqa: E402  (no JAX import)

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + xla_flags(8)).strip()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Keyed by the program, the JAX version and the devices: a stale entry cannot be hit.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      os.path.join(REPO, ".pytest_cache", "jax_compilation_cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")

import signal  # noqa: E402

import pytest  # noqa: E402

from tests.helpers import SHARED_DATA, tiny_pretrain_config  # noqa: E402


@pytest.hookimpl(hookwrapper=True)
def pytest_collection(session):
  """Collection imports every test module, and with them TensorFlow, JAX and
  scikit-learn: loaded with the collector paused and then frozen out of its walks, as a
  command loads them (ecgjax.collector), so each test worker's full collections walk
  what its tests make, not the libraries' ~850,000 objects."""
  from ecgjax import collector
  with collector.paused_while_loading():
    yield


@pytest.fixture
def harmless_late_signals():
  """A signal that lands after a run has restored the handlers must not end pytest."""
  previous = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGTERM, signal.SIGINT)}
  yield
  for s, handler in previous.items():
    signal.signal(s, handler)


@pytest.fixture
def signal_at():
  """`signal_at(moment, count, action)`: this process signals itself (SIGTERM: "term",
  SIGINT: "int") the `count`-th time the run passes `moment` (ecgjax.failpoints): an
  event in the code, never a timer, so every run of the suite stops at the same place."""
  from ecgjax import failpoints
  yield failpoints.arm
  failpoints.disarm()


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


@pytest.fixture(scope="session")
def tiny_finetuned(tiny_pretrained, tiny_data_dir, tmp_path_factory):
  """`finetuned(**overrides) -> (workdir, results)`: a fine-tune of `tiny_pretrained`
  with tiny_finetune_config and these overrides, trained once per session (per test
  worker) however many tests read it. A test that changes the run afterwards (resumes
  it, deletes files) trains its own instead."""
  from ecgjax.experiments import fine_tuning
  from tests.helpers import tiny_finetune_config
  runs = {}

  def finetuned(**overrides):
    key = tuple(sorted(overrides.items()))
    if key not in runs:
      workdir = str(tmp_path_factory.mktemp("finetuned"))
      results = fine_tuning.train_and_evaluate(
          tiny_finetune_config(tiny_data_dir, tiny_pretrained, **overrides), workdir)
      runs[key] = (workdir, results)
    return runs[key]

  return finetuned


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory):
  """A GCS emulator (fake-gcs-server) started for this test process; commands reach it
  through `gcs_emulator.env`."""
  from tests.helpers import GcsEmulator
  emulator = GcsEmulator(str(tmp_path_factory.mktemp("gcs") / "objects")).start()
  yield emulator
  emulator.stop()


@pytest.fixture(scope="session")
def gcs_emulator_for_tensorflow(tmp_path_factory):
  """The same, also serving HTTPS as storage.googleapis.com on a loopback address of
  this test process's own (port 443), for commands whose TensorFlow reads a bucket
  (GcsEmulator.for_tensorflow)."""
  from tests.helpers import GcsEmulator
  if os.geteuid() != 0:
    pytest.fail("the tests of a TensorFlow-read bucket run commands in a mount namespace of "
                "their own (unshare -m) and serve port 443: run the suite as root, as CI "
                "does", pytrace=False)
  worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
  address = f"127.0.0.{10 + int(worker[2:] or 0)}"
  emulator = GcsEmulator(str(tmp_path_factory.mktemp("gcs_tls") / "objects"), address).start()
  yield emulator
  emulator.stop()


# Fixtures that train: a test using one is in the slow tier whether or not it says so.
TRAINING_FIXTURES = {"tiny_pretrained", "tiny_finetuned"}

# The files that take longest (their tests' seconds in `--durations=0` of a whole-suite run
# on 2 cores, 2026-12-06),
# handed to the test workers first. xdist's loadfile hands out files in collection order
# once its own reordering (by number of tests) is off, and a long file handed out last
# leaves the other worker idle while it runs: the one-test crash harness (228 s) was
# handed out last, and the suite ended ~90 s after the other worker had finished. A file
# missing from this list only runs later; the order changes no result.
LONGEST_FILES = (
    "test_stacked_runs.py",            # 230
    "test_crash_harness.py",           # 228
    "test_bucket.py",                  # 221
    "test_distributed.py",             # 217
    "test_self_supervised.py",         # 207
    "test_end_to_end.py",              # 151
    "test_interrupt_command_line.py",  # 141
    "test_finetune.py",                # 114
    "test_interrupt.py",               # 107
    "test_accelerator_benchmark.py",   # 88
    "test_pmap.py",                    # 85
    "test_sim_to_real.py",             # 74
    "test_release.py",                 # 72
    "test_explain.py",                 # 72
)


def pytest_configure(config):
  """Longest files first (LONGEST_FILES): xdist must keep the collection's order."""
  if hasattr(config.option, "loadscopereorder"):
    config.option.loadscopereorder = False


def _handed_out_at(item) -> int:
  name = os.path.basename(item.nodeid.split("::")[0])
  return LONGEST_FILES.index(name) if name in LONGEST_FILES else len(LONGEST_FILES)


@pytest.hookimpl(tryfirst=True)     # before -m deselects by marker
def pytest_collection_modifyitems(config, items):
  """Marks every test that uses a training fixture `slow`, so the fast tier
  (-m "not slow") never trains; drops tf.test.TestCase's `test_session` helper, which
  is not a test (TF skips it); puts the longest files first (a stable sort: a file's
  tests keep their order)."""
  items.sort(key=_handed_out_at)
  for item in items:
    if TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())):
      item.add_marker(pytest.mark.slow)
  kept = [i for i in items if i.name != "test_session"]
  if len(kept) != len(items):
    config.hook.pytest_deselected(items=[i for i in items if i.name == "test_session"])
    items[:] = kept


def pytest_sessionfinish(session, exitstatus):
  """One skip policy, here and in CI: no test skips. A missing extra fails at import
  (helpers.require_extra), and a skip that slips in anyway fails the run."""
  if hasattr(session.config, "workerinput"):
    return
  reporter = session.config.pluginmanager.get_plugin("terminalreporter")
  skipped = reporter.stats.get("skipped", []) if reporter else []
  if skipped and exitstatus == pytest.ExitCode.OK:
    reporter.write_line(f"{len(skipped)} test(s) skipped: no test may skip (a missing extra "
                        "is a broken install: the README's test command installs them all)",
                        red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
