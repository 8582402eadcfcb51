"""What a user meets at the command line before any work: --help, and every mistake
answered in one line with exit code 2 (console.EXIT_CODES), before TensorFlow or JAX
is imported; and what a command spends loading them (Keras kept out, the collector off
the libraries' objects)."""

import os
import subprocess
import sys

import pytest

from tests.helpers import REPO, xla_flags

ENTRIES = ("ecgjax.main", "ecgjax.finetune", "ecgjax.predict", "ecgjax.export")


def run(module: str, *args: str, timeout: int = 60) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True,
                        text=True, timeout=timeout, env={**os.environ, "XLA_FLAGS": xla_flags()})


@pytest.mark.parametrize("module", ENTRIES)
def test_help_exits_0_and_says_the_exit_codes(module):
  for flag in ("--help", "-h", "--helpfull"):
    result = run(module, flag)
    assert result.returncode == 0, result.stderr
    assert "Exit codes: 0 done" in result.stdout and "75 interrupted" in result.stdout
    # Help names only what a user has: no file outside the repository, no test file.
    assert "../" not in result.stdout and "tests/" not in result.stdout
    assert "Traceback" not in result.stderr


def test_main_help_lists_every_config_and_variant_whole():
  shown = run("ecgjax.main", "--help").stdout
  for name in ("pretrain.py", "finetune.py", "compare.py", "evaluate.py", "demo.py",
               "ptbxl_benchmark.py"):
    assert f"ecgjax/configs/{name}" in shown
  for variant in (":synthetic_foundation", ":synthetic_large", ":ptbxl", ":superdiagnostic"):
    assert variant in shown
  # A config's summary is its docstring's whole first paragraph, never cut mid-sentence.
  assert "The comparison sweep: scratch vs linear probe vs full\n      fine-tune." in shown
  assert "--print_config" in shown


def test_predict_help_lists_the_formats_and_the_shipped_models():
  shown = run("ecgjax.predict", "--help").stdout
  for extension in (".hea", ".xml", ".hdf5", ".npy", ".csv"):
    assert extension in shown
  assert "  synthetic_foundation: 12 leads at 100 Hz" in shown
  assert "  synthetic_foundation_lead_i: lead I at 100 Hz" in shown


@pytest.mark.parametrize("args, message", [
    (["--config=ecgjax/configs/pretrain.py", "--config.batchsize=8"],
     "ecgjax: --config.batchsize: the config has no field 'batchsize' (did you mean "
     "--config.batch_size?)"),
    (["--config=ecgjax/configs/pretrain.py", "--config.optimizer.learning_rat=0.1"],
     "(did you mean --config.optimizer.learning_rate?)"),
    (["--config=ecgjax/configs/demo.py", "--config.dataset.data_dir=/tmp/d"],
     "ecgjax: --config.dataset.data_dir: the config has no field 'dataset'; --print_config "
     "lists every field"),
    (["--config=ecgjax/configs/demo.py", "--config.pretrain.datset.data_dir=/tmp/d"],
     "ecgjax: --config.pretrain.datset.data_dir: the config has no field 'datset' (did you "
     "mean --config.pretrain.dataset.data_dir?)"),
    (["--config=ecgjax/configs/pretrian.py"],
     "ecgjax: --config=ecgjax/configs/pretrian.py: no such file (did you mean "
     "ecgjax/configs/pretrain.py?)"),
    (["--config=ecgjax/configs/pretrain.py:nope"],
     "ecgjax: --config=ecgjax/configs/pretrain.py:nope: pretrain config: unknown argument "
     "'nope'; expected one of synthetic, synthetic_foundation"),
    (["--config=ecgjax/configs/pretrain.py", "--config.batch_size=abc"],
     "flag --config.batch_size=abc: invalid literal for int()"),
    (["--config=ecgjax/configs/pretrain.py", "--bogus"], "Unknown command line flag 'bogus'"),
    ([], "ecgjax: --config is required"),
])
def test_a_mistake_is_one_line_and_exit_code_2(args, message, tmp_path):
  workdir = tmp_path / "wd"
  result = run("ecgjax.main", f"--workdir={workdir}", *args)
  assert result.returncode == 2, result.stderr
  assert result.stderr.strip().count("\n") == 0, result.stderr       # one line
  assert message in result.stderr
  assert not workdir.exists()


@pytest.mark.parametrize("module, args, message", [
    ("ecgjax.main", ["--config=ecgjax/configs/pretrain.py"], "ecgjax: --workdir is required"),
    ("ecgjax.predict", ["--model=M"], "ecgjax.predict: --out is required"),
    ("ecgjax.predict", ["--model=M", "--out=O"], "ecgjax.predict: give one or more ECG files"),
    ("ecgjax.export", ["--model=M", "--out=O", "extra"],
     "ecgjax.export: unexpected arguments: extra"),
])
def test_a_missing_flag_or_argument_is_one_line_and_exit_code_2(module, args, message):
  result = run(module, *args)
  assert result.returncode == 2, result.stderr
  assert result.stderr.strip().count("\n") == 0, result.stderr
  assert message in result.stderr


def test_predict_with_no_ecg_files_is_an_error(tmp_path):
  """Found before the model loads: no model is needed to be told."""
  (tmp_path / "README.txt").write_text("not an ECG")
  (tmp_path / "empty").mkdir()
  for path, passed_over in ((tmp_path, " (1 .txt files of no ECG format)"),
                            (tmp_path / "empty", "")):
    result = run("ecgjax.predict", "--model=/no/model", f"--out={tmp_path / 'p.csv'}",
                 str(path))
    assert result.returncode == 2, result.stderr
    assert f"ecgjax.predict: no ECG files found under {path}{passed_over}; formats:" in (
        result.stderr)
    assert not (tmp_path / "p.csv").exists()


def test_predict_refuses_lead_names_it_cannot_read():
  result = run("ecgjax.predict", "--model=M", "--out=O", "--lead_names=ECG=lead1", "x.hea")
  assert result.returncode == 2 and result.stderr.startswith("ecgjax.predict: --lead_names: ")


@pytest.mark.slow
def test_a_refused_config_says_what_to_do_and_leaves_no_workdir(tmp_path):
  """Validation runs after TensorFlow is imported: its refusal is one line too, and the
  workdir the run would have created is not left behind."""
  workdir = tmp_path / "wd"
  result = run("ecgjax.main", "--config=ecgjax/configs/pretrain.py", f"--workdir={workdir}",
               "--config.total_steps=100", timeout=300)
  assert result.returncode == 2, result.stderr
  assert result.stderr.strip().splitlines() == [
      "ecgjax: config.optimizer.warmup_steps=200 must be below config.total_steps=100: "
      "lower it too (--config.optimizer.warmup_steps=10)"]
  assert not workdir.exists()


def test_a_command_imports_tensorflow_without_keras_and_tf_keras_still_loads():
  """cli.import_tensorflow_quietly keeps Keras out of TensorFlow's import (seconds off
  every training command: benchmarks/command_start.py); a program that asks for
  tf.keras afterwards still gets it. The training commands' modules leave
  scipy.signal unimported too (~1 s): only a reader's preprocessing filters."""
  code = ("import sys\nfrom ecgjax import cli\ncli.import_tensorflow_quietly()\n"
          "from ecgjax.experiments import (checkpoint_evaluation, demo, fine_tuning, "
          "outputs, pretraining, self_supervised, sweep)\n"   # what main.dispatch imports
          "print('keras' in sys.modules, 'scipy.signal' in sys.modules)\n"
          "import tensorflow as tf\n"
          "tf.keras.layers.Dense(1)\nprint('keras' in sys.modules)\n")
  out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                       text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  assert out.stdout.split() == ["False", "False", "True"]


# Runs a command as `python -m` does, watching Python's cyclic collector: the objects
# each full collection walks, and, after every other exit function, what is still
# walkable and what is frozen (the report is registered first, so it runs last).
WATCHED_COMMAND = """
import atexit, gc, runpy, sys
walked = []
def watch(phase, info):
  if phase == "start" and info["generation"] == 2:
    walked.append(len(gc.get_objects(generation=2)))
gc.callbacks.append(watch)
atexit.register(lambda: print("REPORT", max(walked, default=0), len(gc.get_objects()),
                              gc.get_freeze_count(), gc.isenabled(), file=sys.stderr))
sys.argv = sys.argv[1:]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("command", ("training", "predict"))
def test_no_collection_walks_the_libraries_objects_during_a_command_or_at_its_exit(
    command, tmp_path):
  """ecgjax.collector: a command loads its libraries (TensorFlow, JAX, scikit-learn:
  hundreds of thousands of objects) with the collector paused and then frozen, so no full
  collection walks them while it runs, and nothing is left to walk as it exits. The
  training command is watched on its way to an error (no dataset built: exit 1), which
  it meets after loading; predict scores the packaged samples."""
  if command == "training":
    argv = ["ecgjax.main", f"--config=tests/configs/tiny_pretrain.py:{tmp_path / 'none'}",
            f"--workdir={tmp_path / 'wd'}"]
    expected_code, loaded = 1, 500_000
  else:
    from ecgjax import samples
    argv = ["ecgjax.predict", "--model=synthetic_foundation", f"--out={tmp_path / 'p.csv'}",
            samples.path("ptbxl")]
    expected_code, loaded = 0, 200_000
  result = subprocess.run([sys.executable, "-c", WATCHED_COMMAND, *argv], cwd=REPO,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "XLA_FLAGS": xla_flags()})
  assert result.returncode == expected_code, result.stderr[-3000:]
  [report] = [line.split()[1:] for line in result.stderr.splitlines()
              if line.startswith("REPORT ")]
  most_walked, walkable_at_exit, frozen, enabled = report
  assert int(frozen) > loaded and enabled == "True"
  assert int(most_walked) < loaded // 5, report
  assert int(walkable_at_exit) < 1_000, report


def test_the_exit_codes_console_documents_are_the_ones_the_interrupt_handling_uses():
  """console (imported before JAX) and training.interrupt each hold the codes."""
  from ecgjax import console
  from ecgjax.training import interrupt
  assert console.EXIT_INTERRUPTED == interrupt.EXIT_CODE == 75
  assert console.EXIT_SECOND_INTERRUPT == interrupt.SECOND_INTERRUPT_EXIT_CODE == 130


@pytest.mark.parametrize("module", ("ecgjax.main", "ecgjax.finetune"))
def test_ctrl_c_while_the_config_file_loads_is_one_line_and_exit_75(module, tmp_path):
  """absl parses flags (and so runs the config file) outside the command's own handling;
  a Ctrl-C there, which a slow machine makes likely, is the start-up line, not a
  traceback. The config file raises it, as the signal would."""
  config = tmp_path / "interrupted_config.py"
  config.write_text("raise KeyboardInterrupt\n")
  result = run(module, f"--config={config}", f"--workdir={tmp_path / 'wd'}")
  assert result.returncode == 75, result.stderr
  assert "Traceback" not in result.stderr
  assert "interrupted (Ctrl-C) before anything was saved" in result.stderr
