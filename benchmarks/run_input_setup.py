"""What each run of a sweep spends setting up its input before it trains: the source
(`run_input.make_input`), its training subset of whole patients
(`restrict_training_set`) and the evaluation splits' positives (the warning of
`fine_tuning.too_few_to_measure`), for the demo's sweep (4 modes x 3 seeds at 100
training ECGs, synthetic_ecg/demo: 12,821 training ECGs), run after run in one process
as the sweep runs them.

  python benchmarks/run_input_setup.py --data_dir=TFDS_DIR [--repeats 3] \
      [--out benchmarks/results/run_input_setup_cpu.jsonl]

Two variants, alternating: the process keeps each split's index once read
(`pipeline._SplitIndexes`, what runs do), and every run reads it again (the index
forgotten before each run, as before). One JSON line per variant: the median over
`--repeats` sweeps of the sweep's total and of its runs after the first.
"""

import argparse
import datetime
import os
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def demo_runs(data_dir: str):
  from ecgjax.configs import demo
  from ecgjax.experiments import sweep, validation
  config = demo.get_config().compare
  config.dataset.data_dir = data_dir
  config.init_from = "unused"              # the input's set-up reads no checkpoint
  configs = sweep.run_configs(config)
  return [(c, validation.validate_finetune(c)) for c in configs]


def set_up(config, spec) -> None:
  from ecgjax.data import run_input
  from ecgjax.experiments import fine_tuning
  source = run_input.make_input(config, spec)
  source.restrict_training_set(config.train_size, config.min_positives, config.seed)
  fine_tuning.too_few_to_measure(source, config)


def one_sweep(runs, keep_indexes: bool) -> list[float]:
  from ecgjax.data import pipeline
  pipeline._SPLIT_INDEXES = pipeline._SplitIndexes()      # each sweep starts empty
  seconds = []
  for config, spec in runs:
    if not keep_indexes:
      pipeline._SPLIT_INDEXES = pipeline._SplitIndexes()
    started = time.perf_counter()
    set_up(config, spec)
    seconds.append(time.perf_counter() - started)
  return seconds


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data_dir", required=True, help="where synthetic_ecg/demo is built")
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--out")
  args = parser.parse_args()
  sys.path.insert(0, os.path.join(REPO, "benchmarks"))
  from emit import emit
  from ecgjax import cli
  cli.import_tensorflow_quietly()
  runs = demo_runs(args.data_dir)
  one_sweep(runs[:1], True)          # TensorFlow's first graph, and the file cache
  sweeps = {True: [], False: []}
  for _ in range(args.repeats):
    for keep in (True, False):
      sweeps[keep].append(one_sweep(runs, keep))
  totals = {k: statistics.median(sum(s) for s in v) for k, v in sweeps.items()}
  for keep, measured in sweeps.items():
    emit({"benchmark": "run_input_setup", "dataset": "synthetic_ecg/demo",
          "variant": "split index kept" if keep else "split index read per run",
          "runs": len(runs), "sweep_s": totals[keep],
          "sweep_s_range": [min(map(sum, measured)), max(map(sum, measured))],
          "first_run_s": statistics.median(s[0] for s in measured),
          "later_run_s": statistics.median(x for s in measured for x in s[1:]),
          "saved_s": totals[False] - totals[True] if keep else None,
          "repeats": args.repeats, "cpus": os.cpu_count(),
          "command": "python " + " ".join(sys.argv),
          "date": datetime.date.today().isoformat()}, args.out)


if __name__ == "__main__":
  main()
