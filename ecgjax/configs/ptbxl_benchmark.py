"""The PTB-XL benchmark protocol (Strodthoff, Wagner, Schaeffter, Samek, "Deep
learning for ECG analysis: benchmarks and insights from PTB-XL", IEEE JBHI 2021).

  tfds build tfds_builders/ptbxl --manual_dir=PTBXL_DIR --data_dir=DIR --config=superdiagnostic_100
  python -m ecgjax.main --config=ecgjax/configs/ptbxl_benchmark.py:superdiagnostic \\
      --config.dataset.data_dir=DIR --workdir=WORKDIR

TASK is one of `all` (the 71 statements), `diagnostic`, `subdiagnostic`,
`superdiagnostic`, `form`, `rhythm`; the dataset is `ptbxl/TASK_100` (100 Hz,
the official folds: 1-8 train, 9 validation, 10 test). As in the benchmark's
code (ecg_ptbxl_benchmarking, `fastai_model`): training reads one random 2.5 s
crop of each ECG per visit; validation and test cut each 10 s ECG into 2.5 s
windows 1.25 s apart (7 windows) and take the maximum of their outputs per ECG;
the headline is the macro AUROC over the task's labels (`macro_auroc` in
results.json, with its patient-bootstrap CI, beside the medians).

The network is `xresnet1d101_like` (configs/common.py): the published
xresnet1d101's deep stem, stage depths (3, 4, 23, 3), strides and kernel 5, but
basic pre-activation blocks 64 wide instead of bottlenecks 64 -> 256, and mean
pooling into a linear head instead of concat pooling into a 128-unit head;
1.38 M parameters for the 71 labels. Training: AdamW, 50 epochs of the 17,418
training ECGs at batch 128 (6,800 steps), peak learning rate 5e-3 after a 25%
warm-up, weight decay 1e-2 (the benchmark used fastai's one-cycle at 1e-2; ours
is not tuned). Unlike the benchmark, ECGs without a label of the task stay in
the splits as all-negative examples.

The published xresnet1d101 test macro AUROCs (PUBLISHED_MACRO_AUROC) are what this
config should come close to on the full data; not yet measured here (a GPU run).
"""

from ecgjax.configs import common

TASKS = ("all", "diagnostic", "subdiagnostic", "superdiagnostic", "form", "rhythm")
# The arguments after the colon (`ptbxl_benchmark.py:TASK`), for --help.
VARIANTS = {task: f"ptbxl/{task}_100, the benchmark's `{task}` labels" for task in TASKS}
VARIANTS["superdiagnostic"] += " (the default)"
PUBLISHED_MACRO_AUROC = {"all": 0.925, "diagnostic": 0.937, "subdiagnostic": 0.929,
                         "superdiagnostic": 0.928, "form": 0.896, "rhythm": 0.957}


def get_config(task: str = "superdiagnostic"):
  if task not in TASKS:
    raise ValueError(f"ptbxl_benchmark config: unknown task {task!r}; expected one of {TASKS}")
  c = common.pretrain_defaults()
  c.experiment = "pretrain"
  c.dataset.name = f"ptbxl/{task}_100"
  c.labels = "all"
  c.dataset.crop_s = 2.5
  c.dataset.eval_stride_s = 1.25
  c.dataset.eval_aggregate = "max"
  c.model = common.model_config("xresnet1d101_like")
  c.batch_size = 128
  c.total_steps = 6800
  c.eval_every = c.checkpoint_every = 680       # every 5 epochs
  c.optimizer.learning_rate = 5e-3
  c.optimizer.warmup_steps = 1700
  c.optimizer.weight_decay = 1e-2
  return c
