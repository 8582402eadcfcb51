"""`python -m ecgjax.finetune --config=ecgjax/configs/finetune.py --workdir=DIR
--config.init_from=PRETRAIN_DIR --config.mode=MODE`: one fine-tuning run.

MODE is `scratch`, `linear_probe` or `full`; the run itself is
ecgjax.experiments.fine_tuning.train_and_evaluate.
"""

from ecgjax import cli


def dispatch(config, workdir: str) -> None:
  # Imported here, after cli has imported TensorFlow quietly.
  from ecgjax.experiments import fine_tuning, outputs
  from ecgjax.training import interrupt
  fine_tuning.train_and_evaluate(config, workdir)
  with interrupt.during("exiting"):          # the run is over: a signal now ends nothing
    outputs.print_fine_tuning(workdir)


if __name__ == "__main__":
  cli.run(dispatch, __doc__)
