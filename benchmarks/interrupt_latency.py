"""How long Ctrl-C takes to stop a training run: from the signal to the saved checkpoint.

Runs the real command (`python -m ecgjax.main`, the shipped pretraining config's model
on synthetic_ecg/tiny, logging every 50 steps as shipped), waits until it trains at a
steady pace, sends SIGINT at a random moment within a log interval, and times the line
that says the step was saved ("SIGINT at step S: saved checkpoint S ..."). The step
time is read from the two step lines before the signal. One JSON line with each trial
and the medians:

  python benchmarks/interrupt_latency.py --data_dir=TFDS_DIR --trials=5 \
      --out=benchmarks/results/interrupt_latency.jsonl

builds synthetic_ecg/tiny into TFDS_DIR if needed. The latency includes the save.
"""

import argparse
import datetime
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from benchmarks.emit import emit  # noqa: E402

STEP_LINE = re.compile(r"step (\d+)/(\d+): train loss")
SAVED_LINE = re.compile(r"SIGINT at step (\d+): saved checkpoint")


def trial(data_dir: str, log_every: int, seed: int) -> dict:
  with tempfile.TemporaryDirectory() as workdir:
    argv = [sys.executable, "-m", "ecgjax.main", "--config=ecgjax/configs/pretrain.py",
            "--config.dataset.name=synthetic_ecg/tiny", f"--config.dataset.data_dir={data_dir}",
            f"--workdir={workdir}", "--config.total_steps=100000",
            "--config.eval_every=100000", "--config.checkpoint_every=100000",
            f"--config.log_every={log_every}"]
    process = subprocess.Popen(argv, cwd=REPO, stderr=subprocess.PIPE, text=True,
                               stdout=subprocess.DEVNULL)
    lines, step_times, sent, saved_at, saved_step = [], [], None, None, None
    for line in process.stderr:
      now = time.monotonic()
      lines = (lines + [line])[-40:]
      match = STEP_LINE.search(line)
      if match and sent is None:
        step_times.append((int(match.group(1)), now))
        if len(step_times) == 3:       # the first interval holds compilation: not steady
          (s1, t1), (s2, t2) = step_times[1:]
          step_s = (t2 - t1) / (s2 - s1)
          # A random moment of the next interval: the host's lead over the device
          # grows through an interval and is drained at its step line.
          time.sleep(random.Random(seed).uniform(0, log_every * step_s))
          process.send_signal(signal.SIGINT)
          sent = time.monotonic()
      saved = SAVED_LINE.search(line)
      if saved:
        saved_at, saved_step = now, int(saved.group(1))
    process.wait()
    if saved_at is None:
      raise SystemExit("no save after the signal:\n" + "".join(lines))
  latency = saved_at - sent
  return {"step_s": step_s, "latency_s": latency, "latency_steps": latency / step_s,
          "saved_step": saved_step, "exit_code": process.returncode}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--data_dir", default=os.path.join(tempfile.gettempdir(), "ecgjax_tfds"))
  parser.add_argument("--trials", type=int, default=5)
  parser.add_argument("--log_every", type=int, default=50)
  parser.add_argument("--label", default="", help="what this code is (e.g. a commit)")
  parser.add_argument("--out", default="")
  args = parser.parse_args()
  from tfds_builders.synthetic_ecg import synthetic_ecg_dataset_builder as synthetic
  builder = synthetic.Builder(config="tiny", data_dir=args.data_dir)
  if not builder.is_prepared():
    builder.download_and_prepare()
  trials = [trial(args.data_dir, args.log_every, seed) for seed in range(args.trials)]
  emit({"benchmark": "interrupt_latency", "label": args.label, "log_every": args.log_every,
        "model": "ecgjax/configs/pretrain.py (synthetic_ecg/tiny)",
        "median_step_s": statistics.median(t["step_s"] for t in trials),
        "median_latency_s": statistics.median(t["latency_s"] for t in trials),
        "median_latency_steps": statistics.median(t["latency_steps"] for t in trials),
        "max_latency_steps": max(t["latency_steps"] for t in trials),
        "trials": trials, "host": socket.gethostname(), "cpus": os.cpu_count(),
        "command": " ".join(["python", *sys.argv]),
        "date": datetime.date.today().isoformat()}, args.out)


if __name__ == "__main__":
  main()
