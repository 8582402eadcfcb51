"""The embedded default, end to end on one CPU machine.

  python -m ecgjax.main --config=ecgjax/configs/demo.py --workdir=/tmp/ecgjax_demo

1. Builds synthetic_ecg/demo (16,000 ECGs at 100 Hz) into ~/tensorflow_datasets
   if it is absent.
2. Pretrains the `small` ResNet1D on the 39 common diagnoses (DIR/pretrain).
3. Fine-tunes on the 3 held-out rare conditions four ways (scratch, linear
   probe, full, and random_probe: a probe on random frozen features, the control) at
   several training-set sizes and seeds (DIR/runs), and writes report.md,
   results.csv, comparisons.csv and the plots into DIR.
4. Scores the pretrained model zero-shot on real ECGs (`--config.real_data=DIR`;
   by default the samples that ship in the package, ecgjax.samples): a
   "Zero-shot on real ECGs" section in report.md and DIR/sim_to_real.json.

Every stage resumes: run the command again after an interruption. Override a
stage's field as --config.pretrain.FIELD or --config.compare.FIELD.

Result on a 2-core CPU (2026-11-28, generator 1.4.0, seed 0, nothing else running):
pretraining validation median AUROC 0.987 over 39 labels (test 0.982); test AUROC
at 100 training ECGs, scratch / linear probe / full fine-tune: hypertrophic
cardiomyopathy 0.892 / 0.981 / 0.966, cardiac amyloidosis 0.857 / 0.939 / 0.943,
Brugada pattern 0.873 / 0.934 / 0.935 (report.md has the 95% CIs and paired
differences); zero-shot on 80 real samples (PTB-XL 1-40, CPSC 2018 1-40), median
AUROC 0.931 over the 6 labels with at least 3 positives. The
whole demo took 11 min 49 s, building the dataset into an empty data_dir included
(`--config.pretrain.dataset.data_dir=EMPTY`; the install not included); 1.1.0's took
9 min 57 s from a fresh clone.
"""

import ml_collections

from ecgjax.configs import common


def get_config():
  pretrain = common.pretrain_defaults()
  pretrain.dataset.name = "synthetic_ecg/demo"
  pretrain.dataset.build_if_missing = True
  pretrain.model.dtype = "float32"
  # The common labels are learnt fast: validation median AUROC was 0.97 after
  # 250 steps and 0.99 after 500 in a 1500-step run; 600 keeps the demo short.
  pretrain.total_steps = 600
  pretrain.eval_every = 300
  pretrain.checkpoint_every = 300
  pretrain.optimizer.warmup_steps = 100

  compare = common.compare_defaults()
  compare.dataset.name = pretrain.dataset.name
  compare.model.dtype = "float32"
  compare.labels = "rare"
  # One seed keeps the demo within 15 minutes on 2 cores (each scratch or full run
  # takes about 1.5 minutes there); add seeds with --config.compare.seeds=0,1,2.
  compare.train_sizes = "100,500"
  compare.seeds = "0"
  compare.roc_train_size = 100
  compare.total_steps = 200

  # Real ECGs to score the pretrained model on, zero-shot, in the report (zero_shot.py:
  # ptbxl/, cinc2020/ and cinc2017/ folders as PhysioNet gives them). "auto": the
  # samples that ship in the package (ecgjax.samples); "": none.
  real_data = "auto"

  return ml_collections.ConfigDict({"experiment": "demo", "pretrain": pretrain,
                                    "compare": compare, "real_data": real_data})
