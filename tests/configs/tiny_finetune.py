"""The suite's tiny fine-tuning config as a --config file, for command-line tests:
`--config=tests/configs/tiny_finetune.py:DATA_DIR,INIT_FROM` (synthetic_ecg/tiny built
in DATA_DIR, a pretraining workdir at INIT_FROM)."""

from tests.helpers import tiny_finetune_config


def get_config(arguments: str):
  data_dir, init_from = arguments.split(",")
  return tiny_finetune_config(data_dir, init_from)
