"""Contradictory rows in predict's output: ECGs given two labels that exclude each other
(ecg.labels.exclusions), before and after predict resolves them.

  python benchmarks/contradictions.py --model synthetic_foundation \
      [--ptbxl ../shared/data/ptbxl_train --folds 9,10] [PATH ...] \
      [--out benchmarks/results/contradictions.jsonl]

Scores PATHs (files or folders), or the records of PTB-XL's `--folds` under `--ptbxl`
(by default, when no PATH is given, the shared ptbxl_train),
with `ecgjax.predict`'s Python entry, and counts the rows whose calls (`positive` with
`dropped`: every label at or above its threshold) break an exclusion, and the rows whose
`positive` does (predict's output; 0 by design). One JSON line.
"""

import argparse
import collections
import csv
import datetime
import os
import socket
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from benchmarks.emit import emit  # noqa: E402
from benchmarks.shared_data import SHARED_DATA  # noqa: E402


def ptbxl_records(root: str, folds: set[int]) -> list[str]:
  with open(os.path.join(root, "ptbxl_database.csv"), newline="") as f:
    return [os.path.join(root, row["filename_lr"] + ".hea") for row in csv.DictReader(f)
            if int(row["strat_fold"]) in folds]


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("paths", nargs="*")
  parser.add_argument("--model", default="synthetic_foundation")
  parser.add_argument("--ptbxl", default="")
  parser.add_argument("--folds", default="9,10")
  parser.add_argument("--label", default="")
  parser.add_argument("--out", default="")
  args = parser.parse_args()
  from ecgjax.ecg.labels import exclusions
  from ecgjax.inference import score_files
  paths = list(args.paths)
  if not paths and not args.ptbxl:
    args.ptbxl = os.path.join(SHARED_DATA, "ptbxl_train")
  if args.ptbxl:
    paths += ptbxl_records(args.ptbxl, {int(f) for f in args.folds.split(",")})
  with tempfile.TemporaryDirectory() as scratch:
    out = os.path.join(scratch, "predictions.csv")
    score_files.predict_files(args.model, paths, out)
    with open(out, newline="") as f:
      rows = [r for r in csv.DictReader(f) if r["status"] == "ok"]
  broken_calls, broken_output = collections.Counter(), 0
  contradictory_calls = 0
  for row in rows:
    positive = [n for n in row["positive"].split(";") if n]
    dropped = [d.split(" (")[0] for d in row.get("dropped", "").split(";") if d]
    violated = exclusions.violated(positive + dropped)
    contradictory_calls += bool(violated)
    broken_calls.update(violated)
    broken_output += bool(exclusions.violated(positive))
  emit({"benchmark": "contradictions", "label": args.label, "model": args.model,
        "paths": args.paths, "ptbxl": args.ptbxl, "folds": args.folds if args.ptbxl else None,
        "rows": len(rows), "rows_with_contradictory_calls": contradictory_calls,
        "rows_with_contradictory_output": broken_output,
        "by_exclusion": dict(broken_calls.most_common()),
        "host": socket.gethostname(), "command": " ".join(["python", *sys.argv]),
        "date": datetime.date.today().isoformat()}, args.out)


if __name__ == "__main__":
  main()
