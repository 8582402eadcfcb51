"""What a logged line costs when the workdir is a bucket, as a run grows to 100,000 steps.

An object store cannot append, so metrics.jsonl and the TensorBoard event file are
uploaded whole. Uploading them at every logged line (what ecgjax did) costs more
with every line: the object grows with the run. ecgjax now holds them in memory and
uploads them after each checkpoint and at most once a minute (storage.Appender).
Both are measured here in one run, against a real GCS emulator on this machine
(fake-gcs-server, the one the bucket tests start), through ecgjax's own MetricWriter:

  python benchmarks/bucket_metrics.py --steps=100000 --log_every=100 \
      --checkpoint_every=1000 --out=benchmarks/results/bucket_metrics.jsonl

Per variant it reports the median seconds per logged line over the first and the last
10% of the run (a line's time includes the checkpoint's sync that follows it), the
objects uploaded, and the bytes sent. The emulator is local, so
the absolute times are far below a real bucket's; the growth is what carries over.
"""

import argparse
import datetime
import os
import socket
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.emit import emit  # noqa: E402
from tests.helpers import GcsEmulator  # noqa: E402


def eval_line(step: int) -> dict:
  """An evaluation line as pretraining logs it: 39 labels' AUROCs."""
  return {"split": "validation", "auroc": {f"label_{k}": 0.9 for k in range(39)},
          "auroc_median": 0.9, "auroc_mean": 0.9, "labels_defined": 39, "labels_total": 39,
          "examples": 1000}


def measure(workdir: str, steps: int, log_every: int, checkpoint_every: int, eval_every: int,
            upload_every_line: bool) -> dict:
  from ecgjax import storage
  from ecgjax.training.metric_writer import MetricWriter
  writer = MetricWriter(workdir)
  if upload_every_line:          # the former behaviour: the object rewritten per line
    for appender in (writer._jsonl, writer._events):
      appender.upload_every_s = 0.0
  times = []
  for step in range(log_every, steps + 1, log_every):
    started = time.perf_counter()
    writer.write(step, {"loss": 1.0 / step, "grad_norm": 1.0, "learning_rate": 1e-3,
                        "ecg_per_sec": 1000.0, "ecg_per_sec_per_device": 1000.0,
                        "step_time_s": 0.1})
    if step % eval_every == 0:
      writer.write(step, eval_line(step))
    if step % checkpoint_every == 0:
      writer.sync()
    times.append(time.perf_counter() - started)
  writer.close()
  uploads = writer._jsonl.uploads + writer._events.uploads
  sent = writer._jsonl.bytes_uploaded + writer._events.bytes_uploaded
  size = len(storage.path(storage.join(workdir, "metrics.jsonl")).read_bytes())
  tenth = max(1, len(times) // 10)
  return {"lines": len(times), "first_10pct_s_per_line": statistics.median(times[:tenth]),
          "last_10pct_s_per_line": statistics.median(times[-tenth:]),
          "total_s": sum(times), "uploads": uploads, "bytes_uploaded": sent,
          "metrics_jsonl_bytes": size}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--steps", type=int, default=100_000)
  parser.add_argument("--log_every", type=int, default=100)
  parser.add_argument("--eval_every", type=int, default=5_000)
  parser.add_argument("--checkpoint_every", type=int, default=1_000)
  parser.add_argument("--out", default="")
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as root:
    emulator = GcsEmulator(os.path.join(root, "objects"))
    os.environ.update(emulator.env)
    emulator.start()
    try:
      bucket = emulator.make_bucket("ecgjax-bench")
      for variant, every_line in (("upload_every_line", True), ("upload_after_checkpoints", False)):
        result = measure(f"{bucket}/{variant}", args.steps, args.log_every,
                         args.checkpoint_every, args.eval_every, every_line)
        emit({"benchmark": "bucket_metrics", "variant": variant, "steps": args.steps,
              "log_every": args.log_every, "checkpoint_every": args.checkpoint_every,
              "eval_every": args.eval_every, **result, "storage": "fake-gcs-server on 127.0.0.1",
              "host": socket.gethostname(), "command": " ".join(sys.argv),
              "date": datetime.date.today().isoformat()}, args.out)
    finally:
      emulator.stop()


if __name__ == "__main__":
  main()
