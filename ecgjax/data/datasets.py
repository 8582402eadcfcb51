"""Finding a built TFDS dataset on disk and choosing its labels.

Datasets are read with `tfds.builder_from_directory`, from their own
dataset_info.json and features.json, so training needs no builder code.
"""

import os

import tensorflow_datasets as tfds
from etils import epath

from ecgjax.ecg import leads


class DatasetNotBuiltError(FileNotFoundError):
  pass


class UnknownLabelError(ValueError):
  pass


NO_LABELS = "none"


def split_name(name: str) -> tuple[str, str | None]:
  """'synthetic_ecg/tiny' -> ('synthetic_ecg', 'tiny'); 'ptbxl' -> ('ptbxl', None)."""
  builder, _, config = name.partition("/")
  return builder, (config or None)


# Builders that make their records; every other reads an archive from --manual_dir.
GENERATED_BUILDERS = frozenset({"synthetic_ecg"})


def build_command(name: str, data_dir: str) -> str:
  """The whole `tfds build` line for `name`: with `--manual_dir=RAW` where the builder
  reads an archive (a build without it ends in a TFDS traceback), and what RAW is."""
  builder, config = split_name(name)
  command = f"tfds build tfds_builders/{builder}"
  if builder not in GENERATED_BUILDERS:
    command += " --manual_dir=RAW"
  command += f" --data_dir={data_dir}" + (f" --config={config}" if config else "")
  if builder not in GENERATED_BUILDERS:
    command += (f"\n  (RAW: the folder holding the {builder} archive as its publisher "
                "distributes it; docs/datasets.md says what it must hold)")
  return command


def _version_key(version: str) -> tuple:
  return tuple(int(p) if p.isdigit() else -1 for p in version.split("."))


def dataset_dir(name: str, data_dir: str, version: str | None = None) -> str:
  """The complete version directory of `name` under `data_dir`: `version`'s, or the
  newest on disk when no version is asked for."""
  builder, config = split_name(name)
  # A local directory or a bucket (gs://...), which TFDS reads as well.
  root = epath.Path(os.path.expanduser(data_dir), builder, *([config] if config else []))
  versions = []
  if root.is_dir():
    versions = [v.name for v in root.iterdir() if (v / "dataset_info.json").is_file()]
  if not versions:
    raise DatasetNotBuiltError(
        f"dataset {name!r} is not built under {data_dir} (looked in {root}). "
        f"Build it with:\n  {build_command(name, data_dir)}")
  if version is None:
    return os.fspath(root / max(versions, key=_version_key))
  if version not in versions:
    raise DatasetNotBuiltError(
        f"dataset {name!r} is built under {data_dir} at version(s) "
        f"{', '.join(sorted(versions, key=_version_key))}, not at {version}, the version "
        f"this code reads. Build it with:\n  {build_command(name, data_dir)}")
  return os.fspath(root / version)


def is_built(name: str, data_dir: str, version: str | None = None) -> bool:
  try:
    dataset_dir(name, data_dir, version)
    return True
  except DatasetNotBuiltError:
    return False


def load_builder(name: str, data_dir: str,
                 version: str | None = None) -> tfds.core.DatasetBuilder:
  return tfds.builder_from_directory(dataset_dir(name, data_dir, version))


def resolve_labels(info: tfds.core.DatasetInfo, labels: str) -> tuple[list[str], list[int]]:
  """`labels` is 'all', a label group of the dataset ('pretrain') or comma-separated names;
  'none' reads no label (self-supervised pretraining, which must not).

  Returns the chosen names and their indices in the dataset's `labels` feature.
  """
  if labels == NO_LABELS:
    return [], []
  metadata = info.metadata or {}
  all_names = list(metadata.get("label_names", []))
  groups = dict(metadata.get("label_groups", {}))
  if labels == "all":
    chosen = list(all_names)
  elif labels in groups:
    chosen = list(groups[labels])
  else:
    chosen = [n.strip() for n in labels.split(",") if n.strip()]
  missing = [n for n in chosen if n not in all_names]
  if missing or not chosen:
    raise UnknownLabelError(
        f"labels={labels!r}: {missing or 'nothing chosen'} not in dataset {info.full_name}. "
        f"Label groups: {sorted(groups)}; labels: {', '.join(all_names)}")
  return chosen, [all_names.index(n) for n in chosen]


def display_name(info: tfds.core.DatasetInfo) -> str:
  return f"{info.name}/{info.config_name}" if info.config_name else info.name


def annotated_labels(info: tfds.core.DatasetInfo) -> list[str]:
  """The labels the dataset's source annotates; all of them for a dataset built
  before builders recorded it."""
  metadata = info.metadata or {}
  return list(metadata.get("annotated_labels") or metadata.get("label_names", []))


def stored_leads(info: tfds.core.DatasetInfo) -> list[str]:
  """The signal's columns (the 12 standard leads in every ecgjax dataset)."""
  return list((info.metadata or {}).get("lead_names") or leads.STANDARD_LEADS)


def recorded_leads(info: tfds.core.DatasetInfo) -> list[str]:
  """The columns holding data; a one-lead archive stores the others as zeros."""
  return list((info.metadata or {}).get("recorded_leads") or stored_leads(info))


def split_size(info: tfds.core.DatasetInfo, split: str) -> int:
  return info.splits[split].num_examples
