"""The embedded default, end to end on one CPU machine.

  python -m ecgjax.main --config=ecgjax/configs/demo.py --workdir=/tmp/ecgjax_demo

1. Builds synthetic_ecg/demo (16,000 ECGs at 100 Hz) into ~/tensorflow_datasets
   if it is absent.
2. Pretrains the `small` ResNet1D on the 39 common diagnoses (DIR/pretrain).
3. Fine-tunes on the 3 held-out rare conditions four ways (scratch, linear
   probe, full, and random_probe: a probe on random frozen features, the control) on
   100 training ECGs with three seeds (DIR/runs), and writes report.md, results.csv,
   comparisons.csv and the plots into DIR: each mean over seeds with its CI and the
   seeds' range.
4. Scores the pretrained model zero-shot on real ECGs (`--config.real_data=DIR`;
   by default the samples that ship in the package, ecgjax.samples): a
   "Zero-shot on real ECGs" section in report.md and DIR/sim_to_real.json.

Every stage resumes: run the command again after an interruption. Override a
stage's field as --config.pretrain.FIELD or --config.compare.FIELD.

About 9 minutes on a 2-core CPU, building the dataset included (docs/benchmarks.md,
"The demo with three seeds"). At 100 training ECGs, full fine-tuning beat scratch on
each rare condition (README.md, "Results"; report.md has the CIs).
"""

import ml_collections

from ecgjax.configs import common


def get_config():
  pretrain = common.pretrain_defaults()
  pretrain.dataset.name = "synthetic_ecg/demo"
  pretrain.dataset.build_if_missing = True
  pretrain.model.dtype = "float32"
  # The common labels are learnt fast (docs/pretraining.md): 600 steps keep the demo short.
  pretrain.total_steps = 600
  # The model reads 5 s of each 10 s ECG: a random crop per visit in training (half the
  # arithmetic of a step), both halves in evaluation, aggregated by their maximum. The
  # rare conditions are in every beat's shape; an intermittent finding (ectopic beats)
  # can miss a training crop, never both halves (docs/benchmarks.md, "The demo with
  # three seeds").
  pretrain.dataset.crop_s = 5.0
  pretrain.eval_every = 300
  pretrain.checkpoint_every = 300
  pretrain.optimizer.warmup_steps = 100

  compare = common.compare_defaults()
  compare.dataset.name = pretrain.dataset.name
  compare.model.dtype = "float32"
  compare.dataset.crop_s = pretrain.dataset.crop_s
  compare.labels = "rare"
  # Three seeds at one size keep the demo within 10 minutes on 2 cores, and give each
  # mean its seeds' spread; add sizes with --config.compare.train_sizes=100,500.
  compare.train_sizes = "100"
  compare.seeds = "0,1,2"
  compare.roc_train_size = 100
  compare.total_steps = 200

  # Real ECGs to score the pretrained model on, zero-shot, in the report (ecgjax.sim_to_real:
  # ptbxl/, cinc2020/ and cinc2017/ folders as PhysioNet gives them). "auto": the
  # samples that ship in the package (ecgjax.samples); "": none.
  real_data = "auto"

  return ml_collections.ConfigDict({"experiment": "demo", "pretrain": pretrain,
                                    "compare": compare, "real_data": real_data})
