"""What a user sees: library chatter filtered, ETA on step lines, --help and --print_config."""

import logging
import json
import os
import subprocess
import sys


from ecgjax import console
from ecgjax.training import progress
from tests.helpers import REPO, xla_flags


def record(pathname, level, msg):
  return logging.LogRecord("absl", level, pathname, 1, msg, None, None)


def test_library_info_and_expected_warnings_are_dropped_ecgjax_lines_kept():
  keep = console.LibraryInfoFilter().filter
  assert keep(record("/x/ecgjax/training/loop.py", logging.INFO, "step 2: loss 0.69"))
  assert not keep(record("/x/orbax/checkpoint/manager.py", logging.INFO, "Saving step 4"))
  assert not keep(record("/x/jax/_src/xla_bridge.py", logging.INFO,
                         "Unable to initialize backend 'tpu'"))
  assert not keep(record("/x/tensorflow_datasets/core/features/feature.py", logging.WARNING,
                         "`FeatureConnector.dtype` is deprecated. Please change"))
  assert not keep(record("/x/orbax/checkpoint/x.py", logging.WARNING,
                         "Given directory is read only"))
  # A library warning nobody expected still shows.
  assert keep(record("/x/orbax/checkpoint/x.py", logging.WARNING, "disk almost full"))


def test_eta_from_the_steps_so_far():
  p = progress.Progress(total_steps=100, start_step=20)
  p.began -= 30                       # 30 s for the 10 steps 21-30
  assert p.text(30) == "elapsed 30s, ETA 3m30s"
  assert progress.format_duration(3 * 3600 + 125) == "3h02m"


def test_print_config_shows_overrides():
  """(--help: tests/test_command_line.py.)"""
  env = {**os.environ, "XLA_FLAGS": xla_flags()}
  printed = subprocess.run(
      [sys.executable, "-m", "ecgjax.main", "--config=ecgjax/configs/pretrain.py",
       "--config.batch_size=128", "--print_config"], cwd=REPO, env=env, capture_output=True,
      text=True, timeout=300)
  assert printed.returncode == 0, printed.stderr
  assert "batch_size: 128" in printed.stdout and "nonfinite: stop" in printed.stdout


def test_a_finished_run_names_its_outputs_with_figures_rounded(tmp_path, capsys):
  from ecgjax.experiments import outputs
  workdir = str(tmp_path)
  outputs.print_pretraining(workdir)              # no results.json: no test split scored
  printed = capsys.readouterr().out
  assert f"pretrained model: {workdir}" in printed and "no test split was scored" in printed
  results = {"split": "test", "medians": {
      "auroc": {"value": 0.9298245614035088, "labels_covered": 38, "labels_total": 39},
      "sensitivity": {"value": 0.91234}, "specificity": {"value": None}}}
  with open(os.path.join(workdir, "results.json"), "w") as f:
    json.dump(results, f)
  outputs.print_fine_tuning(workdir)
  printed = capsys.readouterr().out
  assert ("test split, medians over 38/39 labels: auroc 0.930, sensitivity 0.912, "
          "specificity n/a") in printed
  assert f"model card:  {os.path.join(workdir, 'model_card.md')}" in printed
  assert f"python -m ecgjax.predict --model={workdir}" in printed


def test_a_card_written_before_any_evaluation_says_so_plainly():
  from ecgjax.models import card_markdown, model_card
  from ecgjax.ecg import leads
  contract = model_card.input_contract(
      {"sampling_rate": 100.0, "lead_names": list(leads.STANDARD_LEADS)}, (1000, 12))
  card = model_card.build(task="pretrain", label_names=["sinus_rhythm"],
                          data={"dataset": {"name": "synthetic_ecg/tiny", "version": "1.4.0"},
                                "input": contract},
                          model={"architecture": "ResNet1D", "config": {}, "parameters": 10,
                                 "in_leads": 12}, steps=4)
  text = card_markdown.markdown(card)
  assert "**Not evaluated yet.**" in text and "no label has a threshold" in text
  assert "`None`" not in text
