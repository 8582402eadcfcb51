"""The suite's tiny pretraining config as a --config file, for command-line tests:
`--config=tests/configs/tiny_pretrain.py:DATA_DIR` (synthetic_ecg/tiny built there)."""

from tests.helpers import tiny_pretrain_config


def get_config(data_dir: str):
  return tiny_pretrain_config(data_dir)
