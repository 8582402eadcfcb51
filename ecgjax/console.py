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
  """Keeps ecgjax's INFO lines; drops the per-save INFO chatter of orbax and TFDS."""

  NOISY = ("/orbax/", "/tensorflow_datasets/", "/etils/")

  def filter(self, record):
    return record.levelno > pylogging.INFO or not any(p in record.pathname for p in self.NOISY)


def quiet_libraries() -> None:
  logging.get_absl_logger().addFilter(LibraryInfoFilter())
