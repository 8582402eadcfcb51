"""Pretraining throughput of the real command on N (simulated) CPU devices.

  python benchmarks/pretrain_throughput.py --data_dir=DIR [--devices 1 8] [--steps 200]

Runs `python -m ecgjax.main --config=ecgjax/configs/pretrain.py` on
synthetic_ecg/demo once per device count and reports the median ECG/s of its
logging windows (the first window, which includes warm-up, is left out). One
JSON object per measurement on stdout; --out appends them to a file.
"""

import argparse
import datetime
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile

from emit import emit

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure(devices: int, args) -> dict:
  with tempfile.TemporaryDirectory() as workdir:
    command = [sys.executable, "-m", "ecgjax.main", "--config=ecgjax/configs/pretrain.py",
               f"--workdir={workdir}", f"--config.dataset.data_dir={args.data_dir}",
               f"--config.dataset.name={args.dataset}", f"--config.batch_size={args.batch_size}",
               f"--config.total_steps={args.steps}", f"--config.log_every={args.log_every}",
               f"--config.eval_every={args.steps}", f"--config.checkpoint_every={args.steps}",
               f"--config.model.dtype={args.dtype}"]
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True)
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
      windows = [json.loads(line) for line in f]
    windows = [w for w in windows if "ecg_per_sec" in w][1:]
    config = json.load(open(os.path.join(workdir, "config.json")))
  ecg_per_sec = statistics.median(w["ecg_per_sec"] for w in windows)
  tflops = [w["tflops_per_sec_per_device"] for w in windows if "tflops_per_sec_per_device" in w]
  return {
      "benchmark": "pretrain_command", "framework": "jax", "model": "ResNet1D " + json.dumps(
          {k: config["model"][k] for k in ("stage_widths", "blocks_per_stage", "kernel_size")}),
      "input": f"{args.dataset} (100 Hz x 10 s x 12 leads)", "batch_size": args.batch_size,
      "dtype": args.dtype, "devices": devices, "device_kind": f"cpu (simulated x{devices})",
      "ecg_per_sec": ecg_per_sec, "ecg_per_sec_per_device": ecg_per_sec / devices,
      "windows": len(windows), "tflops_per_sec_per_device": statistics.median(tflops) if tflops else None,
      "mfu": None, "host_cpus": os.cpu_count(),
      "command": "XLA_FLAGS=--xla_force_host_platform_device_count=%d " % devices + shlex.join(
          ["python", *command[1:]]).replace(workdir, "WORKDIR"),
      "date": datetime.date.today().isoformat(),
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data_dir", required=True)
  parser.add_argument("--dataset", default="synthetic_ecg/demo")
  parser.add_argument("--devices", type=int, nargs="+", default=[1, 8])
  parser.add_argument("--batch_size", type=int, default=64)
  parser.add_argument("--steps", type=int, default=200)
  parser.add_argument("--log_every", type=int, default=25)
  parser.add_argument("--dtype", default="float32")
  parser.add_argument("--out", help="append the JSON objects to this file")
  args = parser.parse_args()
  for devices in args.devices:
    emit(measure(devices, args), args.out)


if __name__ == "__main__":
  main()
