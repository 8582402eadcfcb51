"""The suite's tiny sweep config as a --config file, for command-line tests:
`--config=tests/configs/tiny_compare.py:DATA_DIR,INIT_FROM`."""

from tests.helpers import tiny_compare_config


def get_config(arguments: str):
  data_dir, init_from = arguments.split(",")
  return tiny_compare_config(data_dir, init_from)
