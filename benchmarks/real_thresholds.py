"""Thresholds set on real ECGs: the shipped twelve-lead model's calibration and
thresholds refitted on PTB-XL's training folds by each candidate rule, and what a
clinician then sees on the held-out folds.

  python benchmarks/real_thresholds.py [--model synthetic_foundation]
      [--ptbxl ../shared/data/ptbxl_train] [--rules card,youden,specificity:0.95,...]
      [--out benchmarks/results/real_thresholds.jsonl]

`ptbxl_train` (2,055 labelled records of all ten strat_folds) is built at the model's
rate (ptbxl/vocabulary_100: folds 1-8 train, 9 validation, 10 test). Per rule, the
model's operating points are refitted on `train` (evaluate's --config.write_model, the
same path `python -m ecgjax.release --threshold_dataset` takes) and the held-out folds
9 and 10 are scored with them: per label sensitivity and specificity with 95% CIs, the
median sensitivity, and the share of normal ECGs (NORM) given any label they do not
carry beyond a normal finding (sim_to_real.scored_sets.flagged_normals). `card` is the
model as shipped (thresholds from synthetic validation). The labels PTB-XL does not
name keep their synthetic thresholds, raised to the 0.995 quantile of the training folds'
normal ECGs (release.refit_on_ptbxl). One JSON line per rule, with the normals flagged on
the training folds too: the default rule is the most sensitive whose training-fold
share is at most 10%, chosen without looking at the held-out folds.
"""

import argparse
import datetime
import os
import socket
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from benchmarks.emit import emit  # noqa: E402
from benchmarks.shared_data import SHARED_DATA  # noqa: E402


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--model", default="synthetic_foundation")
  parser.add_argument("--ptbxl", default=os.path.join(SHARED_DATA, "ptbxl_train"))
  parser.add_argument("--rules", default="card,youden,specificity:0.9,specificity:0.95,"
                                         "specificity:0.97,specificity:0.98,specificity:0.99")
  parser.add_argument("--scratch", default="")
  parser.add_argument("--out", default="")
  args = parser.parse_args()
  if not os.path.isdir(args.ptbxl):
    raise SystemExit(f"--ptbxl={args.ptbxl}: no such directory (PTB-XL records with their "
                     "ptbxl_database.csv)")
  from ecgjax import release
  from ecgjax.models import shipped
  model = shipped.resolve(args.model)
  scratch = args.scratch or tempfile.mkdtemp(prefix="real_thresholds_")
  for rule in args.rules.split(","):
    workdir = os.path.join(scratch, rule.replace(":", "_"))
    if rule == "card":      # as shipped: the card's thresholds, on the same held-out folds
      real = release.held_out_figures(model, release.build_ptbxl(model, args.ptbxl, workdir),
                                      os.path.join(workdir, "evaluate"))
    else:
      _, real = release.refit_on_ptbxl(model, rule, args.ptbxl, workdir)
    emit({"benchmark": "real_thresholds", "rule": rule, "model": args.model, **real,
          "host": socket.gethostname(), "cpus": os.cpu_count(),
          "command": " ".join(["python", *sys.argv]),
          "date": datetime.date.today().isoformat()}, args.out)


if __name__ == "__main__":
  main()
