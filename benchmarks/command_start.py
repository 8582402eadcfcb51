"""What a training command spends before its first step on importing TensorFlow, with
Keras kept out of the import (what `ecgjax.main` and `ecgjax.finetune` do) and without.

  python benchmarks/command_start.py [--runs 7] [--out benchmarks/results/command_start_cpu.jsonl]

Each run is a fresh process that calls `ecgjax.cli.import_tensorflow_quietly`, as a
command does once its command line is checked; the two variants alternate so that a
change in the machine's load falls on both. One JSON line per variant: the median of
`--runs` runs, and whether Keras was loaded afterwards.
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = """
import json, sys, time
started = time.perf_counter()
from ecgjax import cli
cli.import_tensorflow_quietly(keep_keras_out={keep_keras_out})
print(json.dumps({{"import_s": time.perf_counter() - started,
                  "keras_loaded": "keras" in sys.modules}}))
"""


def measure(keep_keras_out: bool) -> dict:
  out = subprocess.run([sys.executable, "-c", CHILD.format(keep_keras_out=keep_keras_out)],
                       cwd=REPO, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
                       capture_output=True, text=True, check=True)
  return json.loads(out.stdout.strip().splitlines()[-1])


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--runs", type=int, default=7)
  parser.add_argument("--out")
  args = parser.parse_args()
  sys.path.insert(0, os.path.join(REPO, "benchmarks"))
  from emit import emit
  measure(True)         # the first import after an install also fills the OS's file cache
  runs = {True: [], False: []}
  for _ in range(args.runs):
    for keep_keras_out in (True, False):
      runs[keep_keras_out].append(measure(keep_keras_out))
  medians = {k: statistics.median(r["import_s"] for r in v) for k, v in runs.items()}
  for keep_keras_out, measured in runs.items():
    emit({"benchmark": "command_start", "framework": "tensorflow",
          "variant": "keras kept out" if keep_keras_out else "keras imported",
          "import_s": medians[keep_keras_out],
          "import_s_range": [min(r["import_s"] for r in measured),
                             max(r["import_s"] for r in measured)],
          "saved_s": medians[False] - medians[True] if keep_keras_out else None,
          "keras_loaded": measured[0]["keras_loaded"], "runs": len(measured),
          "cpus": os.cpu_count(), "command": "python " + " ".join(sys.argv),
          "date": datetime.date.today().isoformat()}, args.out)


if __name__ == "__main__":
  main()
