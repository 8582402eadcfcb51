"""What every ecgjax command shares: flags, quiet library logs, distributed start,
and user errors printed as one line instead of a traceback."""

import ast
import os
import sys
import tempfile

from ecgjax import console  # first: it sets TF's log level before TF is imported
from absl import app, flags, logging  # noqa: E402

# What TensorFlow's C++ prints to fd 2 when it loads, whatever TF_CPP_MIN_LOG_LEVEL
# says (it logs through absl's C++ logging since TF 2.16): nothing a user can act on.
TF_IMPORT_NOISE = ("WARNING: All log messages before absl::InitializeLog()",
                   "oneDNN custom operations are on")


def import_tensorflow_quietly() -> None:
  """Imports TensorFlow with fd 2 captured, then passes on every captured line except
  TF_IMPORT_NOISE (all of it if the import fails). predict and export never
  import TensorFlow, so only the training commands' cli does this."""
  if "tensorflow" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
    return
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile(mode="w+b") as captured:
    os.dup2(captured.fileno(), 2)
    failed = True
    try:
      import tensorflow  # noqa: F401
      failed = False
    finally:
      os.dup2(saved, 2)
      os.close(saved)
      captured.seek(0)
      lines = captured.read().decode(errors="replace").splitlines(keepends=True)
      sys.stderr.write("".join(line for line in lines
                               if failed or not any(n in line for n in TF_IMPORT_NOISE)))


import_tensorflow_quietly()   # before ecgjax.data imports it

from ml_collections import config_flags  # noqa: E402

from ecgjax.data import datasets, mixture  # noqa: E402
from ecgjax.ecg import leads  # noqa: E402
from ecgjax.experiments import validation  # noqa: E402
from ecgjax.training import (checkpoints, interrupt, mesh, nonfinite, transfer,  # noqa: E402
                             workdir_lock)

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints and metrics.")
_PRINT_CONFIG = flags.DEFINE_bool(
    "print_config", False, "Print the resolved config (file, argument and --config.* "
    "overrides applied) and exit without running; --workdir is then not needed.")
flags.mark_flag_as_required("config")

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")


def config_catalogue() -> str:
  """The shipped config files, each with the first line of its docstring (for --help)."""
  lines = ["Config files (--config=PATH, or PATH:ARG where the file takes one):"]
  for name in sorted(os.listdir(CONFIG_DIR)):
    if not name.endswith(".py") or name in ("__init__.py", "common.py"):
      continue
    with open(os.path.join(CONFIG_DIR, name)) as f:
      doc = ast.get_docstring(ast.parse(f.read())) or ""
    lines.append(f"  ecgjax/configs/{name:<12} {doc.splitlines()[0] if doc else ''}")
  lines += ["", "Flags: --config, --workdir, --print_config (--helpfull lists every flag).",
            "", "Print a config's resolved fields before running it:",
            "  python -m ecgjax.main --config=ecgjax/configs/pretrain.py "
            "--config.batch_size=128 --print_config",
            "Every field can be overridden as --config.FIELD=VALUE (nested: "
            "--config.optimizer.learning_rate=3e-4)."]
  return "\n".join(lines)

# Errors a user can fix from the message alone.
USER_ERRORS = (validation.ConfigError, datasets.DatasetNotBuiltError,
               datasets.UnknownLabelError, checkpoints.InitFromError,
               transfer.ArchitectureMismatchError, transfer.InputContractError,
               nonfinite.NonFiniteError, workdir_lock.WorkdirLockedError,
               mixture.MixtureError, leads.UnknownLeadError)


def run(dispatch) -> None:
  """Parses flags and calls dispatch(config, workdir) under app.run."""

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if _PRINT_CONFIG.value:
      print(_CONFIG.value)
      return
    if not _WORKDIR.value:
      raise app.UsageError("--workdir is required (or --print_config to only show the config)")
    console.quiet_libraries()
    mesh.initialize_distributed()
    try:
      with workdir_lock.WorkdirLock(_WORKDIR.value):
        dispatch(_CONFIG.value, _WORKDIR.value)
    except USER_ERRORS as e:
      logging.error("%s", e)
      sys.exit(f"ecgjax: {e}")
    except interrupt.Interrupted as e:
      logging.warning("%s", e)
      print(f"ecgjax: {e} (exit code {e.exit_code})", file=sys.stderr)
      sys.exit(e.exit_code)

  app.run(main)
