"""The demo: pretrain, then the comparison sweep on the pretrained backbone."""

import os

import jax

from ecgjax import samples, storage
from ecgjax.experiments import outputs, pretraining, sweep, validation
from ecgjax.sim_to_real import sample_sets, zero_shot


def run_demo(config, workdir: str) -> dict:
  pretrain_dir = os.path.join(workdir, "pretrain")
  sweep_config = config.compare.copy_and_resolve_references()
  sweep_config.init_from = pretrain_dir
  sweep_config.dataset.data_dir = config.pretrain.dataset.data_dir
  validate(config, sweep_config)     # both stages, before either runs
  pretraining.train_and_evaluate(config.pretrain, pretrain_dir)
  summary = sweep.compare_and_report(sweep_config, workdir)   # prints the sweep's table
  if jax.process_index() == 0:
    zero_shot_on_real_ecgs(config.get("real_data", ""), pretrain_dir, workdir)
    outputs.print_pretraining(pretrain_dir)
  return summary


def validate(config, sweep_config, device_count: int | None = None) -> None:
  """The demo's own fields, then its two stages: the pretraining config and the sweep
  run after it."""
  validation.check_demo_fields(config)
  real_data = config.get("real_data", "")
  if real_data not in ("", "auto"):
    folders = sample_sets.sample_folders()
    if not os.path.isdir(os.path.expanduser(real_data)):
      raise validation.ConfigError(f"config.real_data={real_data!r}: no such directory (it "
                                   f"should hold any of {', '.join(folders)}/)")
    if not sample_sets.present_sets(os.path.expanduser(real_data)):
      raise validation.ConfigError(f"config.real_data={real_data!r} holds none of "
                                   f"{', '.join(f + '/' for f in folders)}")
  validation.validate_pretrain(config.pretrain, device_count)
  validation.validate_compare(sweep_config, sweep.run_configs, device_count)


def real_data_dir(real_data: str) -> str:
  """The config's real_data as a directory; "auto": the samples shipped in the package
  (ecgjax.samples); "": none."""
  if real_data == "auto":
    return samples.root()
  return os.path.expanduser(real_data)


def zero_shot_on_real_ecgs(real_data: str, pretrain_dir: str, workdir: str) -> None:
  """The report's last section: the pretrained model on real ECGs, with no training
  (ecgjax.sim_to_real), kept in DIR/sim_to_real.json so a rerun does not score it again."""
  directory = real_data_dir(real_data)
  if not directory:
    section = ["## Zero-shot on real ECGs", "",
               "No real ECGs were given. `--config.real_data=DIR` scores the pretrained model "
               "on the real archives there (ptbxl/, cinc2020/ as PhysioNet gives them), "
               "zero-shot.", ""]
  else:
    path = storage.join(workdir, "sim_to_real.json")
    result = storage.read_json(path)
    if result is None:
      result = zero_shot.score(pretrain_dir, directory, storage.join(workdir, "real_ecgs"))
      storage.write_json(path, result, indent=1)
    section = zero_shot.report_lines(result)
    print("\n".join(["", *section]), flush=True)
  # The sweep wrote report.md whole; the section is added by rewriting it whole, so a
  # rerun (or a bucket, which cannot append) gives the same file.
  report = storage.join(workdir, "report.md")
  text = storage.path(report).read_text(encoding="utf-8")
  marker = "\n" + section[0] + "\n"
  text = text.split(marker, 1)[0]
  storage.write_text(report, text + "\n" + "\n".join(section))
