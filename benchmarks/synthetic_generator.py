"""ECG/s of the synthetic generator on one core, per sampling rate.

  python benchmarks/synthetic_generator.py [--ecgs 300] [--repeats 5] [--out FILE]

The TFDS build runs this generator in one process per CPU (ECGJAX_BUILD_WORKERS),
plus TFRecord writing in the parent. Median of `repeats` timed runs.
"""

import argparse
import datetime
import statistics
import time

from emit import emit
from ecgjax.ecg.synthetic import generator


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--ecgs", type=int, default=300)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--rates", type=int, nargs="+", default=[100, 500])
  parser.add_argument("--out")
  args = parser.parse_args()
  for fs in args.rates:
    rates = []
    for r in range(args.repeats):
      start = time.perf_counter()
      for i in range(args.ecgs):
        generator.generate_record(r, i, 0, fs, 10.0)
      rates.append(args.ecgs / (time.perf_counter() - start))
    result = {"benchmark": "synthetic_generator", "framework": "numpy",
              "sampling_rate": fs, "duration_s": 10.0, "cores": 1,
              "ecg_per_sec": statistics.median(rates), "runs": rates,
              "command": f"python benchmarks/synthetic_generator.py --ecgs {args.ecgs} "
                         f"--repeats {args.repeats} --rates {fs}",
              "date": datetime.date.today().isoformat()}
    emit(result, args.out)


if __name__ == "__main__":
  main()
