"""The demo: pretrain, then the comparison sweep on the pretrained backbone."""

import json
import os

import jax

from ecgjax import compare, config_validation, pretrain, sim_to_real


def run_demo(config, workdir: str) -> dict:
  pretrain_dir = os.path.join(workdir, "pretrain")
  sweep = config.compare.copy_and_resolve_references()
  sweep.init_from = pretrain_dir
  sweep.dataset.data_dir = config.pretrain.dataset.data_dir
  config_validation.validate_demo(config, sweep)     # both stages, before either runs
  pretrain.train_and_evaluate(config.pretrain, pretrain_dir)
  summary = compare.compare_and_report(sweep, workdir)   # prints the sweep's table
  if jax.process_index() == 0:
    zero_shot_on_real_ecgs(config.get("real_data", ""), pretrain_dir, workdir)
    print_pretraining(pretrain_dir)
  return summary


def real_data_dir(real_data: str) -> str:
  """The config's real_data as a directory; "auto": ../shared/data where it exists."""
  if real_data == "auto":
    return sim_to_real.SHARED_SAMPLES if os.path.isdir(sim_to_real.SHARED_SAMPLES) else ""
  return os.path.expanduser(real_data)


def zero_shot_on_real_ecgs(real_data: str, pretrain_dir: str, workdir: str) -> None:
  """The report's last section: the pretrained model on real ECGs, with no training
  (sim_to_real.py), kept in DIR/sim_to_real.json so a rerun does not score it again."""
  directory = real_data_dir(real_data)
  if not directory:
    section = ["## Zero-shot on real ECGs", "",
               "No real ECGs were given. `--config.real_data=DIR` scores the pretrained model "
               "on the real archives there (ptbxl/, cinc2020/ as PhysioNet gives them), "
               "zero-shot.", ""]
  else:
    path = os.path.join(workdir, "sim_to_real.json")
    if not os.path.exists(path):
      result = sim_to_real.score(pretrain_dir, directory, os.path.join(workdir, "real_ecgs"))
      with open(path + ".tmp", "w") as f:
        json.dump(result, f, indent=1)
      os.replace(path + ".tmp", path)
    with open(path) as f:
      result = json.load(f)
    section = sim_to_real.report_lines(result)
    print("\n".join(["", *section]), flush=True)
  with open(os.path.join(workdir, "report.md"), "a") as f:
    f.write("\n" + "\n".join(section))


def print_pretraining(pretrain_dir: str) -> None:
  with open(os.path.join(pretrain_dir, "results.json")) as f:
    medians = json.load(f)["medians"]
  figures = ", ".join(f"{name} {medians[name]['value']:.3f}"
                      for name in ("auroc", "sensitivity", "specificity"))
  covered = f"{medians['auroc']['labels_covered']}/{medians['auroc']['labels_total']}"
  print("\n".join([
      f"pretrained model: {pretrain_dir}",
      f"  test split, medians over {covered} labels: {figures} (per label, with 95% CIs: "
      "results.json)",
      f"  model card:  {os.path.join(pretrain_dir, 'model_card.md')}",
      f"  checkpoints: {os.path.join(pretrain_dir, 'checkpoints')}",
      f"  use it:      python -m ecgjax.predict --model={pretrain_dir} --out=predictions.csv "
      "ECG_FILES...", ""]), flush=True)
