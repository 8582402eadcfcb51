"""What every ecgjax command prints: its own INFO lines, not its libraries' chatter.

TensorFlow-free, so predict and export (which a serving host runs without TF)
share it with the training commands.
"""

import logging as pylogging
import os

# TensorFlow (tf.data only) prints start-up INFO lines unless told otherwise; this
# must be set before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

from absl import logging  # noqa: E402


class LibraryInfoFilter(pylogging.Filter):
  """Keeps ecgjax's INFO lines; drops the per-save INFO chatter of orbax and TFDS, JAX's
  note that there is no TPU, and orbax's warnings that a checkpoint opened read-only
  on purpose is read-only."""

  NOISY = ("/orbax/", "/tensorflow_datasets/", "/etils/", "/jax/_src/xla_bridge.py")
  EXPECTED_WARNINGS = ("Given directory is read only", "CheckpointManagerOptions.read_only=True",
                       # TFDS's own deprecation, raised inside TFDS by its decoders.
                       "`FeatureConnector.dtype` is deprecated")

  def filter(self, record):
    from_library = any(p in record.pathname for p in self.NOISY)
    if from_library and record.levelno == pylogging.WARNING:
      return not str(record.msg).startswith(self.EXPECTED_WARNINGS)
    return record.levelno > pylogging.INFO or not from_library


def quiet_libraries() -> None:
  """Installs the filter, unless absl's `--verbosity=1` (or `-v 1`) asks for everything
  (TensorFlow's C++ start-up lines also need TF_CPP_MIN_LOG_LEVEL=0)."""
  if logging.get_verbosity() >= 1:
    return
  # On absl's logger (orbax logs through absl) and on its handler, which prints what
  # libraries log through Python's own loggers (JAX).
  logging.get_absl_logger().addFilter(LibraryInfoFilter())
  logging.get_absl_handler().addFilter(LibraryInfoFilter())
