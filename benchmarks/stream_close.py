"""How long a fine-tune waits to close its training stream, with tf.data's autotuner on
and off (data.pipeline.TRAIN_STREAM_AUTOTUNE), in the real training loop.

  python benchmarks/stream_close.py --data_dir=TFDS_DIR --init_from=MODEL \
      [--steps=100] [--repeats=3] [--out=benchmarks/results/stream_close.jsonl]

Each repeat runs one scratch fine-tune of the demo's rare labels on 100 ECGs
(configs/finetune.py, `--steps` steps of 32) in this process, the training stream
wrapped so that the seconds its iterator takes to be deleted are timed. The wait shows
only inside the loop (training, evaluating and checkpointing around the stream): a
stream consumed alone closes in milliseconds either way. Reported per setting: the
median close, and the run's wall time. TFDS_DIR must hold synthetic_ecg/demo; MODEL is a
pretrained 12-lead model at 100 Hz (a workdir; its architecture is read, not its weights,
for scratch).
"""

import argparse
import datetime
import os
import socket
import statistics
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from benchmarks.emit import emit  # noqa: E402


class _TimedClose:
  """An iterator that times its inner iterator's deletion (the stream's close)."""

  closes: list[float] = []

  def __init__(self, inner):
    self.inner = inner

  def __iter__(self):
    return self

  def __next__(self):
    return next(self.inner)

  def __del__(self):
    start = time.perf_counter()
    del self.inner
    _TimedClose.closes.append(time.perf_counter() - start)


def one_run(args, autotune: bool) -> tuple[float, float]:
  from ecgjax.configs import finetune as finetune_config
  from ecgjax.data import pipeline
  from ecgjax.experiments import fine_tuning
  pipeline.TRAIN_STREAM_AUTOTUNE = autotune
  config = finetune_config.get_config()
  config.dataset.data_dir = args.data_dir
  config.init_from = args.init_from
  config.mode, config.train_size, config.total_steps = "scratch", 100, args.steps
  _TimedClose.closes.clear()
  with tempfile.TemporaryDirectory() as workdir:
    start = time.perf_counter()
    fine_tuning.train_and_evaluate(config, workdir)
    wall = time.perf_counter() - start
  return _TimedClose.closes[0], wall


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data_dir", required=True)
  parser.add_argument("--init_from", required=True)
  parser.add_argument("--steps", type=int, default=100)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--out")
  args = parser.parse_args()
  from ecgjax.data import pipeline
  original = pipeline.TfdsInput.train_batches
  pipeline.TfdsInput.train_batches = lambda self, start=0: _TimedClose(original(self, start))
  for autotune in (True, False):
    runs = [one_run(args, autotune) for _ in range(args.repeats)]
    closes, walls = [c for c, _ in runs], [w for _, w in runs]
    emit({"benchmark": "stream_close", "autotune": autotune, "steps": args.steps,
          "train_size": 100, "batch_size": 32, "close_s": statistics.median(closes),
          "closes_s": closes, "run_wall_s": statistics.median(walls), "run_walls_s": walls,
          "host": socket.gethostname(), "cores": os.cpu_count(),
          "command": "python " + " ".join(sys.argv),
          "date": datetime.date.today().isoformat()}, args.out)


if __name__ == "__main__":
  main()
