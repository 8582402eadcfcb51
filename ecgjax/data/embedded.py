"""Builds the embedded synthetic dataset on demand (the demo's first step).

The one place in ecgjax that imports tfds_builders: a newcomer's first command
must work without a separate `tfds build`.
"""

import os

from absl import logging

from ecgjax.data import datasets

SYNTHETIC = "synthetic_ecg"


def ensure_built(name: str, data_dir: str) -> None:
  """Builds `name` if it is a synthetic_ecg config not on disk at the builder's version.

  A dataset left by an older generator is rebuilt beside it (TFDS keeps one
  directory per version), so a demo never trains on data its code no longer makes.
  """
  builder_name, config = datasets.split_name(name)
  if builder_name != SYNTHETIC:
    return
  from tfds_builders.synthetic_ecg import synthetic_ecg_dataset_builder as synthetic
  builder = synthetic.Builder(config=config, data_dir=data_dir)
  if datasets.is_built(name, data_dir) and os.path.basename(
      datasets.dataset_dir(name, data_dir)) == str(builder.version):
    return
  logging.info("Building %s %s into %s.", name, builder.version, data_dir)
  builder.download_and_prepare()
