"""Two processes started by hand form one run: 2 x 4 CPU devices, one 8-device mesh."""

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO, start_two_processes, xla_flags

pytestmark = pytest.mark.slow     # trains a model or runs a command end to end

CHILD = """
import jax, numpy as np
from ecgjax.training import mesh
mesh.initialize_distributed()
m = mesh.make_data_mesh()
local = {"x": np.full((4, 3), jax.process_index(), np.float32)}
g = mesh.global_batch(local, mesh.batch_sharded(m))["x"]
total = jax.jit(lambda x: x.sum(), out_shardings=mesh.replicated(m))(g)
print("RESULT", jax.process_index(), jax.process_count(), jax.device_count(), g.shape, float(total))
"""


def test_two_processes_share_one_mesh():
  outs = start_two_processes([sys.executable, "-c", CHILD], stdout=subprocess.PIPE,
                             timeout=180, extra_env={"JAX_PLATFORMS": "cpu"})
  results = sorted(line for out, _ in outs for line in out.splitlines() if line.startswith("RESULT"))
  # Process 0 contributes 4 rows of 0s, process 1 four rows of 1s: the global sum is 12.
  assert results == ["RESULT 0 2 8 (8, 3) 12.0", "RESULT 1 2 8 (8, 3) 12.0"]


def test_single_process_needs_no_cluster():
  env = {**os.environ, "XLA_FLAGS": xla_flags()}
  for key in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
    env.pop(key, None)
  out = subprocess.run([sys.executable, "-c", "from ecgjax.training import mesh; "
                        "mesh.initialize_distributed(); import jax; print(jax.process_count())"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
  assert out.returncode == 0, out.stderr[-2000:]
  assert out.stdout.strip() == "1"


READS = """
import json, sys
import numpy as np
from ecgjax.training import eval_outputs, mesh
mesh.initialize_distributed()
import jax
from ecgjax.data import datasets, pipeline

def source():
  builder = datasets.load_builder("synthetic_ecg/tiny", sys.argv[1])
  return pipeline.TfdsInput(builder, labels="pretrain", global_batch=16, eval_batch=64,
                            train_split="train", seed=0, shuffle_buffer=128)

def epochs(src, n):
  per_epoch = src.examples_per_epoch()
  rows = list(src.example_stream(select=False).take(n * per_epoch).as_numpy_iterator())
  ids = [r["record_id"].decode() for r in rows]
  return [ids[e * per_epoch:(e + 1) * per_epoch] for e in range(n)]

src = source()
out = {"process": jax.process_index(), "epochs": epochs(src, 2),
       "split": sorted(r.decode() for r in src.split_index("train")[0])}
subset = source()
subset.restrict_training_set(40, 1, seed=3)
out["subset_epoch"] = epochs(subset, 1)[0]
out["subset_size"] = subset.train_examples
_, _, _, recordings = eval_outputs.collect_outputs(src, "validation", lambda local: local["labels"])
out["eval_recordings"] = [int(r) for r in recordings]
out["validation_size"] = len(src.split_index("validation")[0])
print("READS", json.dumps(out))
"""


def test_processes_read_disjoint_parts_and_score_each_example_once(tiny_data_dir):
  """2 processes x 4 devices: within each epoch the processes read disjoint parts of
  the training split (and of a chosen subset) whose union is the whole; evaluation,
  gathered on both, scores every validation example exactly once."""
  outs = start_two_processes([sys.executable, "-c", READS, tiny_data_dir],
                             stdout=subprocess.PIPE)
  reads = sorted((json.loads(line[len("READS "):]) for out, _ in outs
                  for line in out.splitlines() if line.startswith("READS ")),
                 key=lambda r: r["process"])
  assert [r["process"] for r in reads] == [0, 1]
  split = set(reads[0]["split"])
  for epoch in range(2):
    parts = [r["epochs"][epoch] for r in reads]
    assert all(len(p) == len(set(p)) for p in parts)            # no repeats in an epoch
    assert not set(parts[0]) & set(parts[1])                     # disjoint
    assert set(parts[0]) | set(parts[1]) == split                # together, the split
  assert reads[0]["epochs"][0] != reads[0]["epochs"][1]          # reshuffled per epoch
  subset = [set(r["subset_epoch"]) for r in reads]
  assert not subset[0] & subset[1]
  assert len(subset[0] | subset[1]) == reads[0]["subset_size"] == 40
  assert subset[0] | subset[1] <= split
  for r in reads:
    assert r["eval_recordings"] == reads[0]["eval_recordings"]   # gathered alike
    assert len(r["eval_recordings"]) == len(set(r["eval_recordings"])) == r["validation_size"]


PRETRAIN_FLAGS = ["--config.dataset.name=synthetic_ecg/tiny", "--config.total_steps=6",
                  "--config.optimizer.warmup_steps=2", "--config.log_every=3",
                  "--config.eval_every=6", "--config.checkpoint_every=3",
                  "--config.batch_size=16", "--config.eval_batch_size=64",
                  "--config.dataset.shuffle_buffer=128", "--config.model.stage_widths=(16,16,16,16)"]


def logged(err: str, text: str) -> list[str]:
  """The logged lines holding `text`, without the time and process prefix."""
  return [line.split("] ", 1)[-1] for line in err.splitlines() if text in line]


def test_pretraining_as_two_processes(tiny_data_dir, tmp_path):
  """The real command on 2 processes x 4 devices: each reads its own data slice, both
  train the same model (their losses agree step for step), evaluation gathers both,
  and process 0 alone writes metrics, card and results. (The pmap path across
  processes: the fine-tuning test below.)"""
  workdir = str(tmp_path / "run")
  command = [sys.executable, "-m", "ecgjax.main", "--config=ecgjax/configs/pretrain.py",
             f"--workdir={workdir}", f"--config.dataset.data_dir={tiny_data_dir}",
             "--config.parallelism=jit", *PRETRAIN_FLAGS]
  errs = [err for _, err in start_two_processes(command)]
  for err in errs:
    assert "mesh {'data': 8} over 8 devices (cpu), 2 processes, jit" in err
  losses = [[line.split(",")[0] for line in logged(err, ": train loss ")] for err in errs]
  assert len(losses[0]) == 2 and losses[0] == losses[1]
  lines = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  assert [line["step"] for line in lines] == [3, 6, 6]      # one writer, not two
  assert logged(errs[0], "median AUROC")[-2:] == logged(errs[1], "median AUROC")[-2:]
  steps = sorted(int(p) for p in os.listdir(os.path.join(workdir, "checkpoints")) if p.isdigit())
  assert steps == [3, 6]
  card = json.load(open(os.path.join(workdir, "model_card.json")))
  assert card["training"]["steps"] == 6
  # model.dtype auto: the config keeps `auto`, the card the dtype the run used (CPU: fp32).
  assert json.load(open(os.path.join(workdir, "config.json")))["model"]["dtype"] == "auto"
  assert card["model"]["config"]["dtype"] == "float32"
  assert json.load(open(os.path.join(workdir, "results.json")))["step"] == 6
  assert not [f for f in os.listdir(workdir) if f.endswith(".tmp")]


def test_fine_tuning_as_two_processes_under_pmap(tiny_pretrained, tiny_data_dir, tmp_path):
  """Fine-tuning on a chosen subset, as 2 processes under pmap (the same loop as
  pretraining: tests/test_pmap.py): both agree on the subset, the losses and the test
  result; one results.json."""
  workdir = str(tmp_path / "finetune")
  command = [sys.executable, "-m", "ecgjax.finetune", "--config=ecgjax/configs/finetune.py",
             f"--workdir={workdir}", f"--config.init_from={tiny_pretrained}",
             "--config.mode=full", "--config.parallelism=pmap",
             "--config.dataset.name=synthetic_ecg/tiny",
             f"--config.dataset.data_dir={tiny_data_dir}", "--config.total_steps=6",
             "--config.optimizer.warmup_steps=2", "--config.log_every=3", "--config.eval_every=3",
             "--config.batch_size=16", "--config.eval_batch_size=64",
             "--config.dataset.shuffle_buffer=128", "--config.train_size=40",
             "--config.min_positives=1"]
  errs = [err for _, err in start_two_processes(command)]
  for err in errs:
    assert "mesh {'data': 8} over 8 devices (cpu), 2 processes, pmap" in err
  for text in ("train loss", "test median AUROC"):
    # What each process logged, up to its throughput, elapsed time and ETA (which differ).
    lines = [[line.split(",")[0] for line in logged(err, text)] for err in errs]
    assert lines[0] and lines[0] == lines[1]
  results = json.load(open(os.path.join(workdir, "results.json")))
  assert results["train_examples"] == 40


def test_a_stacked_group_as_two_processes(tiny_pretrained, tiny_data_dir, tmp_path):
  """The sweep's stacked group (training.stacked) on 2 processes x 4 devices: both
  processes train the group alike, one writer commits each run, and each run ends as
  the same run trained alone on the same 2 processes."""
  def sweep(workdir, stack_size):
    command = [sys.executable, "-m", "ecgjax.main", "--config=ecgjax/configs/compare.py",
               f"--workdir={workdir}", f"--config.init_from={tiny_pretrained}",
               "--config.dataset.name=synthetic_ecg/tiny",
               f"--config.dataset.data_dir={tiny_data_dir}", "--config.modes=scratch",
               "--config.seeds=0,1", "--config.train_sizes=60", "--config.roc_train_size=60",
               "--config.labels=sinus_rhythm,sinus_bradycardia", "--config.min_positives=3",
               "--config.total_steps=6", "--config.optimizer.warmup_steps=1",
               "--config.log_every=3", "--config.eval_every=3", "--config.batch_size=16",
               "--config.eval_batch_size=64", "--config.dataset.shuffle_buffer=128",
               f"--config.stack_size={stack_size}"]
    return [err for _, err in start_two_processes(command)]

  stacked_errs = sweep(str(tmp_path / "stacked"), 2)
  alone_errs = sweep(str(tmp_path / "alone"), 1)
  for err in stacked_errs:
    assert "stacked group of 2 runs (scratch) on 8 devices, 2 processes" in err
  for text in ("train loss", "test median AUROC"):
    lines = [[line.split(",")[0] for line in logged(err, text)] for err in stacked_errs]
    assert lines[0] and lines[0] == lines[1]
  for seed in (0, 1):
    run = os.path.join("runs", "scratch", "n60", f"seed{seed}")
    grouped = json.load(open(tmp_path / "stacked" / run / "results.json"))
    alone = json.load(open(tmp_path / "alone" / run / "results.json"))
    assert grouped["best_step"] == alone["best_step"]
    for name, entry in alone["labels"].items():
      if entry["auroc"] is not None:
        assert grouped["labels"][name]["auroc"]["value"] == pytest.approx(
            entry["auroc"]["value"], abs=1e-5)
    lines = open(tmp_path / "stacked" / run / "metrics.jsonl").read().splitlines()
    assert [json.loads(line)["step"] for line in lines if '"loss"' in line] == [3, 6]
