"""Pretraining a ResNet1D multi-label on many common diagnoses.

  python -m ecgjax.main --config=ecgjax/configs/pretrain.py --workdir=DIR
  python -m ecgjax.main --config=ecgjax/configs/pretrain.py:synthetic_large --workdir=DIR

Arguments after the colon: `synthetic` (default; synthetic_ecg/demo at 100 Hz,
the `small` model), `synthetic_foundation` (the sim-to-real recipe: the
pretraining that transferred best, zero-shot, to real ECGs),
`synthetic_fresh` (the default on fresh ECGs generated as it trains),
`synthetic_large` (synthetic_ecg/large at 500 Hz, the
Hannun 2019 shape, for accelerators), or a real archive built by its
builder: `ptbxl`, `physionet2021`, `code15`, `mimic_iv_ecg`, `muse_xml` (the
68-label vocabulary at 500 Hz, `ribeiro2020` model; `--config.labels=rhythm` or
NAME,NAME picks labels, `--config.dataset.name=ptbxl/superdiagnostic_500`
another label space).
Build the dataset first:
  tfds build tfds_builders/synthetic_ecg --data_dir=~/tensorflow_datasets --config=demo
Running the same command on the same workdir resumes from its last checkpoint.
"""

from ecgjax.configs import common


REAL_ARCHIVES = ("ptbxl", "physionet2021", "code15", "mimic_iv_ecg", "muse_xml")
# The arguments after the colon (`pretrain.py:ARG`), each with what it runs (--help).
VARIANTS = {
    "synthetic": "the default: synthetic_ecg/demo at 100 Hz, the `small` model, 2,000 steps",
    "synthetic_foundation": "the sim-to-real recipe: 600 steps on synthetic_ecg/demo, "
                            "the pretraining that transferred best zero-shot to real ECGs",
    "synthetic_fresh": "the default trained on fresh ECGs generated as it runs "
                       "(dataset.fresh_ecgs): no ECG seen twice",
    "synthetic_large": "synthetic_ecg/large at 500 Hz, the Hannun 2019 shape, for accelerators",
    **{name: f"{name}/vocabulary_500 (the 68-label vocabulary at 500 Hz), the "
             "`ribeiro2020` model" for name in REAL_ARCHIVES},
}


def get_config(arg: str = "synthetic"):
  c = common.pretrain_defaults()
  if arg == "synthetic":
    pass                          # the defaults; model.dtype auto: fp32 on CPU, bf16 on GPU/TPU
  elif arg == "synthetic_foundation":
    # The sim-to-real recipe: 600 steps without augmentation transferred best,
    # zero-shot, to real ECGs. 5-6 min on a 2-core CPU (building synthetic_ecg/demo
    # included). The shipped `synthetic_foundation`: median AUROC 0.933 over the 6
    # 12-lead labels of the PTB-XL and CPSC 2018 samples with >= 3 positives; the
    # recipe's history is in docs/sim-to-real.md. With --config.dataset.leads=I
    # --config.dataset.augment=handheld --config.total_steps=5000, the shipped
    # `synthetic_foundation_lead_i`.
    c.dataset.build_if_missing = True
    c.total_steps = 600
    c.eval_every = c.checkpoint_every = 300
    c.optimizer.warmup_steps = 100
  elif arg == "synthetic_fresh":
    # The default's recipe, its training split replaced by fresh ECGs (scored on
    # synthetic_ecg/demo's validation and test): does a long pretraining learn the
    # simulator or memorise the 16,000 ECGs of the built draw? docs/sim-to-real.md.
    c.dataset.build_if_missing = True
    c.dataset.fresh_ecgs = True
  elif arg == "synthetic_large":
    c.dataset.name = "synthetic_ecg/large"
    c.model = common.model_config("hannun2019")
    c.batch_size = 256
    c.total_steps = 20_000
    c.eval_every = c.checkpoint_every = 2000
    c.optimizer.warmup_steps = 1000
  elif arg in REAL_ARCHIVES:
    c.dataset.name = f"{arg}/vocabulary_500"
    c.labels = "all"
    c.model = common.model_config("ribeiro2020")
    c.batch_size = 128
    c.total_steps = 30_000
    c.eval_every = c.checkpoint_every = 1000
    c.optimizer.warmup_steps = 1000
  else:
    raise ValueError(f"pretrain config: unknown argument {arg!r}; expected one of "
                     f"{', '.join(VARIANTS)}")
  return c
