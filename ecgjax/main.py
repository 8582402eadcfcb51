"""`python -m ecgjax.main --config=ecgjax/configs/NAME.py --workdir=DIR`.

The same command on every worker of a multi-host run. Flags, distributed
start, dispatch; everything else is in train_and_evaluate.
"""

import logging as pylogging
import os
import sys

# TensorFlow (tf.data only) prints start-up INFO lines unless told otherwise; this
# must be set before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

from absl import app, flags, logging
from ml_collections import config_flags

from ecgjax import config_validation
from ecgjax.data import datasets
from ecgjax.training import mesh

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints and metrics.")
flags.mark_flags_as_required(["config", "workdir"])

# Errors a user can fix from the message alone: printed without a traceback.
USER_ERRORS = (config_validation.ConfigError, datasets.DatasetNotBuiltError,
               datasets.UnknownLabelError)


class _LibraryInfoFilter(pylogging.Filter):
  """Keeps ecgjax's INFO lines; drops the per-save INFO chatter of orbax and TFDS."""

  NOISY = ("/orbax/", "/tensorflow_datasets/", "/etils/")

  def filter(self, record):
    return record.levelno > pylogging.INFO or not any(p in record.pathname for p in self.NOISY)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.get_absl_logger().addFilter(_LibraryInfoFilter())
  mesh.initialize_distributed()
  config = _CONFIG.value
  from ecgjax import pretrain
  try:
    pretrain.train_and_evaluate(config, _WORKDIR.value)
  except USER_ERRORS as e:
    logging.error("%s", e)
    sys.exit(f"ecgjax: {e}")


if __name__ == "__main__":
  app.run(main)
