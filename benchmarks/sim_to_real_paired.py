"""Sim-to-real, paired: two synthetic-pretrained models on the same real ECGs.

  python benchmarks/sim_to_real_paired.py --a MODEL_A --b MODEL_B [--large_sets]
      [--shared ../shared/data] [--scratch DIR] [--label "600 vs 5,000 steps"]
      [--out benchmarks/results/sim_to_real_paired.jsonl]

Both models read the same sets (two 12-lead models: PTB-XL 1-40 and CPSC 1-40, and with
`--large_sets` PTB-XL's 2,055 records in ptbxl_train/; two lead-I models: CinC 2017,
and with `--large_sets` its 5,000 recordings), every
resample scores both on the same records, and the line reports per set and pooled:
each model's median AUROC over the labels with at least `--min_positives` positives,
and B minus A with its 95% CI (ecgjax/sim_to_real/paired.py). Where the
separate CIs of benchmarks/sim_to_real.py overlap, this says whether the difference
itself does. The samples are small: a CI across zero shows no difference, not
equality; never tune the generator on these labels.
"""

import argparse
import datetime
import sys
import tempfile

from emit import emit
from shared_data import SHARED_DATA
from ecgjax.sim_to_real import paired


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--a", required=True, help="model A (the reference)")
  parser.add_argument("--b", required=True, help="model B (B - A is reported)")
  parser.add_argument("--shared", default=SHARED_DATA)
  parser.add_argument("--label", default="", help="what the comparison is, for the record")
  parser.add_argument("--min_positives", type=int, default=3)
  parser.add_argument("--resamples", type=int, default=1000)
  parser.add_argument("--large_sets", action="store_true",
                      help="also the large sets: CinC 2017's 5,000 recordings (lead I), "
                           "PTB-XL's 2,055 (12 leads)")
  parser.add_argument("--scratch", default="", help="where the sample sets are built")
  parser.add_argument("--out")
  args = parser.parse_args()
  scratch = args.scratch or tempfile.mkdtemp(prefix="sim_to_real_paired_")
  result = paired.compare(args.a, args.b, args.shared, scratch, args.min_positives,
                                    large_sets=args.large_sets, resamples=args.resamples)
  for line in paired.summary_lines(result):
    print(line, file=sys.stderr)
  emit({"benchmark": "sim_to_real_paired", "label": args.label, **result,
        "command": "python " + " ".join(sys.argv),
        "date": datetime.date.today().isoformat()}, args.out)


if __name__ == "__main__":
  main()
