"""Sim-to-real: a synthetic-pretrained model scored zero-shot on every real sample set.

  python benchmarks/sim_to_real.py --model DEMO/pretrain [--one_lead_model LEAD_I_DIR]
      [--shared ../shared/data] [--recipe demo] [--adapt_batch_norm] [--large_sets]
      [--out benchmarks/results/sim_to_real.jsonl]

The real samples in ../shared/data (PTB-XL records 1-40, CPSC 2018 A0001-A0040 and,
for `--one_lead_model`, a model that reads lead I, CinC 2017 A00001-A00200) are built
at the model's sampling rate and scored with no training: ecgjax/sim_to_real/zero_shot.py says
how. One JSON line per run: the generator version the model was pretrained on (its
card), `--recipe`, the per-set and pooled figures (`median_auroc` over the labels
with at least `--min_positives` positives). The samples are small: read the CIs, and
never tune the generator on these labels. `--adapt_batch_norm` scores each set with
the model adapted to that set's ECGs without their labels (AdaBN: BatchNorm statistics
recomputed; predict --adapt_batch_norm is the same for a user's files).
`--large_sets` also scores the lead-I model on all 5,000 CinC 2017 recordings
(cinc2017/ with cinc2017_train/, set `cinc2017_5000`: about 450 AF positives, CIs
narrow enough to tell two pretrainings apart; a few minutes more) and the 12-lead
model on PTB-XL's 2,055 records (ptbxl_train/, set `ptbxl_2055`: hundreds of positives
for the common labels), each reported on its own, outside the pooled median. `--model` may be left out to score a lead-I model alone.
(Lines before generator 1.2.0 name the sets ptbxl_1_40, cpsc2018_1_40 and
cinc2017_1_200.)
"""

import argparse
import datetime
import sys
import tempfile

from emit import emit
from shared_data import SHARED_DATA
from ecgjax.sim_to_real import zero_shot


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model", default="", help="a 12-lead synthetic-pretrained model")
  parser.add_argument("--one_lead_model", default="",
                      help="a model reading lead I, for CinC 2017 (AF)")
  parser.add_argument("--shared", default=SHARED_DATA)
  parser.add_argument("--recipe", default="demo", help="the pretraining recipe's name")
  parser.add_argument("--min_positives", type=int, default=3)
  parser.add_argument("--scratch", default="", help="where the sample sets are built")
  parser.add_argument("--adapt_batch_norm", action="store_true",
                      help="score each set with the model's BatchNorm statistics recomputed "
                           "on that set's ECGs, labels unread (AdaBN)")
  parser.add_argument("--large_sets", action="store_true",
                      help="also the large sets: CinC 2017's 5,000 recordings (lead-I "
                           "model), PTB-XL's 2,055 (12-lead model)")
  parser.add_argument("--out")
  args = parser.parse_args()
  if not (args.model or args.one_lead_model):
    parser.error("give --model, --one_lead_model or both")
  scratch = args.scratch or tempfile.mkdtemp(prefix="sim_to_real_")
  result = zero_shot.score(args.model, args.shared, scratch, args.one_lead_model,
                           args.min_positives, adapt_batch_norm=args.adapt_batch_norm,
                           large_sets=args.large_sets)
  for name, s in result["sets"].items():
    print(f"{name}: median AUROC {s['median_auroc']} (95% CI {s['median_auroc_ci']}) over "
          f"{s['labels_counted']} labels with >= {args.min_positives} positives", file=sys.stderr)
  print(zero_shot.table_row(result, args.recipe), file=sys.stderr)   # docs/sim-to-real.md
  emit({"benchmark": "sim_to_real", "recipe": args.recipe,
        "batch_norm_adapted": args.adapt_batch_norm, **result,
        "command": "python " + " ".join(sys.argv),
        "date": datetime.date.today().isoformat()}, args.out)


if __name__ == "__main__":
  main()
