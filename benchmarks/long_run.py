"""A long run stays flat: resident memory, open files and checkpoints over a pretraining.

Runs the real command (`python -m ecgjax.main`, the suite's tiny pretraining config on
synthetic_ecg/tiny, so that 5,000 steps take minutes on 2 cores) and samples the
process every time it logs a step line: resident memory (VmRSS), open file
descriptors, threads, and the step directories under checkpoints/. Growth is the
median of the last tenth of the samples over the median of the samples just after
warm-up (the first evaluation and checkpoint done):

  python benchmarks/long_run.py --data_dir=TFDS_DIR --steps=5000 \
      --out=benchmarks/results/long_run_cpu.jsonl

builds synthetic_ecg/tiny into TFDS_DIR if needed. The per-sample curve is written to
`--curve` (JSON) for docs/benchmarks.md.
"""

import argparse
import datetime
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from benchmarks.emit import emit  # noqa: E402

STEP_LINE = re.compile(r"step (\d+)/(\d+): train loss")


def sample(pid: int, checkpoints: str) -> dict:
  with open(f"/proc/{pid}/status") as f:
    status = dict(line.split(":", 1) for line in f if ":" in line)
  steps = [d for d in os.listdir(checkpoints) if d.isdigit()] if os.path.isdir(checkpoints) else []
  return {"rss_mib": int(status["VmRSS"].split()[0]) / 1024,
          "threads": int(status["Threads"]),
          "open_files": len(os.listdir(f"/proc/{pid}/fd")),
          "checkpoints": len(steps)}


def growth(samples: list[dict], key: str, warm_from: int) -> float:
  warm = [s[key] for s in samples if s["step"] >= warm_from]
  tenth = max(1, len(warm) // 10)
  return statistics.median(warm[-tenth:]) / statistics.median(warm[:tenth]) - 1


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--data_dir", default=os.path.join(tempfile.gettempdir(), "ecgjax_tfds"))
  parser.add_argument("--steps", type=int, default=5000)
  parser.add_argument("--log_every", type=int, default=100)
  parser.add_argument("--checkpoint_every", type=int, default=500)
  parser.add_argument("--eval_every", type=int, default=1000)
  parser.add_argument("--keep_checkpoints", type=int, default=3)
  parser.add_argument("--out", default="")
  parser.add_argument("--curve", default="")
  args = parser.parse_args()
  from tfds_builders.synthetic_ecg import synthetic_ecg_dataset_builder as synthetic
  builder = synthetic.Builder(config="tiny", data_dir=args.data_dir)
  if not builder.is_prepared():
    builder.download_and_prepare()

  with tempfile.TemporaryDirectory() as workdir:
    argv = [sys.executable, "-m", "ecgjax.main",
            f"--config=tests/configs/tiny_pretrain.py:{args.data_dir}", f"--workdir={workdir}",
            f"--config.total_steps={args.steps}", f"--config.log_every={args.log_every}",
            f"--config.checkpoint_every={args.checkpoint_every}",
            f"--config.eval_every={args.eval_every}",
            f"--config.keep_checkpoints={args.keep_checkpoints}"]
    process = subprocess.Popen(argv, cwd=REPO, stderr=subprocess.PIPE, text=True,
                               stdout=subprocess.DEVNULL)
    samples, tail = [], []
    for line in process.stderr:
      tail = (tail + [line])[-40:]
      match = STEP_LINE.search(line)
      if match:
        samples.append({"step": int(match.group(1)),
                        **sample(process.pid, os.path.join(workdir, "checkpoints"))})
    if process.wait() != 0:
      raise SystemExit("the run failed:\n" + "".join(tail))

  warm_from = max(args.eval_every, args.checkpoint_every) + args.log_every
  result = {"benchmark": "long_run", "steps": args.steps, "log_every": args.log_every,
            "checkpoint_every": args.checkpoint_every, "eval_every": args.eval_every,
            "keep_checkpoints": args.keep_checkpoints, "samples": len(samples),
            "warm_from_step": warm_from,
            "rss_mib_at_warm": min(s["rss_mib"] for s in samples if s["step"] >= warm_from),
            "rss_mib_max": max(s["rss_mib"] for s in samples),
            "rss_growth": growth(samples, "rss_mib", warm_from),
            "open_files_growth": growth(samples, "open_files", warm_from),
            "open_files_max": max(s["open_files"] for s in samples),
            "threads_max": max(s["threads"] for s in samples),
            "checkpoints_max": max(s["checkpoints"] for s in samples),
            "model": "tests/configs/tiny_pretrain.py (synthetic_ecg/tiny)",
            "host": socket.gethostname(), "cpus": os.cpu_count(),
            "command": " ".join(["python", *sys.argv]),
            "date": datetime.date.today().isoformat()}
  emit(result, args.out)
  if args.curve:
    with open(args.curve, "w") as f:
      json.dump(samples, f)


if __name__ == "__main__":
  main()
