"""The real commands, as a user types them: build, pretrain on 8 devices, kill, resume."""

import glob
import json
import os
import signal
import subprocess
import sys

import pytest

from tests.helpers import REPO, xla_flags
from tfds_builders.synthetic_ecg import synthetic_ecg_dataset_builder as synthetic

pytestmark = pytest.mark.slow     # trains a model or runs a command end to end

TINY_VERSION = str(synthetic.Builder.VERSION)

TINY_MODEL = ["--config.model.stem_width=8", "--config.model.stage_widths=(8,16)",
              "--config.model.blocks_per_stage=(1,1)", "--config.model.stage_strides=(2,2)",
              "--config.model.kernel_size=5", "--config.batch_size=16",
              "--config.eval_batch_size=64", "--config.dataset.shuffle_buffer=256",
              "--config.optimizer.warmup_steps=4"]


def env8():
  return {**os.environ, "XLA_FLAGS": xla_flags(8),
          "TF_CPP_MIN_LOG_LEVEL": "2", "ECGJAX_BUILD_WORKERS": "2"}


def pretrain_command(workdir, data_dir, total_steps=40):
  return [sys.executable, "-m", "ecgjax.main", "--config=ecgjax/configs/pretrain.py",
          f"--workdir={workdir}", "--config.dataset.name=synthetic_ecg/tiny",
          f"--config.dataset.data_dir={data_dir}", f"--config.total_steps={total_steps}",
          "--config.log_every=2", "--config.eval_every=20", "--config.checkpoint_every=4",
          *TINY_MODEL]


def finished_checkpoints(workdir):
  return sorted(int(os.path.basename(p)) for p in glob.glob(os.path.join(workdir, "checkpoints", "*"))
                if os.path.basename(p).isdigit())


def test_build_pretrain_kill_resume(tmp_path):
  data_dir, workdir = str(tmp_path / "tfds"), str(tmp_path / "run")
  build = subprocess.run(
      [os.path.join(os.path.dirname(sys.executable), "tfds"), "build", "tfds_builders/synthetic_ecg", f"--data_dir={data_dir}", "--config=tiny"],
      cwd=REPO, env=env8(), capture_output=True, text=True, timeout=600)
  assert build.returncode == 0, build.stderr[-3000:]
  assert glob.glob(os.path.join(data_dir, "synthetic_ecg", "tiny", TINY_VERSION, "*.tfrecord*"))

  # Start pretraining and kill it (SIGKILL: no chance to clean up) when it logs step 10,
  # frozen first (SIGSTOP) so the checkpoints it finished are the ones it resumes from.
  run = subprocess.Popen(pretrain_command(workdir, data_dir), cwd=REPO, env=env8(),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
  seen = []
  for line in run.stderr:
    seen.append(line)
    if "step 10/40: train loss" in line:
      break
  else:
    raise AssertionError(f"run ended (code {run.wait()}) before step 10:\n{''.join(seen[-40:])}")
  run.send_signal(signal.SIGSTOP)
  killed_at = max(finished_checkpoints(workdir), default=0)
  run.kill()
  run.wait()
  assert killed_at < 40

  # The same command resumes from the last finished checkpoint and finishes.
  resumed = subprocess.run(pretrain_command(workdir, data_dir), cwd=REPO, env=env8(),
                           capture_output=True, text=True, timeout=600)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  if killed_at:       # checkpoint 4 is saved asynchronously: it may not have landed
    assert f"resumed from step {killed_at}" in resumed.stderr
  assert "mesh {'data': 8} over 8 devices" in resumed.stderr
  # The console shows ecgjax's lines; the log file keeps the libraries' too.
  log = open(os.path.join(workdir, "ecgjax.log")).read()
  assert "step 40/40: train loss" in log and "checkpoint_manager.py" in log
  assert "checkpoint_manager.py" not in resumed.stderr
  assert f"pretrained model: {workdir}" in resumed.stdout

  # The workdir holds what docs/using-a-model.md's workdir table promises.
  config = json.load(open(os.path.join(workdir, "config.json")))
  assert config["total_steps"] == 40 and config["dataset"]["name"] == "synthetic_ecg/tiny"
  assert glob.glob(os.path.join(workdir, "events.out.tfevents.*"))
  assert finished_checkpoints(workdir)[-1] == 40
  assert len(finished_checkpoints(workdir)) <= 3               # keep_checkpoints
  lines = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
  train = [l for l in lines if "loss" in l]
  assert [l["step"] for l in train] == list(range(2, 41, 2))   # each step once, in order
  for line in train:
    assert {"step", "loss", "learning_rate", "ecg_per_sec", "ecg_per_sec_per_device"} <= set(line)
    assert abs(line["ecg_per_sec_per_device"] * 8 - line["ecg_per_sec"]) < 1e-6 * line["ecg_per_sec"]
  evals = [l for l in lines if l.get("split") == "validation"]
  assert [l["step"] for l in evals] == [20, 40]
  assert set(evals[-1]["auroc"]) == set(config_labels(data_dir))
  assert train[-1]["loss"] < train[0]["loss"]


def config_labels(data_dir):
  info = json.load(open(os.path.join(data_dir, "synthetic_ecg", "tiny", TINY_VERSION, "metadata.json")))
  return info["label_groups"]["pretrain"]


def test_demo_tells_the_whole_story(tmp_path, shared_data):
  """The demo command on the tiny dataset: build, pretrain, fine-tune three ways,
  report, score the pretrained model zero-shot on the real samples (PTB-XL's only,
  to save time: every set is scored in tests/test_sim_to_real.py); then the same
  command again has nothing left to do."""
  data_dir, workdir = str(tmp_path / "tfds"), str(tmp_path / "demo")
  real_data = tmp_path / "real"
  real_data.mkdir()
  (real_data / "ptbxl").symlink_to(os.path.join(shared_data, "ptbxl"))
  small = ["--config.pretrain.model.stem_width=8", "--config.pretrain.model.stage_widths=(8,16)",
           "--config.pretrain.model.blocks_per_stage=(1,1)",
           "--config.pretrain.model.stage_strides=(2,2)", "--config.pretrain.model.kernel_size=5"]
  command = [sys.executable, "-m", "ecgjax.main", "--config=ecgjax/configs/demo.py",
             f"--workdir={workdir}", f"--config.pretrain.dataset.data_dir={data_dir}",
             "--config.pretrain.dataset.name=synthetic_ecg/tiny",
             "--config.compare.dataset.name=synthetic_ecg/tiny",
             "--config.pretrain.total_steps=6", "--config.pretrain.eval_every=6",
             "--config.pretrain.checkpoint_every=3", "--config.pretrain.batch_size=16",
             "--config.pretrain.optimizer.warmup_steps=2",
             "--config.compare.labels=sinus_rhythm,sinus_bradycardia",
             "--config.compare.train_sizes=60", "--config.compare.seeds=0",
             "--config.compare.roc_train_size=60", "--config.compare.min_positives=3",
             "--config.compare.total_steps=4", "--config.compare.eval_every=2",
             "--config.compare.optimizer.warmup_steps=1",
             "--config.compare.batch_size=16", "--config.compare.eval_batch_size=64",
             f"--config.real_data={real_data}", *small]
  first = subprocess.run(command, cwd=REPO, env=env8(), capture_output=True, text=True,
                         timeout=900)
  assert first.returncode == 0, first.stderr[-3000:]
  assert "Building synthetic_ecg/tiny" in first.stderr
  # It ends by showing the result and where everything is.
  assert "Fine-tuning comparison" in first.stdout and "| sinus_rhythm | 60 |" in first.stdout
  assert f"report:      {os.path.join(workdir, 'report.md')}" in first.stdout
  assert f"pretrained model: {os.path.join(workdir, 'pretrain')}" in first.stdout
  for name in ("report.md", "results.csv", "comparisons.csv", "auroc_vs_train_size.png",
               "roc_train_size_60.png", "pretrain/config.json", "pretrain/metrics.jsonl"):
    assert os.path.exists(os.path.join(workdir, name)), name
  for mode in ("scratch", "random_probe", "linear_probe", "full"):
    assert os.path.exists(os.path.join(workdir, "runs", mode, "n60", "seed0", "results.json"))
  # The zero-shot section: the 12-lead sets of the samples, their annotated labels.
  with open(os.path.join(workdir, "sim_to_real.json")) as f:
    zero_shot = json.load(f)
  assert set(zero_shot["sets"]) == {"ptbxl"}
  report_text = open(os.path.join(workdir, "report.md")).read()
  assert "## Zero-shot on real ECGs" in report_text
  assert "| ptbxl (ptbxl/vocabulary_100) | sinus_rhythm |" in report_text
  assert "## Zero-shot on real ECGs" in first.stdout
  scored_at = os.path.getmtime(os.path.join(workdir, "sim_to_real.json"))
  again = subprocess.run(command, cwd=REPO, env=env8(), capture_output=True, text=True,
                         timeout=900)
  assert again.returncode == 0, again.stderr[-3000:]
  assert "nothing to train" in again.stderr
  assert again.stderr.count("finished earlier, skipped") == 4
  assert os.path.getmtime(os.path.join(workdir, "sim_to_real.json")) == scored_at
  assert open(os.path.join(workdir, "report.md")).read().count("## Zero-shot on real ECGs") == 1
