"""Pretraining a ResNet1D multi-label on many common diagnoses.

  python -m ecgjax.main --config=ecgjax/configs/pretrain.py --workdir=DIR
  python -m ecgjax.main --config=ecgjax/configs/pretrain.py:synthetic_large --workdir=DIR

Arguments after the colon: `synthetic` (default; synthetic_ecg/demo at 100 Hz,
the `small` model), `synthetic_foundation` (the sim-to-real recipe: the
pretraining that transferred best, zero-shot, to real ECGs; its figures below),
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
    # The sim-to-real recipe: the best zero-shot transfer measured to real ECGs
    # (docs/sim-to-real.md; benchmarks/sim_to_real.py on ../shared/data,
    # generator 1.2.0, median AUROC over the 7 labels of PTB-XL 1-40 and CPSC 2018 1-40
    # with >= 3 positives): 600 steps without augmentation 0.930; 600 steps with
    # augment=recording 0.898; 2000 steps 0.852, with augment=recording 0.902 (the
    # longer runs reach 0.998 on synthetic validation: they learn the simulator).
    # With a lead-I model for CinC 2017, 0.894 over 9 labels. With the labels' meanings
    # corrected (ptbxl 1.2.0: LAD is not left axis deviation; physionet2017 1.1.0: an
    # "other rhythm" record's sinus rhythm is unknown), 0.912 over 8 on generator
    # 1.2.0, 0.917 over 8 on 1.3.0 (6 12-lead labels: 0.933) and 0.910 over 8 on 1.4.0
    # (0.931; ptbxl 1.3.0: an unstated axis is unknown); 1.5.0 (labels by criterion),
    # 0.933 over the 6 12-lead labels and 0.898 over 8 with its lead-I model, the model
    # shipped as `synthetic_foundation` (docs/using-a-model.md). CIs span 0.3-0.5 at
    # these positives: the differences are not significant. On CinC 2017's 5,000
    # recordings (sim_to_real.py --large_sets, lead I, CIs about 0.04 wide) a longer run
    # transferred worse up to generator 1.6.0 (600 steps 0.822, 2,000 0.801 on 1.5.0)
    # and better from 1.7.0 (tremor in the atrial band: 0.821, 0.862, 0.874 at 600, 2,000
    # and 5,000 steps), docs/sim-to-real.md. With --config.dataset.augment=handheld (lead I
    # flipped half the time: a handheld recorder held either way round) and 5,000 steps,
    # AF 0.903 on the 5,000 and as good on reversed recordings as on upright ones: the
    # model shipped as `synthetic_foundation_lead_i`. Cost: building
    # synthetic_ecg/demo (about 70 s) and 600 steps at about 160 ECG/s, 5-6 min on a
    # 2-core CPU.
    #   python -m ecgjax.main --config=ecgjax/configs/pretrain.py:synthetic_foundation \
    #       --workdir=DIR [--config.dataset.leads=I]
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
