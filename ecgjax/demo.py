"""The demo: pretrain, then the comparison sweep on the pretrained backbone."""

import os

from ecgjax import compare, config_validation, pretrain


def run_demo(config, workdir: str) -> dict:
  pretrain_dir = os.path.join(workdir, "pretrain")
  sweep = config.compare.copy_and_resolve_references()
  sweep.init_from = pretrain_dir
  sweep.dataset.data_dir = config.pretrain.dataset.data_dir
  config_validation.validate_demo(config, sweep)     # both stages, before either runs
  pretrain.train_and_evaluate(config.pretrain, pretrain_dir)
  return compare.compare_and_report(sweep, workdir)
