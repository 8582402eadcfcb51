"""ECG/s of the synthetic generator on one core, per sampling rate.

  python benchmarks/synthetic_generator.py [--ecgs 300] [--repeats 5] [--out FILE]

The TFDS build runs this generator in one process per CPU (ECGJAX_BUILD_WORKERS),
plus TFRecord writing in the parent. Median of `repeats` timed runs. Each rate gives
two lines: `built` (an ECG as a build makes it) and `fresh` (a fresh ECG for
`dataset.fresh_ecgs`, which also draws its patient in proportion to their ECG count
and stores it as int16), measured alternately in the same run.
"""

import argparse
import datetime
import statistics
import time

from emit import emit
from ecgjax.synthetic import generator


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--ecgs", type=int, default=300)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--rates", type=int, nargs="+", default=[100, 500])
  parser.add_argument("--out")
  args = parser.parse_args()
  kinds = {"built": lambda r, i, fs: generator.generate_record(r, i, 0, fs, 10.0),
           "fresh": lambda r, i, fs: generator.fresh_example(r, i, fs, 10.0)}
  for fs in args.rates:
    rates = {kind: [] for kind in kinds}
    for r in range(args.repeats):
      for kind, make in kinds.items():
        start = time.perf_counter()
        for i in range(args.ecgs):
          make(r, i, fs)
        rates[kind].append(args.ecgs / (time.perf_counter() - start))
    for kind in kinds:
      emit({"benchmark": "synthetic_generator", "framework": "numpy", "kind": kind,
            "sampling_rate": fs, "duration_s": 10.0, "cores": 1,
            "ecg_per_sec": statistics.median(rates[kind]), "runs": rates[kind],
            "command": f"python benchmarks/synthetic_generator.py --ecgs {args.ecgs} "
                       f"--repeats {args.repeats} --rates {fs}",
            "date": datetime.date.today().isoformat()}, args.out)


if __name__ == "__main__":
  main()
