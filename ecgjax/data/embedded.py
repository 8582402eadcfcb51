"""Builds the embedded synthetic dataset on demand (the demo's first step).

The one place in ecgjax that imports tfds_builders: a newcomer's first command
must work without a separate `tfds build`.
"""

from absl import logging

from ecgjax.data import datasets
from ecgjax.synthetic import version

SYNTHETIC = "synthetic_ecg"


def code_version(name: str) -> str | None:
  """The version this code's generator makes `name` at; None for a dataset that is not
  synthetic_ecg. A run reads the synthetic data at this version, never a newer one left
  on disk by newer code (which would train an old checkout on data it cannot make)."""
  if datasets.split_name(name)[0] != SYNTHETIC:
    return None
  return version.VERSION


def ensure_built(name: str, data_dir: str) -> None:
  """Builds `name` if it is a synthetic_ecg config not on disk at the code's version.

  A dataset left by an older generator is rebuilt beside it (TFDS keeps one
  directory per version), so a demo never trains on data its code no longer makes.
  """
  version = code_version(name)
  if version is None or datasets.is_built(name, data_dir, version):
    return
  from tfds_builders.synthetic_ecg import synthetic_ecg_dataset_builder as synthetic
  builder = synthetic.Builder(config=datasets.split_name(name)[1], data_dir=data_dir)
  logging.info("Building %s %s into %s.", name, builder.version, data_dir)
  builder.download_and_prepare()
