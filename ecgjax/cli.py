"""What every ecgjax command shares: flags, quiet library logs, distributed start,
and user errors printed as one line instead of a traceback."""

import sys

from ecgjax import console  # first: it sets TF's log level before TF is imported
from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from ecgjax import config_validation  # noqa: E402
from ecgjax.data import datasets  # noqa: E402
from ecgjax.training import (checkpoints, finetune, interrupt, mesh, nonfinite,  # noqa: E402
                             transfer, workdir_lock)

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints and metrics.")
flags.mark_flags_as_required(["config", "workdir"])

# Errors a user can fix from the message alone.
USER_ERRORS = (config_validation.ConfigError, datasets.DatasetNotBuiltError,
               datasets.UnknownLabelError, checkpoints.InitFromError,
               transfer.ArchitectureMismatchError, finetune.InputContractError,
               nonfinite.NonFiniteError, workdir_lock.WorkdirLockedError)


def run(dispatch) -> None:
  """Parses flags and calls dispatch(config, workdir) under app.run."""

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {argv[1:]}")
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
