"""The real sample archives a folder holds, each built at a model's sampling rate.

A folder (`real_data`) holds archives as PhysioNet distributes them, each in its
own folder:
- `ptbxl/`: PTB-XL (ptbxl_database.csv, scp_statements.csv, records100/500) ->
  `ptbxl/vocabulary_RATE`;
- `cinc2020/`: CPSC 2018 as the PhysioNet 2020 Challenge gives it (A*.hea/.mat) ->
  `physionet2021/cpsc2018_RATE`, which annotates CPSC's nine classes only;
- `cinc2017/`: the CinC 2017 AliveCor recordings (REFERENCE.csv, A*.hea/.mat) ->
  `physionet2017/vocabulary_RATE`, every 10-s window scored per recording, for a
  model that reads lead I only (a 12-lead model's score there would be of leads it
  never sees);
- `cinc2017/` with `cinc2017_train/` (a large set): the 5,000 CinC 2017 recordings
  together, hundreds of AF positives where the 200 have 19: a set whose CIs can
  separate two pretrainings.
- `ptbxl_train/` (a large set): PTB-XL as `ptbxl/` is laid out, with thousands of
  records (all ten folds) -> `ptbxl/vocabulary_RATE`: the twelve-lead set whose CIs can
  separate two pretrainings, where the 40 samples give CIs 0.3-0.5 wide per label.
`ecgjax.samples.root()` holds the first three, small, inside the package.
"""

import importlib
import os
import shutil

import tensorflow_datasets as tfds

from ecgjax.data import datasets

SETS = {   # name: (builder module, config template, folders under real_data, lead I model)
    "ptbxl": ("ptbxl", "vocabulary_{rate}", ("ptbxl",), False),
    "cpsc2018": ("physionet2021", "cpsc2018_{rate}", ("cinc2020",), False),
    "cinc2017": ("physionet2017", "vocabulary_{rate}", ("cinc2017",), True),
    "cinc2017_5000": ("physionet2017", "vocabulary_{rate}", ("cinc2017", "cinc2017_train"),
                      True),
    "ptbxl_2055": ("ptbxl", "vocabulary_{rate}", ("ptbxl_train",), False),
}
# Scored only when asked (large_sets): minutes to build and score, not seconds.
LARGE_SETS = frozenset({"cinc2017_5000", "ptbxl_2055"})


def present_sets(real_data: str, large_sets: bool = False) -> list[str]:
  """The SETS whose folders all exist under `real_data` (LARGE_SETS only if asked)."""
  return [name for name, (_, _, folders, _) in SETS.items()
          if (large_sets or name not in LARGE_SETS)
          and all(os.path.isdir(os.path.join(real_data, f)) for f in folders)]


def sample_folders() -> list[str]:
  """The folders a `real_data` directory may hold for the sample (not large) sets."""
  return list(dict.fromkeys(folder for name, (_, _, folders, _) in SETS.items()
                            if name not in LARGE_SETS for folder in folders))


def merged_cinc2017(raws: list[str], manual_dir: str) -> str:
  """CinC 2017 folders as one --manual_dir: every record linked into `manual_dir`,
  their REFERENCE.csv rows concatenated (the builder reads one)."""
  os.makedirs(manual_dir, exist_ok=True)
  rows = []
  for raw in raws:
    for name in sorted(os.listdir(raw)):
      if name == "REFERENCE.csv":
        with open(os.path.join(raw, name), encoding="utf-8") as f:
          rows += [row if row.endswith("\n") else row + "\n" for row in f if row.strip()]
      elif name.endswith((".hea", ".mat")):
        link = os.path.join(manual_dir, name)
        if not os.path.lexists(link):
          os.symlink(os.path.abspath(os.path.join(raw, name)), link)
  with open(os.path.join(manual_dir, "REFERENCE.csv"), "w", encoding="utf-8") as f:
    f.writelines(rows)
  return manual_dir


def manual_dir_for(module: str, raws: list[str], data_dir: str) -> str:
  """The --manual_dir a builder reads `raws` from: the physionet2021 builder reads the
  Challenge's per-source folders, so the CPSC samples are copied into a `cpsc_2018`
  folder under `data_dir`; several CinC 2017 folders are merged into one."""
  if module == "physionet2021":
    manual_dir = os.path.join(data_dir, "raw_physionet2021")
    for raw in raws:
      shutil.copytree(raw, os.path.join(manual_dir, "cpsc_2018"), dirs_exist_ok=True)
    return manual_dir
  if len(raws) == 1:
    return raws[0]
  if module != "physionet2017":
    raise ValueError(f"{module}: merging several folders is only done for CinC 2017")
  return merged_cinc2017(raws, os.path.join(data_dir, "raw_" + "+".join(
      os.path.basename(os.path.normpath(r)) for r in raws)))


def build(module: str, config: str, raws: list[str], data_dir: str
          ) -> tuple[str, list[str], str]:
  """Builds one sample set from the folders `raws` into `data_dir`; returns its dataset
  name, the labels it annotates and the builder's version (which fixes what each label
  means there)."""
  # By name: ecgjax imports tfds_builders only to build the embedded default dataset.
  builder_module = importlib.import_module(f"tfds_builders.{module}.{module}_dataset_builder")
  builder = builder_module.Builder(config=config, data_dir=data_dir)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=manual_dir_for(module, raws, data_dir)))
  return (f"{module}/{config}", datasets.annotated_labels(builder.info),
          str(builder.info.version))
