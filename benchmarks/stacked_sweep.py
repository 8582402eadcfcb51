"""The comparison sweep stacked (training.stacked) against one run at a time, side by
side in one invocation, and the memory a stacked group's train step plans for.

  python benchmarks/stacked_sweep.py --data_dir=TFDS_DIR --init_from=MODEL \
      [--seeds=0,1,2] [--modes=scratch,random_probe,linear_probe,full] \
      [--train_sizes=100,500] [--stack_sizes=1,8] [--out=benchmarks/results/stacked_sweep.jsonl]

First, per group size K (`--step_runs`), the train step of K stacked demo fine-tunes (the
`small` model, batch 32, 10 s at 100 Hz, 12 leads) against one run's step on this host,
ECG/s as medians of timed windows, and XLA's planned bytes for it. Then each sweep is the
demo's (the rare labels of synthetic_ecg/demo, 200 steps) with `--seeds`, `--modes` and
`--train_sizes`, run by the real command in a fresh process and workdir per stack size:
its wall time, the seconds XLA spent compiling (JAX_LOG_COMPILES's lines), and the
headline (full against scratch at n=100 with its CI, and the seeds' spread) so the two
can be seen to agree. TFDS_DIR must hold synthetic_ecg/demo; MODEL is a pretrained
12-lead model at 100 Hz (a workdir, or a shipped model's name).
"""

import argparse
import datetime
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from benchmarks.emit import emit  # noqa: E402

COMPILED = re.compile(r"Finished XLA compilation of .* in ([0-9.e-]+) (ms|sec|s)\b")


def sweep(data_dir: str, init_from: str, seeds: str, modes: str, sizes: str,
          stack_size: int) -> dict:
  with tempfile.TemporaryDirectory() as workdir:
    argv = [sys.executable, "-m", "ecgjax.main", "--config=ecgjax/configs/compare.py",
            f"--workdir={workdir}", f"--config.init_from={init_from}",
            f"--config.dataset.data_dir={data_dir}", "--config.labels=rare",
            f"--config.train_sizes={sizes}", f"--config.seeds={seeds}",
            f"--config.modes={modes}",
            "--config.total_steps=200", "--config.roc_train_size=100",
            f"--config.stack_size={stack_size}"]
    start = time.monotonic()
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "JAX_LOG_COMPILES": "1"})
    wall = time.monotonic() - start
    if done.returncode:
      raise SystemExit(f"stack_size={stack_size}: exit {done.returncode}\n{done.stderr[-3000:]}")
    compile_s = sum(float(v) / (1000 if unit == "ms" else 1)
                    for v, unit in COMPILED.findall(done.stderr))
    return {"wall_s": wall, "compile_s": compile_s, "compile_share": compile_s / wall,
            **headline(workdir)}


def headline(workdir: str) -> dict:
  """The runs trained, each mode's macro AUROC at n=100 and full - scratch there, with
  its CI and seed spread, recomputed from the runs' committed results."""
  import glob
  import numpy as np
  from ecgjax.evaluation import sweep_runs, sweep_statistics
  runs = sweep_runs.load_runs(sorted(glob.glob(os.path.join(workdir, "runs", "*", "*", "*"))))
  summary = sweep_statistics.summarize(runs)
  macro = next(row for row in summary["table"]
               if row["label"] == sweep_statistics.MACRO_LABEL and row["train_size"] == 100)
  point, low, high, p = macro["full_minus_scratch"]
  seeds_full = [np.mean([r.results["labels"][n]["auroc"]["value"] for n in r.results["labels"]
                         if r.results["labels"][n]["auroc"]])
                for r in runs if r.mode == "full" and r.train_size == 100]
  return {"runs": len(runs),
          "macro_auroc_n100": {m: v[0] for m, v in macro["modes"].items()},
          "full_minus_scratch_n100": {"difference": point, "ci_low": low, "ci_high": high,
                                      "p": p},
          "full_n100_seed_range": [min(seeds_full), max(seeds_full)] if seeds_full else None}


def stacked_step(runs: int, windows: int = 5, steps_per_window: int = 3) -> dict:
  """The stacked train step of `runs` demo fine-tunes (the `small` model, batch 32, 10 s
  at 100 Hz, 12 leads, 3 labels) against one run's: ECG/s, medians over timed windows
  (compilation left out), and XLA's planned bytes for each."""
  import statistics
  import jax
  import jax.numpy as jnp
  import numpy as np
  from ecgjax.configs import common
  from ecgjax.models import resnet1d
  from ecgjax.training import model_init, optimizers, stacked, steps
  config = common.finetune_defaults()
  model = model_init.build_model(resnet1d.config_from(config.model), 3, 12, 0)
  tx = optimizers.make_optimizer(optimizers.OptimizerConfig.from_section(config.optimizer),
                                 config.total_steps)
  graphdef, state = steps.init_state(model, tx)
  states = jax.tree.map(lambda x: jnp.stack([x] * runs), state)
  batch = {"signal": np.zeros((runs, config.batch_size, 1000, 12), np.int16),
           "labels": np.zeros((runs, config.batch_size, 3), np.float32)}
  keys = jax.vmap(jax.random.key)(jnp.arange(runs))
  group = jax.jit(steps.stacked_train_step_fn(graphdef, tx)).lower(states, batch,
                                                                   keys).compile()
  one_batch = jax.tree.map(lambda x: x[0], batch)
  alone = jax.jit(steps.train_step_fn(graphdef, tx, 0)).lower(state, one_batch).compile()

  def ecg_per_s(step, args, ecgs):
    times = []
    for _ in range(windows):
      start = time.perf_counter()
      for _ in range(steps_per_window):
        out = step(*args)
      jax.block_until_ready(out)
      times.append((time.perf_counter() - start) / steps_per_window)
    return ecgs / statistics.median(times)

  one = ecg_per_s(alone, (state, one_batch), config.batch_size)
  stacked_rate = ecg_per_s(group, (states, batch, keys), runs * config.batch_size)
  return {"runs": runs, "one_run_ecg_per_s": one, "stacked_ecg_per_s": stacked_rate,
          "stacked_vs_one": stacked_rate / one, "bytes": stacked.bytes_needed(group),
          "one_run_bytes": stacked.bytes_needed(alone), "backend": jax.default_backend()}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--data_dir", required=True)
  parser.add_argument("--init_from", required=True)
  parser.add_argument("--seeds", default="0,1,2")
  parser.add_argument("--modes", default="scratch,random_probe,linear_probe,full")
  parser.add_argument("--train_sizes", default="100,500")
  parser.add_argument("--stack_sizes", default="1,8")
  parser.add_argument("--step_runs", default="2,4,6,8")
  parser.add_argument("--out")
  args = parser.parse_args()
  common = {"host": socket.gethostname(), "cpus": os.cpu_count(),
            "date": datetime.date.today().isoformat()}
  for runs in (int(k) for k in args.step_runs.split(",") if k):
    emit({"benchmark": "stacked_step", **stacked_step(runs), **common}, args.out)
  for size in (int(s) for s in args.stack_sizes.split(",") if s):
    emit({"benchmark": "stacked_sweep", "stack_size": size, "seeds": args.seeds,
          "modes": args.modes, "train_sizes": args.train_sizes,
          **sweep(args.data_dir, args.init_from, args.seeds, args.modes, args.train_sizes,
                  size), **common}, args.out)


if __name__ == "__main__":
  main()
