"""A malformed config is refused before any work, with the field named."""

import os
import shlex
import subprocess
import sys

import pytest

from ecgjax.configs import demo as demo_config, pretrain as pretrain_config
from ecgjax.experiments import demo, pretraining, validation
from ecgjax.data import datasets
from tests.helpers import REPO, tiny_finetune_config, tiny_pretrain_config, xla_flags


def test_shipped_configs_are_valid():
  from ecgjax.configs import cinc2017
  for variant in cinc2017.VARIANTS:
    spec = validation.validate_pretrain(cinc2017.get_config(variant), device_count=8)
    assert spec.exclusive_labels == (("normal", "af", "other", "noisy"),)
  validation.validate_pretrain(pretrain_config.get_config(), device_count=8)
  validation.validate_pretrain(pretrain_config.get_config("synthetic_large"), device_count=8)
  validation.validate_pretrain(pretrain_config.get_config("synthetic_foundation"),
                                     device_count=8)
  config = demo_config.get_config()
  sweep = config.compare.copy_and_resolve_references()
  sweep.init_from = "/pretrain"
  demo.validate(config, sweep, device_count=8)


def test_validation_returns_the_structured_fields_parsed(tmp_path):
  """The config is parsed once, at the entry: what the input, the model's start and
  the loop read comes back from validation as typed values."""
  from ecgjax.evaluation import thresholds
  from ecgjax.models import resnet1d
  from ecgjax.training import optimizers
  config = tiny_pretrain_config(str(tmp_path), **{
      "dataset.leads": "ii, avr", "threshold_rule": "specificity:0.9",
      "dataset.augment": "True", "dataset.mixture": "synthetic_ecg/tiny:2,synthetic_ecg/demo:1",
      "optimizer.learning_rate": 3e-4})
  spec = validation.validate_pretrain(config, device_count=8)
  assert spec.leads == ("II", "aVR")
  assert spec.threshold_rule == thresholds.ThresholdRule("specificity", 0.9)
  assert str(spec.threshold_rule) == "specificity:0.9"
  assert spec.augment == "basic"
  assert spec.mixture == (("synthetic_ecg/tiny", 2.0), ("synthetic_ecg/demo", 1.0))
  assert isinstance(spec.optimizer, optimizers.OptimizerConfig)
  assert spec.optimizer.learning_rate == 3e-4
  assert isinstance(spec.model, resnet1d.ResNet1DConfig)
  assert spec.model.stage_widths == (8, 16) and spec.model.dtype == "float32"   # auto on CPU
  ft = validation.validate_finetune(tiny_finetune_config(
      str(tmp_path), "/pretrain", lr_multipliers="^backbone/=0.1;^head/=2"), device_count=8)
  assert ft.lr_multipliers == (("^backbone/", 0.1), ("^head/", 2.0))
  with pytest.raises(validation.ConfigError, match=r"probe_features='zscore': expected one of "
                                                   r"\('auto', 'raw', 'standardized'\)"):
    validation.validate_finetune(tiny_finetune_config(
        str(tmp_path), "/pretrain", probe_features="zscore"), device_count=8)


def test_demo_refuses_real_data_it_cannot_read(tmp_path):
  config = demo_config.get_config()
  sweep = config.compare.copy_and_resolve_references()
  sweep.init_from = "/pretrain"
  config.real_data = str(tmp_path / "absent")
  with pytest.raises(validation.ConfigError, match="real_data=.*no such directory"):
    demo.validate(config, sweep, device_count=8)
  config.real_data = str(tmp_path)                 # exists, but holds no archive folder
  with pytest.raises(validation.ConfigError, match="holds none of ptbxl/"):
    demo.validate(config, sweep, device_count=8)
  config.augment = "recording"                     # a misplaced field is named
  with pytest.raises(validation.ConfigError, match="config.augment"):
    demo.validate(config, sweep, device_count=8)


@pytest.mark.parametrize("field, value, message", [
    ("batch_size", 60, r"config.batch_size=60 .* not divisible by the 8 devices"),
    ("total_steps", -5, r"config.total_steps must be a positive integer"),
    ("optimizer.learning_rate", 0.0, r"config.optimizer.learning_rate"),
    ("model.dtype", "int8", r"config.model.dtype must be float32, bfloat16 or float16"),
    ("threshold_rule", "specificity:high", r"config.threshold_rule: .*'specificity:X'"),
    ("dataset.leads", "I,Q", r"config.dataset.leads='I,Q': \['Q'\] not a lead name"),
    ("model.stage_strides", (1,), r"config.model: .*same length"),
    ("optimizer.learning_rate", -1e-3, r"config.optimizer.learning_rate=-0.001 is outside \(0, inf\)"),
    ("optimizer.weight_decay", -0.1, r"config.optimizer.weight_decay=-0.1 is outside \[0, inf\)"),
    ("optimizer.b2", 1.0, r"config.optimizer.b2=1.0 is outside \[0, 1\)"),
    ("optimizer.end_factor", 1.5, r"config.optimizer.end_factor=1.5 is outside \[0, 1\]"),
    ("optimizer.grad_clip_norm", -1.0, r"config.optimizer.grad_clip_norm"),
    ("optimizer.warmup_steps", 8, r"warmup_steps=8 must be below config.total_steps=8: lower "
                                  r"it too \(--config.optimizer.warmup_steps=0\)"),
    ("model.dropout", 1.0, r"config.model.dropout=1.0 is outside \[0, 1\)"),
    ("keep_checkpoints", 0, r"config.keep_checkpoints must be a positive integer"),
    ("nonfinite", "ignore", r"config.nonfinite='ignore': expected one of"),
    ("max_consecutive_skips", 0, r"config.max_consecutive_skips must be a positive integer"),
    ("dataset.augment", "handheld", r"config.dataset.augment='handheld' .* "
                                    r"config.dataset.leads='all' is not one lead"),
])
def test_impossible_values_are_refused(field, value, message, tmp_path):
  config = tiny_pretrain_config(str(tmp_path), **{field: value})
  with pytest.raises(validation.ConfigError, match=message):
    validation.validate_pretrain(config, device_count=8)


def test_handheld_augmentation_is_for_one_lead(tmp_path):
  config = tiny_pretrain_config(str(tmp_path), **{"dataset.augment": "handheld",
                                                  "dataset.leads": "I"})
  assert validation.validate_pretrain(config, device_count=8).augment == "handheld"
  config.dataset.leads = "I,II"
  with pytest.raises(validation.ConfigError, match="'I,II' is not one lead"):
    validation.validate_pretrain(config, device_count=8)


def test_unknown_and_missing_fields_are_refused(tmp_path):
  config = tiny_pretrain_config(str(tmp_path))
  config.optimizer.learning_rat = 0.1       # a typo in a config file
  with pytest.raises(validation.ConfigError, match="config.optimizer.learning_rat"):
    validation.validate_pretrain(config, device_count=8)
  config = tiny_pretrain_config(str(tmp_path))
  del config.dataset["eval_split"]
  with pytest.raises(validation.ConfigError, match="missing.*config.dataset.eval_split"):
    validation.validate_pretrain(config, device_count=8)


def test_missing_dataset_prints_the_build_command(tmp_path):
  config = tiny_pretrain_config(str(tmp_path / "empty"))
  with pytest.raises(datasets.DatasetNotBuiltError) as err:
    pretraining.train_and_evaluate(config, str(tmp_path / "wd"))
  assert (f"tfds build tfds_builders/synthetic_ecg --data_dir={tmp_path / 'empty'} "
          "--config=tiny") in str(err.value)
  assert not (tmp_path / "wd").exists()         # refused before any work


@pytest.mark.slow      # runs `tfds build` on 200 recordings
def test_the_build_command_printed_for_an_archive_builds_it(shared_data, tmp_path):
  """'Not built' for a real archive prints the whole `tfds build` line, --manual_dir
  included (without it TFDS ends in a traceback): run as printed, RAW being the
  archive's folder, it builds the dataset."""
  name = "physionet2017/vocabulary_100"
  with pytest.raises(datasets.DatasetNotBuiltError) as err:
    datasets.load_builder(name, str(tmp_path))
  [command] = [line.strip() for line in str(err.value).splitlines()
               if line.strip().startswith("tfds build")]
  assert " --manual_dir=RAW " in command
  argv = shlex.split(command.replace("RAW", os.path.join(shared_data, "cinc2017")))
  tfds = os.path.join(os.path.dirname(sys.executable), argv[0])
  result = subprocess.run([tfds, *argv[1:]], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  info = datasets.load_builder(name, str(tmp_path)).info
  assert sum(split.num_examples for split in info.splits.values()) > 200   # 10-s windows
  # A generated dataset needs no archive.
  assert "--manual_dir" not in datasets.build_command("synthetic_ecg/demo", str(tmp_path))


def test_unknown_label_lists_the_labels_the_dataset_has(tiny_data_dir, tmp_path):
  config = tiny_pretrain_config(tiny_data_dir, labels="sinus_rhythm,takotsubo")
  with pytest.raises(datasets.UnknownLabelError) as err:
    pretraining.train_and_evaluate(config, str(tmp_path / "wd"))
  assert "takotsubo" in str(err.value) and "atrial_fibrillation" in str(err.value)


@pytest.mark.slow
def test_command_line_refuses_unknown_field_before_work(tmp_path):
  workdir = tmp_path / "wd"
  result = subprocess.run(
      [sys.executable, "-m", "ecgjax.main", "--config=ecgjax/configs/pretrain.py",
       f"--workdir={workdir}", "--config.optimizer.learning_rat=0.1"],
      cwd=REPO, capture_output=True, text=True, timeout=120)
  assert result.returncode != 0
  assert "learning_rat" in result.stderr
  assert not workdir.exists()


@pytest.mark.slow
def test_command_line_prints_build_command_without_traceback(tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "ecgjax.main", "--config=ecgjax/configs/pretrain.py",
       f"--workdir={tmp_path / 'wd'}", f"--config.dataset.data_dir={tmp_path}"],
      cwd=REPO, capture_output=True, text=True, timeout=120,
      env={**os.environ, "XLA_FLAGS": xla_flags()})
  assert result.returncode == 1
  assert f"tfds build tfds_builders/synthetic_ecg --data_dir={tmp_path} --config=demo" in result.stderr
  assert "Traceback" not in result.stderr


def test_a_resumed_run_names_what_changed_and_refuses_what_cannot(tmp_path):
  """config.json against the resumed run's config: a changed schedule is named with
  what it does to the learning rate; a change the saved state cannot follow (the
  architecture, the labels, the data stream's batch size and seed, the optimiser's
  tree) is refused before any work, every such field named in one line."""
  from ecgjax.training import workdir_files
  workdir = str(tmp_path / "wd")
  first = tiny_pretrain_config(str(tmp_path))
  assert workdir_files.check_resumed_config(first, workdir) == []      # a new run
  workdir_files.write_config(first, workdir)
  assert workdir_files.check_resumed_config(first, workdir) == []      # nothing trained yet
  os.makedirs(os.path.join(workdir, "checkpoints", "4"))
  assert workdir_files.check_resumed_config(first, workdir) == []      # resumed unchanged
  longer = tiny_pretrain_config(str(tmp_path), total_steps=16, log_every=4)
  changed = workdir_files.check_resumed_config(longer, workdir)
  assert changed[:2] == ["config.log_every: 2 -> 4", "config.total_steps: 8 -> 16"]
  assert "planned over 16 steps instead of 8" in changed[2]
  for field, value in (("model.stage_widths", (8, 32)), ("labels", "rhythm"),
                       ("batch_size", 32), ("seed", 1), ("optimizer.learning_rate", 3e-4)):
    with pytest.raises(workdir_files.ConfigChangedError,
                       match=rf"config.{field}=.* cannot change on resuming"):
      workdir_files.check_resumed_config(tiny_pretrain_config(str(tmp_path), **{field: value}),
                                         workdir)
  both = tiny_pretrain_config(str(tmp_path), batch_size=32, seed=1)
  with pytest.raises(workdir_files.ConfigChangedError) as refused:
    workdir_files.check_resumed_config(both, workdir)
  message = str(refused.value)
  assert "\n" not in message and "config.batch_size=" in message and "config.seed=" in message
