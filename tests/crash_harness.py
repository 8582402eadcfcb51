"""A crash at any moment loses nothing: SIGKILL a command at seeded moments, rerun it
until it ends, and compare what it left with a run that was never interrupted.

For each of three commands (a pretraining, a fine-tune that keeps its best model, a
sweep), one straight run lists every moment the code passes (ecgjax.failpoints: after
each step, log line and evaluation, while a checkpoint commits in the background, with
each workdir file written but not yet in place, after the final checkpoint, after the
results, between sweep runs). A seeded sample of those moments is then taken; at each,
a fresh run is killed there with a real SIGKILL (`ECGJAX_FAILPOINT=NAME#N:kill`) and the
same command is run again until it exits 0. The finished workdir must hold:

- the same final parameters and BatchNorm statistics, bit for bit, for every model;
- the same results.json (and, for the sweep, the same results.csv rows);
- no stray temporary file or directory, and no `resume/` left behind.

  python -m tests.crash_harness --data_dir=TFDS_DIR --moments=30 --seed=0 \
      --out=docs/crash_harness.json

builds synthetic_ecg/tiny into TFDS_DIR if needed, and prints and writes the report.
tests/test_crash_harness.py runs its fast form (a few moments per command) in CI.
"""

import argparse
import csv
import dataclasses
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

from tests.helpers import REPO, xla_flags

RERUNS = 4            # a command killed once ends in at most this many reruns

# Moments every sample holds, where the issue said the danger lies.
MUST = {
    "pretrain": ["final_checkpoint_committed#1", "writing:results.json#1",
                 "checkpoint_saving#1", "writing:predictions.npz#1"],
    "finetune": ["final_checkpoint_committed#1", "writing:results.json#1",
                 "checkpoint_saving#1", "results_committed#1"],
    "sweep": ["between_runs#2", "writing:results.csv#1", "writing:report.md#1",
              "results_committed#1"],
}


def command(name: str, workdir: str, data_dir: str, init_from: str) -> list[str]:
  """The three commands, on synthetic_ecg/tiny, with enough steps to hold 30 moments."""
  python = [sys.executable, "-m"]
  if name == "pretrain":
    return python + ["ecgjax.main", f"--config=tests/configs/tiny_pretrain.py:{data_dir}",
                     f"--workdir={workdir}", "--config.total_steps=12",
                     "--config.eval_every=6", "--config.checkpoint_every=3"]
  if name == "finetune":
    return python + ["ecgjax.finetune",
                     f"--config=tests/configs/tiny_finetune.py:{data_dir},{init_from}",
                     f"--workdir={workdir}", "--config.mode=full", "--config.total_steps=12",
                     "--config.eval_every=3", "--config.checkpoint_every=3"]
  if name == "sweep":
    return python + ["ecgjax.main",
                     f"--config=tests/configs/tiny_compare.py:{data_dir},{init_from}",
                     f"--workdir={workdir}", "--config.modes=scratch,linear_probe,full",
                     "--config.train_sizes=60", "--config.total_steps=6",
                     "--config.eval_every=2", "--config.checkpoint_every=2"]
  raise ValueError(name)


def environment(**extra) -> dict:
  env = {**os.environ, "XLA_FLAGS": xla_flags(1), **extra}
  env.setdefault("JAX_COMPILATION_CACHE_DIR",
                 os.path.join(REPO, ".pytest_cache", "jax_compilation_cache"))
  env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
  env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  env.pop("ECGJAX_FAILPOINT", None)
  env.pop("ECGJAX_FAILPOINT_LOG", None)
  env.update(extra)
  return env


def run(argv: list[str], **env) -> subprocess.CompletedProcess:
  return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=900,
                        env=environment(**env))


def moments_of(log_path: str) -> list[str]:
  """`NAME#N` for every moment a run passed, in order."""
  seen: dict[str, int] = {}
  out = []
  with open(log_path) as f:
    for name in filter(None, (line.strip() for line in f)):
      seen[name] = seen.get(name, 0) + 1
      out.append(f"{name}#{seen[name]}")
  return out


def choose(moments: list[str], count: int, must: list[str], seed: int) -> list[str]:
  """`count` moments (all of them when fewer): those in `must` that the run passed,
  then a seeded sample of the rest, in the order the run passes them."""
  chosen = [m for m in must if m in moments]
  rest = [m for m in moments if m not in chosen]
  chosen += random.Random(seed).sample(rest, max(0, min(count - len(chosen), len(rest))))
  return sorted(chosen, key=moments.index)


def model_dirs(workdir: str, name: str) -> list[str]:
  if name != "sweep":
    return [workdir]
  runs = os.path.join(workdir, "runs")
  return sorted(root for root, dirs, _ in os.walk(runs) if "checkpoints" in dirs)


def finished_state(workdir: str, name: str) -> dict:
  """What a finished workdir holds that must not depend on interruptions."""
  from ecgjax.training import checkpoints
  state = {}
  for d in model_dirs(workdir, name):
    saved = checkpoints.read_pretrained(d)
    with open(os.path.join(d, "results.json")) as f:
      results = json.load(f)
    state[os.path.relpath(d, workdir)] = (saved.step, saved.params, saved.batch_stats, results)
  if name == "sweep":
    with open(os.path.join(workdir, "results.csv")) as f:
      state["results.csv"] = list(csv.DictReader(f))
  return state


def differences(expected: dict, actual: dict) -> list[str]:
  import jax
  found = []
  if set(expected) != set(actual):
    return [f"models {sorted(actual)} instead of {sorted(expected)}"]
  for key, want in expected.items():
    got = actual[key]
    if key == "results.csv":
      if got != want:
        found.append("results.csv rows differ")
      continue
    if got[0] != want[0]:
      found.append(f"{key}: final step {got[0]} instead of {want[0]}")
    leaves = zip(jax.tree.leaves(want[1:3]), jax.tree.leaves(got[1:3]))
    if not all(np.array_equal(a, b) for a, b in leaves):
      found.append(f"{key}: parameters or BatchNorm statistics differ")
    if got[3] != want[3]:
      found.append(f"{key}: results.json differs")
  return found


def strays(workdir: str) -> list[str]:
  """Temporary files and directories, and resume/, left in a finished workdir."""
  found = []
  for root, dirs, files in os.walk(workdir):
    for entry in dirs + files:
      if (entry.endswith(".tmp") or "orbax-checkpoint-tmp" in entry
          or (entry == "resume" and entry in dirs)):
        found.append(os.path.relpath(os.path.join(root, entry), workdir))
  return found


@dataclasses.dataclass
class Outcome:
  command: str
  moment: str
  killed: bool          # the process died of SIGKILL at the moment
  reruns: int           # runs after the kill until exit code 0
  lost: bool            # no finished run after RERUNS reruns
  differences: list
  strays: list

  @property
  def ok(self) -> bool:
    return self.killed and not self.lost and not self.differences and not self.strays


def kill_and_rerun(name: str, moment: str, workdir: str, data_dir: str, init_from: str,
                   expected: dict) -> Outcome:
  argv = command(name, workdir, data_dir, init_from)
  first = run(argv, ECGJAX_FAILPOINT=f"{moment}:kill")
  killed = first.returncode == -signal.SIGKILL
  reruns, done = 0, not killed and first.returncode == 0
  last = first
  while not done and reruns < RERUNS:
    last = run(argv)
    reruns += 1
    done = last.returncode == 0
  if not done:
    return Outcome(name, moment, killed, reruns, True,
                   [f"exit {last.returncode}: {last.stderr[-2000:]}"], [])
  return Outcome(name, moment, killed, reruns, False,
                 differences(expected, finished_state(workdir, name)), strays(workdir))


def seeded_sample(count: int, seed: int):
  """The full form's choice: `pick(command, moments passed)` for `harness`."""
  return lambda name, passed: choose(passed, count, MUST[name], seed)


def harness(names: list[str], data_dir: str, root: str, pick, progress=print) -> dict:
  """Runs the harness on `names`, killing each at the moments `pick(name, passed)`
  chooses among those its straight run passed; returns the report (per command: the
  moments, what was lost, what differed)."""
  init_from = os.path.join(root, "pretrain_reference")
  report = {"commands": {}}
  # The straight runs, each listing its moments; the fine-tune and the sweep start from
  # the straight pretraining.
  for name in ["pretrain"] + [n for n in names if n != "pretrain"]:
    reference = os.path.join(root, f"{name}_reference")
    straight = run(command(name, reference, data_dir, init_from),
                   ECGJAX_FAILPOINT_LOG=os.path.join(root, f"{name}_moments.log"))
    if straight.returncode != 0:
      raise RuntimeError(f"{name}: the straight run failed:\n{straight.stderr[-3000:]}")
  for name in names:
    reference = os.path.join(root, f"{name}_reference")
    log = os.path.join(root, f"{name}_moments.log")
    started = time.perf_counter()
    expected = finished_state(reference, name)
    passed = moments_of(log)
    chosen = pick(name, passed)
    outcomes = []
    for i, moment in enumerate(chosen):
      workdir = os.path.join(root, f"{name}_{i}")
      outcome = kill_and_rerun(name, moment, workdir, data_dir, init_from, expected)
      outcomes.append(outcome)
      progress(f"{name} {i + 1}/{len(chosen)} {moment}: "
               f"{'ok' if outcome.ok else 'FAILED'} ({outcome.reruns} rerun(s))"
               + ("" if outcome.ok else f" {outcome.differences} {outcome.strays}"
                  f"{'' if outcome.killed else ' (not killed there)'}"))
      shutil.rmtree(workdir, ignore_errors=True)
    report["commands"][name] = {
        "moments_passed": len(passed), "moments_tried": len(chosen),
        "not_killed": sum(not o.killed for o in outcomes),
        "runs_that_lost_anything": sum(o.lost for o in outcomes),
        "runs_with_differences": sum(bool(o.differences) for o in outcomes),
        "runs_with_strays": sum(bool(o.strays) for o in outcomes),
        "max_reruns": max((o.reruns for o in outcomes), default=0),
        "seconds": round(time.perf_counter() - started),
        "outcomes": [dataclasses.asdict(o) for o in outcomes]}
  return report


def ensure_tiny_dataset(data_dir: str) -> None:
  from tfds_builders.synthetic_ecg import synthetic_ecg_dataset_builder as synthetic
  builder = synthetic.Builder(config="tiny", data_dir=data_dir)
  if not builder.is_prepared():
    builder.download_and_prepare()


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--data_dir", default=os.path.join(tempfile.gettempdir(), "ecgjax_tfds"))
  parser.add_argument("--moments", type=int, default=30)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--commands", default="pretrain,finetune,sweep")
  parser.add_argument("--out", default="")
  args = parser.parse_args()
  ensure_tiny_dataset(args.data_dir)
  with tempfile.TemporaryDirectory() as root:
    report = harness(args.commands.split(","), args.data_dir, root,
                     seeded_sample(args.moments, args.seed),
                     progress=lambda line: print(line, flush=True))
  report.update(seed=args.seed, moments_per_command=args.moments)
  summary = {name: {k: v for k, v in entry.items() if k != "outcomes"}
             for name, entry in report["commands"].items()}
  print(json.dumps(summary, indent=2))
  if args.out:
    with open(args.out, "w") as f:
      json.dump(report, f, indent=1)


if __name__ == "__main__":
  main()
