"""What a user sees: library chatter filtered, ETA on step lines, --help and --print_config."""

import logging
import os
import subprocess
import sys

import pytest

from ecgjax import console
from ecgjax.training import progress
from tests.helpers import REPO


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
  assert p.text(30) == "step 30/100, elapsed 30s, ETA 3m30s"
  assert progress.format_duration(3 * 3600 + 125) == "3h02m"


def test_print_config_shows_overrides():
  """(--help: tests/test_command_line.py.)"""
  env = {**os.environ, "XLA_FLAGS": ""}
  printed = subprocess.run(
      [sys.executable, "-m", "ecgjax.main", "--config=ecgjax/configs/pretrain.py",
       "--config.batch_size=128", "--print_config"], cwd=REPO, env=env, capture_output=True,
      text=True, timeout=300)
  assert printed.returncode == 0, printed.stderr
  assert "batch_size: 128" in printed.stdout and "nonfinite: stop" in printed.stdout
