"""The CinC 2017 recipes (ecgjax/configs/cinc2017.py and its variants) trained and
scored one after another: each one's Challenge score with its 95% CI, per-class F1,
confusion matrix and cost, one JSON line per recipe.

  tfds build tfds_builders/physionet2017 --manual_dir=CINC --data_dir=D \\
      --config=challenge_100     # and challenge_300, challenge_100_whole as the recipes need
  python benchmarks/cinc2017_recipes.py --data_dir D --workdir W \\
      --recipes windows_100,windows_300,whole_100,whole_100_attention \\
      [--against windows_100] [--out benchmarks/results/cinc2017.jsonl] \
      [-- --config.seed=1 ...]

Each recipe is `python -m ecgjax.main --config=ecgjax/configs/cinc2017.py:RECIPE` in a
fresh process, in W/RECIPE; a recipe whose results.json exists is read, not trained
again (its line then has no `wall_s`). `wall_s` is the whole command (compiling, the
evaluations and the test bootstrap included) on this machine, `cores` its CPU count.
The score is on the builder's test split (480 of the 5,000 records A00001-A05000),
never used to choose anything. `--against R`: each line also holds its score minus
R's, on the same recordings, with a paired record-bootstrap CI
(evaluation.challenge2017.paired_difference): two recipes whose own intervals overlap
can still differ.
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import time

import numpy as np

from emit import emit

from ecgjax.evaluation import challenge2017, sweep_runs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def summarise(workdir: str) -> dict:
  """A finished run's Challenge score, per-class F1, confusion and macro AUROC."""
  with open(os.path.join(workdir, "results.json")) as f:
    results = json.load(f)
  score = results["challenge2017"]
  (group,) = results["exclusive_groups"] or [None]
  return {
      "dataset": results["dataset"], "step": results["step"],
      "records": score["records"],
      "challenge_score": score["score"],
      "f1": score["f1"],
      "macro_f1": group and group["macro_f1"],
      "confusion": group and group["confusion"],
      "macro_auroc": results["macro_auroc"],
  }


def tested_classes(workdir: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(recording keys, reference class, classified class) of a run's test split."""
  return challenge2017.tested_classes(sweep_runs.read_predictions(workdir))


def difference(workdir: str, against_dir: str) -> dict:
  keys, reference, predicted = tested_classes(workdir)
  against_keys, against_reference, against_predicted = tested_classes(against_dir)
  if not (np.array_equal(keys, against_keys) and np.array_equal(reference, against_reference)):
    raise SystemExit(f"{workdir} and {against_dir} were not tested on the same recordings")
  return challenge2017.paired_difference(reference, against_predicted, predicted)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--data_dir", required=True, help="where physionet2017 is built")
  parser.add_argument("--workdir", required=True, help="one subdirectory per recipe")
  parser.add_argument("--recipes", default="windows_100",
                      help="comma-separated variants of configs/cinc2017.py")
  parser.add_argument("--against", default="",
                      help="a recipe (run here too) to give each score's paired difference to")
  parser.add_argument("--out", default=None, help="a .jsonl file to append to")
  parser.add_argument("overrides", nargs="*", help="after --: --config.FIELD=VALUE, every recipe")
  args = parser.parse_args()
  recipes = args.recipes.split(",")
  if args.against and args.against not in recipes:
    recipes.insert(0, args.against)
  for recipe in recipes:
    workdir = os.path.join(args.workdir, recipe)
    command = [sys.executable, "-m", "ecgjax.main",
               f"--config=ecgjax/configs/cinc2017.py:{recipe}", f"--workdir={workdir}",
               f"--config.dataset.data_dir={args.data_dir}", *args.overrides]
    result = {"benchmark": "cinc2017_recipes", "recipe": recipe,
              "overrides": args.overrides,
              "date": datetime.date.today().isoformat(), "cores": os.cpu_count()}
    if not os.path.exists(os.path.join(workdir, "results.json")):
      started = time.perf_counter()
      subprocess.run(command, cwd=REPO, check=True)
      result["wall_s"] = round(time.perf_counter() - started, 1)
    result.update(summarise(workdir))
    if args.against and recipe != args.against:
      result["against"] = args.against
      result["difference"] = difference(workdir, os.path.join(args.workdir, args.against))
    emit(result, args.out)


if __name__ == "__main__":
  main()
