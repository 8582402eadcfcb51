"""A longer run of the reader fuzzers, with fresh randomness: counts per outcome.

  python -m tests.fuzz_readers --per_reader 2000 [--seed N] [--out fuzz.json]

Each case is a real sample with 1-3 random mutations (tests/reader_fuzzing.py),
read in a child process with a time limit, so a hang or a crash in a C library
(HDF5, expat) is counted too instead of stopping the run. Prints a JSON object:
per reader, outcome -> count, and the first few cases of every outcome that is
not 'read' or a RecordFormatError. Exit status 1 when any such case was found.
"""

import argparse
import collections
import json
import multiprocessing
import sys
import tempfile
import time

import numpy as np

from tests import reader_fuzzing
from tests.helpers import SHARED_DATA

TIME_LIMIT_S = 20.0


def random_mutations(rng: np.random.Generator) -> list[reader_fuzzing.Mutation]:
  return [reader_fuzzing.Mutation(
      kind=str(rng.choice(reader_fuzzing.KINDS)), where=float(rng.random()),
      length=int(rng.integers(1, 4097)),
      payload=rng.integers(0, 256, size=int(rng.integers(1, 65)), dtype=np.uint8).tobytes())
      for _ in range(int(rng.integers(1, 4)))]


def _worker(jobs, results, shared_data):
  targets = reader_fuzzing.targets(shared_data)
  directory = tempfile.mkdtemp(prefix="fuzz_")
  for name, sample, file_index, mutations in iter(jobs.get, None):
    try:
      outcome = reader_fuzzing.run_once(targets[name], directory, sample, file_index, mutations)
    except reader_fuzzing.EscapedError as e:
      outcome = f"ESCAPED {e.__cause__.__class__.__name__}: {str(e)[:300]}"
    results.put(outcome)


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--per_reader", type=int, default=2000)
  parser.add_argument("--seed", type=int, default=None, help="default: fresh randomness")
  parser.add_argument("--readers", default="wfdb,physionet,muse_xml,hl7_aecg,code15")
  parser.add_argument("--out", default="")
  args = parser.parse_args()
  seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % 2**32)
  rng = np.random.default_rng(seed)
  context = multiprocessing.get_context("spawn")
  report = {"seed": seed, "per_reader": args.per_reader, "time_limit_s": TIME_LIMIT_S,
            "readers": {}}
  bad = 0
  for name in args.readers.split(","):
    counts: collections.Counter = collections.Counter()
    examples: dict[str, str] = {}
    jobs, results = context.Queue(), context.Queue()
    worker = context.Process(target=_worker, args=(jobs, results, SHARED_DATA), daemon=True)
    worker.start()
    began = time.perf_counter()
    for _ in range(args.per_reader):
      case = (name, int(rng.integers(8)), int(rng.integers(2)), random_mutations(rng))
      jobs.put(case)
      try:
        outcome = results.get(timeout=TIME_LIMIT_S + (60 if counts.total() == 0 else 0))
      except Exception:  # queue.Empty: a hang, or the child died (a crash in C)
        outcome = "HANG" if worker.is_alive() else f"CRASH (exit code {worker.exitcode})"
        worker.kill()
        worker.join()
        jobs, results = context.Queue(), context.Queue()
        worker = context.Process(target=_worker, args=(jobs, results, SHARED_DATA), daemon=True)
        worker.start()
      key = outcome.split(":")[0] if outcome.startswith("ESCAPED") else outcome
      counts[key] += 1
      if not (outcome == "read" or outcome.startswith("RecordFormatError")):
        bad += 1
        examples.setdefault(key, f"{outcome} | case {case}"[:4000])
    jobs.put(None)
    worker.join(timeout=10)
    report["readers"][name] = {"cases": args.per_reader,
                               "seconds": round(time.perf_counter() - began, 1),
                               "outcomes": dict(counts.most_common()), "bad_examples": examples}
    print(f"{name}: {dict(counts.most_common())}", file=sys.stderr)
  text = json.dumps(report, indent=2)
  print(text)
  if args.out:
    with open(args.out, "w") as f:
      f.write(text + "\n")
  return 1 if bad else 0


if __name__ == "__main__":
  sys.exit(main())
