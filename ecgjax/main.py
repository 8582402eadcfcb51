"""`python -m ecgjax.main --config=ecgjax/configs/NAME.py --workdir=DIR`.

The same command on every worker of a multi-host run. The config's
`experiment` field chooses what runs.
"""

from ecgjax import cli

# absl prints the main module's docstring for --help: add the config files to it.
__doc__ = f"{__doc__}\n{cli.config_catalogue()}\n"


def dispatch(config, workdir: str) -> None:
  from ecgjax import compare, demo, evaluate, finetune, pretrain
  experiments = {"pretrain": pretrain.train_and_evaluate,
                 "finetune": finetune.finetune_and_evaluate,
                 "compare": compare.compare_and_report,
                 "evaluate": evaluate.evaluate_checkpoint,
                 "demo": demo.run_demo}
  if config.experiment not in experiments:
    from ecgjax.config_validation import ConfigError
    raise ConfigError(f"config.experiment={config.experiment!r}: expected one of "
                      f"{sorted(experiments)}")
  experiments[config.experiment](config, workdir)


if __name__ == "__main__":
  cli.run(dispatch)
