"""Two processes started by hand form one run: 2 x 4 CPU devices, one 8-device mesh."""

import json
import os
import socket
import subprocess
import sys

from tests.conftest import REPO

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


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_two_processes_share_one_mesh():
  port = free_port()
  procs = []
  for pid in range(2):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
           "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}", "JAX_NUM_PROCESSES": "2",
           "JAX_PROCESS_ID": str(pid), "JAX_PLATFORMS": "cpu"}
    procs.append(subprocess.Popen([sys.executable, "-c", CHILD], cwd=REPO, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
  outs = [p.communicate(timeout=180) for p in procs]
  for p, (_, err) in zip(procs, outs, strict=True):
    assert p.returncode == 0, err[-3000:]
  results = sorted(line for out, _ in outs for line in out.splitlines() if line.startswith("RESULT"))
  # Process 0 contributes 4 rows of 0s, process 1 four rows of 1s: the global sum is 12.
  assert results == ["RESULT 0 2 8 (8, 3) 12.0", "RESULT 1 2 8 (8, 3) 12.0"]


def test_single_process_needs_no_cluster():
  env = {**os.environ, "XLA_FLAGS": ""}
  for key in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
    env.pop(key, None)
  out = subprocess.run([sys.executable, "-c", "from ecgjax.training import mesh; "
                        "mesh.initialize_distributed(); import jax; print(jax.process_count())"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
  assert out.returncode == 0, out.stderr[-2000:]
  assert out.stdout.strip() == "1"


def test_pretraining_as_two_processes(tiny_data_dir, tmp_path):
  """The real command on 2 processes x 4 devices: each reads its own data slice,
  evaluation gathers both, only process 0 writes metrics, both agree."""
  port, workdir = free_port(), str(tmp_path / "run")
  command = [sys.executable, "-m", "ecgjax.main", "--config=ecgjax/configs/pretrain.py",
             f"--workdir={workdir}", "--config.dataset.name=synthetic_ecg/tiny",
             f"--config.dataset.data_dir={tiny_data_dir}", "--config.total_steps=6",
             "--config.optimizer.warmup_steps=2",
             "--config.log_every=3", "--config.eval_every=6", "--config.checkpoint_every=3",
             "--config.batch_size=16", "--config.eval_batch_size=64",
             "--config.dataset.shuffle_buffer=128", "--config.model.stage_widths=(16,16,16,16)"]
  procs = []
  for pid in range(2):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
           "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}", "JAX_NUM_PROCESSES": "2",
           "JAX_PROCESS_ID": str(pid)}
    procs.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True))
  errs = [p.communicate(timeout=300)[1] for p in procs]
  for p, err in zip(procs, errs, strict=True):
    assert p.returncode == 0, err[-3000:]
    assert "mesh {'data': 8} over 8 devices (cpu), 2 processes" in err
  lines = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  assert [line["step"] for line in lines] == [3, 6, 6]      # one writer, not two
  auroc_lines = [[line for line in err.splitlines() if "median AUROC" in line][-1]
                 for err in errs]
  assert auroc_lines[0].split("]")[-1] == auroc_lines[1].split("]")[-1]
  steps = sorted(int(p) for p in os.listdir(os.path.join(workdir, "checkpoints")) if p.isdigit())
  assert steps == [3, 6]
