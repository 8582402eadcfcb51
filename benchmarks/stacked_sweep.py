"""The comparison sweep stacked (training.stacked) against one run at a time, side by
side in one invocation, and the memory a stacked group's train step plans for.

  python benchmarks/stacked_sweep.py --data_dir=TFDS_DIR --init_from=MODEL \
      [--seeds=0,1,2] [--stack_sizes=1,8] [--out=benchmarks/results/stacked_sweep.jsonl]

Each sweep is the demo's (the rare labels of synthetic_ecg/demo, sizes 100 and 500, 200
steps, the four modes) with `--seeds`, run by the real command in a fresh process and
workdir: its wall time, the seconds XLA spent compiling (JAX_LOG_COMPILES's lines), and
the headline (full against scratch at n=100, macro AUROC difference with its CI) so the
two can be seen to agree. TFDS_DIR must hold synthetic_ecg/demo; MODEL is a pretrained
12-lead model at 100 Hz (a workdir, or a shipped model's name). Then one line per group
size K with XLA's planned bytes for the train step of K stacked demo fine-tunes.
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


def sweep(data_dir: str, init_from: str, seeds: str, stack_size: int) -> dict:
  with tempfile.TemporaryDirectory() as workdir:
    argv = [sys.executable, "-m", "ecgjax.main", "--config=ecgjax/configs/compare.py",
            f"--workdir={workdir}", f"--config.init_from={init_from}",
            f"--config.dataset.data_dir={data_dir}", "--config.labels=rare",
            "--config.train_sizes=100,500", f"--config.seeds={seeds}",
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
          "full_n100_seed_range": [min(seeds_full), max(seeds_full)]}


def memory(runs: int) -> dict:
  """XLA's planned bytes for the stacked train step of `runs` demo fine-tunes (the
  `small` model, batch 32, 10 s at 100 Hz, 12 leads, 3 labels) on this host's device."""
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
  compiled = jax.jit(steps.stacked_train_step_fn(graphdef, tx)).lower(states, batch,
                                                                      keys).compile()
  return {"runs": runs, "bytes": stacked.bytes_needed(compiled)}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--data_dir", required=True)
  parser.add_argument("--init_from", required=True)
  parser.add_argument("--seeds", default="0,1,2")
  parser.add_argument("--stack_sizes", default="1,8")
  parser.add_argument("--memory_runs", default="1,3,6,8,16")
  parser.add_argument("--out")
  args = parser.parse_args()
  common = {"host": socket.gethostname(), "cpus": os.cpu_count(),
            "date": datetime.date.today().isoformat()}
  for size in (int(s) for s in args.stack_sizes.split(",")):
    emit({"benchmark": "stacked_sweep", "stack_size": size, "seeds": args.seeds,
          **sweep(args.data_dir, args.init_from, args.seeds, size), **common}, args.out)
  lines = [memory(int(k)) for k in args.memory_runs.split(",")]
  one = lines[0]["bytes"]
  for line in lines:
    emit({"benchmark": "stacked_memory", **line,
          "per_run_vs_one": line["bytes"] / line["runs"] / one if one else None, **common},
         args.out)


if __name__ == "__main__":
  main()
