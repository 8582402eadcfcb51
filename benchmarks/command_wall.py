"""What a user waits for: the wall time of whole commands, this checkout against another
commit of ecgjax (the peer), in fresh processes, alternating.

  python benchmarks/command_wall.py --peer_ref REF [--runs 5] [--out benchmarks/results/command_wall_cpu.jsonl]

The commands:
- `predict`: the README's first example, the shipped `synthetic_foundation` scoring the
  packaged PTB-XL samples (`python -m ecgjax.predict`, no TensorFlow);
- `pretrain_tiny`: `python -m ecgjax.main` pretraining the test suite's tiny model for 8
  steps on synthetic_ecg/tiny (built once beforehand), a command whose wall time is
  mostly start-up: imports, building the network, compiling.

The peer is `git worktree add`ed at REF in a temporary directory and run from there with
the same Python (its own ecgjax is the one imported: the working directory comes first on
`sys.path`). Each command keeps XLA's defaults and the per-process compilation cache a
user's command gets. One JSON line per (command, code): the median of `--runs` runs.
"""

import argparse
import datetime
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_STEPS, TINY_BATCH = 8, 16


def tiny_pretraining_flags(data_dir: str) -> list[str]:
  """The suite's tiny pretraining (tests/helpers.tiny_pretrain_config) as flags."""
  sys.path.insert(0, REPO)
  from tests.helpers import TINY_MODEL
  model = [f"--config.model.{k}={tuple(v) if isinstance(v, tuple) else v}"
           for k, v in TINY_MODEL.items()]
  return ["--config=ecgjax/configs/pretrain.py", "--config.dataset.name=synthetic_ecg/tiny",
          f"--config.dataset.data_dir={data_dir}", "--config.dataset.shuffle_buffer=128",
          *model, f"--config.batch_size={TINY_BATCH}", "--config.eval_batch_size=64",
          f"--config.total_steps={TINY_STEPS}", "--config.log_every=2",
          "--config.eval_every=8", "--config.checkpoint_every=4",
          "--config.optimizer.warmup_steps=2"]


def timed(argv: list[str], cwd: str) -> float:
  env = {k: v for k, v in os.environ.items()
         if not k.startswith(("JAX_COMPILATION_CACHE", "JAX_PERSISTENT_CACHE", "XLA_FLAGS"))}
  started = time.perf_counter()
  subprocess.run([sys.executable, *argv], cwd=cwd, env={**env, "TF_CPP_MIN_LOG_LEVEL": "2"},
                 check=True, capture_output=True, text=True)
  return time.perf_counter() - started


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--peer_ref", required=True, help="the commit to compare against")
  parser.add_argument("--runs", type=int, default=5)
  parser.add_argument("--commands", nargs="+", default=["predict", "pretrain_tiny"])
  parser.add_argument("--out")
  args = parser.parse_args()
  sys.path.insert(0, os.path.join(REPO, "benchmarks"))
  from emit import emit
  from ecgjax import samples
  from tfds_builders.synthetic_ecg import synthetic_ecg_dataset_builder as synthetic

  scratch = tempfile.mkdtemp(prefix="command_wall_")
  peer = os.path.join(scratch, "peer")
  subprocess.run(["git", "worktree", "add", "--detach", peer, args.peer_ref], cwd=REPO,
                 check=True, capture_output=True)
  peer_commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=peer, check=True,
                               capture_output=True, text=True).stdout.strip()
  this_commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, check=True,
                               capture_output=True, text=True).stdout.strip()
  dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                         capture_output=True, text=True).stdout.strip()
  try:
    data_dir = os.path.join(scratch, "tfds")
    synthetic.Builder(config="tiny", data_dir=data_dir).download_and_prepare()
    ecg_folder = samples.path("ptbxl")
    commands = {
        "predict": lambda workdir: ["-m", "ecgjax.predict", "--model=synthetic_foundation",
                                    f"--out={workdir}/predictions.csv", ecg_folder],
        "pretrain_tiny": lambda workdir: ["-m", "ecgjax.main", *tiny_pretraining_flags(data_dir),
                                          f"--workdir={workdir}"],
    }
    codes = {"this": REPO, "peer": peer}
    for name in args.commands:
      times = {code: [] for code in codes}
      first = tempfile.mkdtemp(dir=scratch)
      timed(commands[name](first), REPO)                 # fills the OS's file cache
      for _ in range(args.runs):
        for code, cwd in codes.items():
          times[code].append(timed(commands[name](tempfile.mkdtemp(dir=scratch)), cwd))
      for code, measured in times.items():
        median = statistics.median(measured)
        if name == "predict":      # the ECGs it scored: predictions.csv's rows
          with open(os.path.join(first, "predictions.csv")) as f:
            per_run = sum(1 for _ in f) - 1
        else:
          per_run = TINY_STEPS * TINY_BATCH
        emit({"benchmark": "command_wall", "framework": "jax", "command_measured": name,
              "code": code,
              "commit": (this_commit + ("+changes" if dirty else "")
                         if code == "this" else peer_commit),
              "model": "synthetic_foundation" if name == "predict" else "tiny (tests)",
              "batch_size": None if name == "predict" else TINY_BATCH, "dtype": "float32",
              "devices": 1, "device_kind": "cpu", "wall_s": median,
              "wall_s_range": [min(measured), max(measured)], "runs": len(measured),
              "ecg_per_sec": per_run / median, "ecg_per_sec_per_device": per_run / median,
              "mfu": None, "cpus": os.cpu_count(),
              "command": "python " + " ".join(sys.argv),
              "date": datetime.date.today().isoformat()}, args.out)
  finally:
    subprocess.run(["git", "worktree", "remove", "--force", peer], cwd=REPO,
                   capture_output=True)
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
  main()
