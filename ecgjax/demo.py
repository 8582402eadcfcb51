"""The demo: pretrain, then the comparison sweep on the pretrained backbone."""

import json
import os

import jax

from ecgjax import compare, config_validation, pretrain


def run_demo(config, workdir: str) -> dict:
  pretrain_dir = os.path.join(workdir, "pretrain")
  sweep = config.compare.copy_and_resolve_references()
  sweep.init_from = pretrain_dir
  sweep.dataset.data_dir = config.pretrain.dataset.data_dir
  config_validation.validate_demo(config, sweep)     # both stages, before either runs
  pretrain.train_and_evaluate(config.pretrain, pretrain_dir)
  summary = compare.compare_and_report(sweep, workdir)   # prints the sweep's table
  if jax.process_index() == 0:
    print_pretraining(pretrain_dir)
  return summary


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
