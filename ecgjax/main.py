"""`python -m ecgjax.main --config=ecgjax/configs/NAME.py --workdir=DIR`.

The same command on every worker of a multi-host run. The config's
`experiment` field chooses what runs (ecgjax/experiments/).
"""

from ecgjax import cli


def dispatch(config, workdir: str) -> None:
  # Imported here, after cli has imported TensorFlow quietly.
  from ecgjax.experiments import (checkpoint_evaluation, demo, fine_tuning, outputs,
                                  pretraining, self_supervised, sweep, validation)
  from ecgjax.training import interrupt
  experiments = {"pretrain": pretraining.train_and_evaluate,
                 "finetune": fine_tuning.train_and_evaluate,
                 "compare": sweep.compare_and_report,
                 "evaluate": checkpoint_evaluation.evaluate_checkpoint,
                 "demo": demo.run_demo,
                 "self_supervised": self_supervised.train_and_evaluate}
  if config.experiment not in experiments:
    raise validation.ConfigError(f"config.experiment={config.experiment!r}: expected one of "
                                 f"{sorted(experiments)}")
  experiments[config.experiment](config, workdir)
  if config.experiment in outputs.BY_EXPERIMENT:
    with interrupt.during("exiting"):        # the run is over: a signal now ends nothing
      outputs.BY_EXPERIMENT[config.experiment](workdir)


if __name__ == "__main__":
  cli.run(dispatch, __doc__)
