"""What the config entries (main, finetune) share: flags, --help, quiet library logs,
distributed start, and user errors printed as one line instead of a traceback.

Importing it is light (absl, ml_collections): TensorFlow and JAX are imported once
the command line has been checked. Without the `train` extra it ends the command with
one line saying so."""

import contextlib
import os
import re
import sys
import tempfile

from ecgjax import console  # first: it sets TF's log level before TF is imported
from ecgjax import collector, failpoints  # noqa: E402
from absl import flags  # noqa: E402

# Training, fine-tuning and evaluation need the `train` extra; without it the command
# says so in one line, before anything else fails on an import.
console.require_extra("ecgjax", "train")

# What TensorFlow's C++ prints to fd 2 when it loads, whatever TF_CPP_MIN_LOG_LEVEL
# says (it logs through absl's C++ logging since TF 2.16): nothing a user can act on.
TF_IMPORT_NOISE = ("WARNING: All log messages before absl::InitializeLog()",
                   "oneDNN custom operations are on")


@contextlib.contextmanager
def _keras_kept_out():
  """`import keras` raises ImportError inside, unless Keras is already loaded."""
  if "keras" in sys.modules:
    yield
    return
  sys.modules["keras"] = None
  try:
    yield
  finally:
    del sys.modules["keras"]


def import_tensorflow_quietly(keep_keras_out: bool = True) -> None:
  """Imports TensorFlow with fd 2 captured, then passes on every captured line except
  TF_IMPORT_NOISE (all of it if the import fails). predict and export never
  import TensorFlow, so only the training commands' cli does this, before
  ecgjax.data (which imports it).

  `keep_keras_out`: TensorFlow imports Keras's optimisers as it loads, inside a `try`
  that passes over an ImportError: over a third of its import time (5.7 s -> 3.6 s on 2
  cores, benchmarks/command_start.py), paid by every training command and every test
  that starts one. ecgjax never uses Keras, so Keras is unimportable for that moment;
  `tf.keras` still loads on first use afterwards."""
  if "tensorflow" in sys.modules:
    return
  keras = _keras_kept_out() if keep_keras_out else contextlib.nullcontext()
  if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":    # the user asked to see it all
    with keras:
      import tensorflow  # noqa: F401
    return
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile(mode="w+b") as captured:
    os.dup2(captured.fileno(), 2)
    failed = True
    try:
      with keras:
        import tensorflow  # noqa: F401
      failed = False
    finally:
      os.dup2(saved, 2)
      os.close(saved)
      captured.seek(0)
      lines = captured.read().decode(errors="replace").splitlines(keepends=True)
      sys.stderr.write("".join(line for line in lines
                               if failed or not any(n in line for n in TF_IMPORT_NOISE)))


from ml_collections import config_flags  # noqa: E402

from ecgjax.configs import catalogue  # noqa: E402

PROGRAM = "ecgjax"
_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints and metrics.")
_PRINT_CONFIG = flags.DEFINE_bool(
    "print_config", False, "Print the resolved config (file, argument and --config.* "
    "overrides applied) and exit without running; --workdir is then not needed.")


def help_text(doc: str) -> str:
  """An entry's --help: its docstring, the shipped configs, the flags and exit codes."""
  return "\n".join([
      doc.strip(), "", catalogue.describe(), "",
      "Flags: --config, --workdir, --print_config (--helpfull lists every flag).",
      "Every field can be overridden as --config.FIELD=VALUE (nested: "
      "--config.optimizer.learning_rate=3e-4); print a config's resolved fields first:",
      "  python -m ecgjax.main --config=ecgjax/configs/pretrain.py --config.batch_size=128 "
      "--print_config", "", console.EXIT_CODES])


def _config_argument(argv) -> str | None:
  """--config's value (PATH or PATH:ARG) as given on the command line."""
  for i, arg in enumerate(argv):
    if arg.startswith("--config="):
      return arg[len("--config="):]
    if arg == "--config" and i + 1 < len(argv):
      return argv[i + 1]
  return None


def check_config_file(argv) -> str | None:
  """A --config file that does not exist, named with the shipped ones (before absl
  would load it and fail with a traceback)."""
  argument = _config_argument(argv)
  path = argument.split(":", 1)[0] if argument is not None else None
  if path is None or os.path.isfile(path):
    return None
  shipped = [f"ecgjax/configs/{name}.py" for name in catalogue.config_names()]
  return (f"--config={path}: no such file{console.closest(path, shipped)}; the shipped "
          f"configs are {', '.join(shipped)} (--help describes them)")


def explain_config_error(error: Exception) -> str | None:
  """ml_collections' errors as one line: a --config.FIELD override that names no field
  (a traceback ending in AttributeError), a config file whose get_config refused its
  argument or would not run (a traceback inside absl's flag error)."""
  text = str(error)
  typo = re.search(r'Did you mean "([^"]+)" instead of "([^"]+)"', text)
  # An override under a section the config lacks (--config.dataset.data_dir on the demo's
  # config, whose sections are pretrain and compare) is a KeyError naming the section alone.
  unknown = (typo or re.search(r'Key "([^"]+)" does not exist', text)
             or (isinstance(error, KeyError) and error.args
                 and re.fullmatch(r"'([^']+)'", str(error.args[0]))))
  if isinstance(error, (AttributeError, KeyError)) and unknown:
    key = typo.group(2) if typo else unknown.group(1)
    flag = next((a.split("=", 1)[0] for a in sys.argv[1:]
                 if a.startswith("--config.") and key in a.split("=", 1)[0].split(".")),
                f"--config.{key}")
    hint = ""
    if typo:      # the mistyped segment replaced where it stands: a section's or the field's
      meant = ".".join(typo.group(1) if part == key else part for part in flag.split("."))
      hint = f" (did you mean {meant}?)"
    return (f"{flag}: the config has no field {key!r}{hint}; --print_config lists every "
            "field")
  if "Error whilst parsing config file" in text:
    # The traceback's last line is the config's own message.
    last = [line for line in text.strip().splitlines() if line.strip()][-1].strip()
    message = re.sub(r"^\w+(Error|Exception): ", "", last)
    return f"--config={_config_argument(sys.argv[1:])}: {message}"
  return None


def run(dispatch, doc: str) -> None:
  """Parses flags and calls dispatch(config, workdir) under app.run; `doc` is the
  entry's docstring, for --help. TensorFlow and JAX are imported after the command
  line is checked, so a mistake or --help answers at once."""

  def main(argv):
    if len(argv) > 1:
      raise console.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    config = _CONFIG.value
    if _PRINT_CONFIG.value:
      print(config)
      return
    if not _WORKDIR.value:
      raise console.UsageError("--workdir is required (or --print_config to only show the "
                               "config)")
    with collector.paused_while_loading():
      import_tensorflow_quietly()   # before ecgjax.data imports it
      from ecgjax.data import datasets, mixture, synthetic_stream
      from ecgjax.ecg import leads
      from ecgjax.experiments import validation
      from ecgjax.models import head
      from ecgjax.training import (checkpoints, compilation_cache, interrupt, mesh,
                                   nonfinite, transfer, workdir_files, workdir_lock)
    # A config that asks for what cannot be: the user corrects it (exit 2).
    usage_errors = (validation.ConfigError, datasets.UnknownLabelError, mixture.MixtureError,
                    leads.UnknownLeadError, head.HeadLayoutError,
                    workdir_files.ConfigChangedError)
    # A run that could not go on: what is missing or wrong is named (exit 1).
    run_errors = (datasets.DatasetNotBuiltError, synthetic_stream.FreshEcgError,
                  checkpoints.InitFromError,
                  transfer.ArchitectureMismatchError, transfer.InputContractError,
                  nonfinite.NonFiniteError, workdir_lock.WorkdirLockedError)
    console.quiet_libraries()
    compilation_cache.share_within_process()    # before anything compiles
    mesh.initialize_distributed()
    try:
      # From here to the end a signal is handled (training.interrupt): acknowledged at
      # once, a save where there is something to save, a second Ctrl-C stops at once.
      with interrupt.StopRequest(restore=False), workdir_lock.WorkdirLock(
          _WORKDIR.value, scratch_files=(console.LOG_FILE,)):
        console.log_to_file(_WORKDIR.value)
        failpoints.reached("starting")
        dispatch(config, _WORKDIR.value)
    except usage_errors as e:
      console.fail(PROGRAM, str(e), console.EXIT_USAGE)
    except run_errors as e:
      console.fail(PROGRAM, str(e), console.EXIT_FAILED)
    except interrupt.Interrupted as e:
      console.fail(PROGRAM, f"{e} (exit code {e.exit_code})", e.exit_code)

  console.run_app(main, program=PROGRAM, help_text=help_text(doc), required=("config",),
                  check_argv=check_config_file, explain_parse_error=explain_config_error)
