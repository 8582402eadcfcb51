"""What every ecgjax command prints: its own INFO lines, not its libraries' chatter.

TensorFlow-free, so predict and export (which a serving host runs without TF)
share it with the training commands.
"""

import difflib
import importlib.util
import logging as pylogging
import os
import sys

# TensorFlow (tf.data only) prints start-up INFO lines unless told otherwise; this
# must be set before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

from absl import app, flags, logging  # noqa: E402

from ecgjax import collector  # noqa: E402

# Every command's exit codes (--help lists them).
EXIT_FAILED = 1              # the run failed: a file, a dataset, a checkpoint (the message says)
EXIT_USAGE = 2               # the command line or the config is wrong; nothing was done
EXIT_INTERRUPTED = 75        # SIGTERM or Ctrl-C: saved (training.interrupt.EXIT_CODE)
EXIT_SECOND_INTERRUPT = 130  # a second Ctrl-C: stopped at once
EXIT_CODES = ("Exit codes: 0 done; 1 the run failed (the message says why); 2 a usage or "
              "config error, nothing was done; 75 interrupted after saving (run the same "
              "command again to resume); 130 stopped at once by a second Ctrl-C.")
HELP_FLAGS = ("--help", "-h", "-?", "--helpshort", "-help")


class UsageError(Exception):
  """A command line or config a user must correct: one line, exit code 2."""


def refuse_bucket_paths(**named) -> None:
  """A usage error, before any work, for a flag or argument that names a bucket path
  (gs://...) where the command reads or writes with local file APIs."""
  for name, values in named.items():
    for value in [values] if isinstance(values, str) else values or ():
      if value and "://" in value:
        raise UsageError(f"{name}={value}: a bucket path, but this command reads and writes it "
                         "on local disk; give a local path (gcloud storage cp copies to or "
                         "from a bucket)")


# What each optional extra of pyproject.toml brings, by the modules a command imports.
EXTRAS = {"train": ("tensorflow", "tensorflow_datasets", "sklearn", "ml_collections",
                    "tensorboard"),
          "export": ("jax2onnx", "onnxruntime"),
          "explain": ("matplotlib",),
          "wfdb": ("wfdb",)}


def missing_extra(extra: str, alternative: str = "") -> str | None:
  """One line naming the pip extra to install when any of its modules is missing, else
  None. `alternative`: what the user may do instead (another flag)."""
  missing = [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]
  if not missing:
    return None
  return (f"this needs the `{extra}` extra ({', '.join(missing)} not installed): "
          f"pip install 'ecgjax[{extra}]' (in a checkout: pip install -e '.[{extra}]')"
          + (f"; or {alternative}" if alternative else ""))


def require_extra(program: str, extra: str) -> None:
  """Ends the command with missing_extra's line and exit code 2, before any work."""
  message = missing_extra(extra)
  if message:
    fail(program, message, EXIT_USAGE)


def fail(program: str, message: str, code: int = EXIT_FAILED):
  """Ends the command with one line on stderr, `PROGRAM: MESSAGE`, and `code`."""
  print(f"{program}: {message}", file=sys.stderr, flush=True)
  sys.exit(code)


def closest(name: str, choices) -> str:
  """' (did you mean X?)' when one of `choices` is close to `name`, else ''."""
  match = difflib.get_close_matches(name, list(choices), n=1)
  return f" (did you mean {match[0]}?)" if match else ""


def print_and_exit(text: str) -> None:
  """Prints `text` and exits 0, also when the reader stops early (`--help | head`)."""
  try:
    print(text, flush=True)
  except BrokenPipeError:
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
  sys.exit(0)


def run_app(main, *, program: str, help_text: str, required=(), check_argv=None,
            explain_parse_error=None) -> None:
  """absl's app.run, with what a user expects of a command: `--help` prints `help_text`
  and exits 0 (`--helpfull` adds every flag), at once and without importing JAX or
  TensorFlow; a flag error, a missing required flag or an app.UsageError is one line
  and exit code 2. `check_argv(argv)` may refuse the command line before it is parsed
  (a message, or None), and `explain_parse_error(error)` turn an exception raised
  while parsing into one (or None: raised as it is)."""
  collector.no_collection_at_exit()
  args = sys.argv[1:]
  if "--helpfull" in args:
    print_and_exit(f"{help_text}\n\n{flags.FLAGS.get_help()}")
  if any(a in HELP_FLAGS for a in args):
    print_and_exit(help_text)

  def interrupted():
    # Ctrl-C before a command installs its own handling (while the config file, then
    # TensorFlow and JAX load), or in a command that has none (predict, export):
    # nothing to save.
    fail(program, "interrupted (Ctrl-C) before anything was saved; run the same "
         "command again", EXIT_INTERRUPTED)

  def parse(argv):
    try:
      return parse_flags(argv)
    except KeyboardInterrupt:      # app.run calls the parser outside `guarded`
      interrupted()

  def parse_flags(argv):
    message = check_argv(argv) if check_argv else None
    if message:
      fail(program, message, EXIT_USAGE)
    try:
      rest = flags.FLAGS(argv)
    except Exception as e:  # noqa: BLE001 - explained below, or raised again
      message = explain_parse_error(e) if explain_parse_error else None
      if message is None and isinstance(e, flags.Error):
        message = f"{e} (--help lists the flags)"
      if not message:
        raise
      fail(program, message, EXIT_USAGE)
    missing = [name for name in required if flags.FLAGS[name].value in (None, "")]
    if missing:
      fail(program, f"--{missing[0]} is required (--help shows an example)", EXIT_USAGE)
    return rest

  def guarded(argv):
    try:
      return main(argv)
    except (app.UsageError, UsageError) as e:
      fail(program, str(e), EXIT_USAGE)
    except KeyboardInterrupt:
      interrupted()

  app.run(guarded, flags_parser=parse)


class LibraryInfoFilter(pylogging.Filter):
  """Keeps ecgjax's INFO lines; drops the per-save INFO chatter of orbax and TFDS, JAX's
  note that there is no TPU, and orbax's warnings that a checkpoint opened read-only
  on purpose is read-only."""

  NOISY = ("/orbax/", "/tensorflow_datasets/", "/etils/", "/jax/_src/xla_bridge.py",
           "/jax2onnx/", "/onnx_ir/")
  EXPECTED_WARNINGS = ("Given directory is read only", "CheckpointManagerOptions.read_only=True",
                       # TFDS's own deprecation, raised inside TFDS by its decoders.
                       "`FeatureConnector.dtype` is deprecated",
                       # jax2onnx, once per BatchNorm: ResNet1D picks BatchNorm's mode per
                       # call, and the export calls it in inference mode, which the
                       # converter then uses; export checks the ONNX outputs against
                       # the model (serving_export.check).
                       "BatchNorm exported with use_running_average=False")

  def filter(self, record):
    from_library = any(p in record.pathname for p in self.NOISY)
    if from_library and record.levelno == pylogging.WARNING:
      return not str(record.msg).startswith(self.EXPECTED_WARNINGS)
    return record.levelno > pylogging.INFO or not from_library


def quiet_libraries() -> None:
  """Installs the filter on the console, unless absl's `--verbosity=1` (or `-v 1`) asks
  for everything (TensorFlow's C++ start-up lines also need TF_CPP_MIN_LOG_LEVEL=0).

  On absl's handler only, which prints every record: those of absl's logger (ecgjax,
  orbax) and those libraries log through Python's own loggers (JAX). The log file
  (`log_to_file`) keeps them all."""
  if logging.get_verbosity() >= 1:
    return
  logging.get_absl_handler().addFilter(LibraryInfoFilter())


LOG_FILE = "ecgjax.log"


def log_to_file(workdir: str) -> str | None:
  """Appends every log line of this process, libraries' included, to WORKDIR/ecgjax.log
  (ecgjax.log.N for process N > 0 of a multi-process run); the console shows only
  ecgjax's. Not on an object store (gs://), where a file cannot be appended to."""
  if "://" in workdir:
    return None
  import jax      # imported by then: the log file waits for the distributed start
  name = LOG_FILE if jax.process_index() == 0 else f"{LOG_FILE}.{jax.process_index()}"
  os.makedirs(workdir, exist_ok=True)      # process 0 makes it when it takes the lock
  path = os.path.join(workdir, name)
  handler = pylogging.FileHandler(path, encoding="utf-8")
  handler.setFormatter(pylogging.Formatter(
      "%(asctime)s %(levelname)s %(filename)s:%(lineno)d] %(message)s"))
  pylogging.getLogger().addHandler(handler)
  return path
