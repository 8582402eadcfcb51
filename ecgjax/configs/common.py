"""Defaults shared by every training config.

`pretrain_defaults()` is also the schema: a config may not carry a field it
lacks (a misspelt field is refused, not ignored). Model shapes are named in
models/presets.py.
"""

import ml_collections

from ecgjax.models.presets import PRESETS

def model_config(name: str, dtype: str = "auto") -> ml_collections.ConfigDict:
  """A named shape (models/presets.py); `auto` computes in bf16 on GPU/TPU and fp32 on
  CPU (resnet1d.resolve_dtype)."""
  if name not in PRESETS:
    raise ValueError(f"unknown model {name!r}; known: {sorted(PRESETS)}")
  # Every shape names every field, so one schema checks them all.
  return ml_collections.ConfigDict({"stem_extra_widths": (), "stem_pool": False,
                                    "pool": "mean", **PRESETS[name], "dtype": dtype,
                                    "strided_conv": "space_to_depth"})


def pretrain_defaults() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.experiment = "pretrain"
  c.seed = 0
  c.batch_size = 64              # global: across all devices and hosts
  c.eval_batch_size = 256        # global
  c.total_steps = 2000
  c.log_every = 50
  c.eval_every = 500
  c.checkpoint_every = 500
  c.keep_checkpoints = 3
  c.labels = "pretrain"          # a label group of the dataset, or comma-separated names
  # Labels that exclude each other, trained and read as one softmax (models.head):
  # 'normal,af,other,noisy' for CinC 2017's classes; groups separated by ';'; `rhythm`
  # for the atrial rhythm and its rate band (ecg.labels.exclusions.RHYTHM_GROUP). Empty:
  # every label independent (multi-label).
  c.exclusive_labels = ""
  c.threshold_rule = "youden"    # or specificity:X, sensitivity:X (chosen on validation)
  c.bootstrap_resamples = 1000   # patient bootstrap of the final test metrics
  c.nonfinite = "stop"           # or skip_step: a NaN/inf loss or gradient (training.nonfinite)
  c.max_consecutive_skips = 10   # skip_step: this many non-finite steps in a row stop the run
  # jit (sharded jit over a mesh of every device; the default) or pmap (jax.pmap over
  # each process's devices, in maintenance mode since JAX 0.8): training.parallel.
  c.parallelism = "jit"

  c.dataset = ml_collections.ConfigDict()
  c.dataset.name = "synthetic_ecg/demo"
  c.dataset.data_dir = "~/tensorflow_datasets"
  c.dataset.train_split = "train"
  c.dataset.eval_split = "validation"   # thresholds and calibration are chosen here
  c.dataset.test_split = "test"         # scored once at the end into results.json; "": none
  c.dataset.shuffle_buffer = 4096
  c.dataset.build_if_missing = False   # only the synthetic dataset can be built on demand
  # synthetic_ecg only: train on ECGs generated as training runs, never one twice
  # (data/synthetic_stream.py); validation and test stay the built splits.
  c.dataset.fresh_ecgs = False
  c.dataset.augment = "none"    # training stream: none | basic | recording | handheld (data/augment.py)
  c.dataset.threads = 0         # tf.data private thread pool; 0: all cores
  c.dataset.leads = "all"       # all (recorded) | limb | names such as I or I,II,V1
  c.dataset.mixture = ""        # NAME:WEIGHT,NAME:WEIGHT under data_dir (data.mixture)
  # The model reads crop_s seconds: a random crop in training, windows eval_stride_s
  # apart in evaluation (0: back to back), aggregated per ECG; 0: whole signals.
  c.dataset.crop_s = 0.0
  c.dataset.eval_stride_s = 0.0
  c.dataset.eval_aggregate = "max"   # a recording's windows scored as one: max | mean | none

  c.model = model_config("small")

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.name = "adamw"
  c.optimizer.learning_rate = 1e-3
  c.optimizer.warmup_steps = 200
  c.optimizer.end_factor = 0.01
  c.optimizer.weight_decay = 1e-4
  c.optimizer.b1 = 0.9
  c.optimizer.b2 = 0.999
  c.optimizer.grad_clip_norm = 1.0
  return c


def self_supervised_defaults() -> ml_collections.ConfigDict:
  """Pretraining's fields plus the objective's (training.self_supervised) and the probe's.
  No label is read (`labels` is `none`)."""
  c = pretrain_defaults()
  c.experiment = "self_supervised"
  c.labels = "none"
  c.self_supervised = ml_collections.ConfigDict()
  c.self_supervised.objective = "contrastive"     # contrastive | vicreg
  c.self_supervised.view_s = 5.0         # each view: a random segment this long; 0: whole
  c.self_supervised.temperature = 0.1    # contrastive (NT-Xent)
  c.self_supervised.projector = (512, 128)    # hidden widths, then the projection's
  c.self_supervised.amplitude_scale = 0.2
  c.self_supervised.noise_mv = 0.1
  c.self_supervised.mask_fraction = 0.2
  c.self_supervised.vicreg_weights = (25.0, 25.0, 1.0)
  # Start the backbone from a checkpoint (a workdir or a shipped model's name), with its
  # architecture, instead of afresh: a supervised or synthetic model pretrained further.
  c.init_from = ""
  c.init_step = 0                # 0: the latest checkpoint there
  c.model_from_checkpoint = True
  # A labelled dataset under dataset.data_dir whose `split` the k-NN probe scores at
  # each evaluation (training.representation); its labels never reach the loss. Empty:
  # the embeddings' rank and spread only.
  c.probe = ml_collections.ConfigDict()
  c.probe.dataset = ""
  c.probe.labels = "all"
  c.probe.split = "validation"
  return c


def finetune_defaults() -> ml_collections.ConfigDict:
  """Pretraining's fields plus what fine-tuning adds."""
  c = pretrain_defaults()
  c.experiment = "finetune"
  c.init_from = ""               # a pretraining workdir (or its checkpoints/ directory)
  c.init_step = 0                # 0: the latest checkpoint there
  c.model_from_checkpoint = True  # take the architecture from the pretraining run
  c.mode = "full"                # linear_probe | full | scratch | random_probe
  c.train_size = 0               # training ECGs, taken by whole patients; 0: all
  c.min_positives = 10           # per label, kept when subsampling
  c.labels = "rare"
  c.lr_multipliers = "^backbone/=0.1"   # REGEX=FACTOR;... (full mode)
  # Full mode, the LP-FT recipe (Kumar et al., ICLR 2022): start from the linear
  # probe's head so early gradients through a random head do not distort the
  # pretrained features, and keep BatchNorm on the pretraining statistics.
  c.full_head_init = "linear_probe"    # linear_probe | random
  # A label the checkpoint's head already predicts (by name, its model card) starts
  # from that head's column instead of a random one, and the starting model is a
  # candidate for selection (step 0): fine-tuning can keep, not only rebuild, what the
  # pretrained model knows (docs/sim-to-real.md, "Fine-tuning on real samples").
  c.head_from_checkpoint = True
  c.freeze_batch_norm = True           # full mode: BatchNorm uses running statistics
  # L2-SP, decoupled (optimizers.pull_to_start): each step pulls kernels back toward
  # where this fine-tune started, by learning rate x decay_to_start x distance; a weight
  # the gradients push one way settles about 1/decay_to_start from its start. Linear
  # probe: the head columns carried from the checkpoint; full: every kernel (the head's
  # fresh columns only with the probe's head, LP-FT). Scratch: no start to keep. 0: off.
  # Measured in docs/sim-to-real.md.
  c.decay_to_start = 0.0
  c.probe_learning_rate = 1e-2   # linear probe: a head on fixed features takes larger steps
  # The probes' features as the backbone gives them (`raw`) or each standardized on the
  # training split (`standardized`, folded into the kept head); `auto`: standardized
  # for random_probe only (training.linear_probe.probe_features says why).
  c.probe_features = "auto"
  # Fewer leads than the checkpoint read (dataset.leads): `reinit` starts the stem
  # afresh; `select` keeps the stem's filters for the chosen leads (exactly the
  # pretrained model with the other leads at zero, whose BatchNorm statistics were
  # fitted to all of them); docs/fine-tuning.md compares the two. Leads the checkpoint
  # never saw: refused.
  c.lead_transfer = "reinit"     # reinit | select
  c.batch_size = 32
  c.total_steps = 300
  c.log_every = 50
  c.eval_every = 50
  c.checkpoint_every = 50        # the train state under resume/, until the run concludes
  c.optimizer.learning_rate = 3e-4
  c.optimizer.warmup_steps = 30
  return c


def compare_defaults() -> ml_collections.ConfigDict:
  """Fine-tuning's fields plus the sweep's axes."""
  c = finetune_defaults()
  c.experiment = "compare"
  c.mode = ""                    # set per run by the sweep
  # random_probe: the linear probe on random frozen features, the control that says what
  # a probe gets from the architecture alone (model_init).
  c.modes = "scratch,random_probe,linear_probe,full"
  c.train_sizes = "50,100,200,500,1000,0"      # 0: the whole training split
  c.seeds = "0,1,2"
  c.roc_train_size = 200         # the size whose ROC curves are plotted
  # Runs of one mode trained as one program (training.stacked), at most this many per
  # group; 1: one run at a time; 0: auto, 8 on a GPU or TPU and 1 on a CPU, where the
  # stacked (vmapped) convolutions train 0.59-0.74x as many ECGs per second as one run's
  # (benchmarks/stacked_sweep.py). Memory grows with it: each run's weights, optimiser
  # state and activations.
  c.stack_size = 0
  return c
