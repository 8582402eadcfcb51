"""`python -m ecgjax.finetune --config=ecgjax/configs/finetune.py --workdir=DIR
--config.init_from=PRETRAIN_DIR --config.mode=MODE`: one fine-tuning run.

MODE is `scratch`, `linear_probe` or `full`; the run itself is
ecgjax.experiments.fine_tuning.train_and_evaluate.
"""

from ecgjax import cli

if __name__ == "__main__":
  from ecgjax.experiments import fine_tuning
  __doc__ = f"{__doc__}\n{cli.config_catalogue()}\n"    # absl's --help prints it
  cli.run(fine_tuning.train_and_evaluate)
