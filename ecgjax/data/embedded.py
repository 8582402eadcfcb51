"""Builds the embedded synthetic dataset on demand (the demo's first step).

The one place in ecgjax that imports tfds_builders: a newcomer's first command
must work without a separate `tfds build`.
"""

from absl import logging

from ecgjax.data import datasets

SYNTHETIC = "synthetic_ecg"


def ensure_built(name: str, data_dir: str) -> None:
  """Builds `name` if it is a synthetic_ecg config that is not yet on disk."""
  builder_name, config = datasets.split_name(name)
  if builder_name != SYNTHETIC or datasets.is_built(name, data_dir):
    return
  from tfds_builders.synthetic_ecg import synthetic_ecg_dataset_builder as synthetic
  logging.info("Building %s into %s (first run only).", name, data_dir)
  synthetic.Builder(config=config, data_dir=data_dir).download_and_prepare()
