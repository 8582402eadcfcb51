"""`python -m ecgjax.finetune --config=ecgjax/configs/finetune.py --workdir=DIR
--config.init_from=PRETRAIN_DIR --config.mode=MODE`: one fine-tuning run.

`finetune_and_evaluate(config, workdir)` wires the tf.data input to the
TensorFlow-free fine-tuning loop (ecgjax.training.finetune).
"""

import os

from absl import logging

from ecgjax import cli, config_validation
from ecgjax.pretrain import make_input, write_config
from ecgjax.training import finetune


def finetune_and_evaluate(config, workdir: str) -> dict:
  config_validation.validate_finetune(config)
  source = make_input(config)
  source.restrict_training_set(config.train_size, config.min_positives, config.seed)
  logging.info("fine-tuning %s on %d training ECGs, labels %s", config.mode,
               source.train_examples, ", ".join(source.label_names))
  write_config(config, workdir)
  return finetune.run(config, os.path.abspath(workdir), source)


if __name__ == "__main__":
  __doc__ = f"{__doc__}\n{cli.config_catalogue()}\n"    # absl's --help prints it
  cli.run(lambda config, workdir: finetune_and_evaluate(config, workdir))
