"""Single-lead AF classification on the PhysioNet/CinC Challenge 2017 recordings.

  tfds build tfds_builders/physionet2017 --manual_dir=CINC --data_dir=~/tensorflow_datasets \\
      --config=challenge_100
  python -m ecgjax.main --config=ecgjax/configs/cinc2017.py --workdir=DIR

CINC holds the training recordings (`A00001.hea` and `.mat`) and REFERENCE.csv. The
four classes (normal, AF, other rhythm, noisy) are one exclusive group, read as a
softmax (models.head); lead I is the AliveCor lead. The split is the builder's:
80/10/10 by a hash of the record name (the Challenge publishes no patient ids, so a
record is its own patient). results.json reports the Challenge's score (the mean F1
of normal, AF and other, Clifford et al. 2017) with its CI.

The default, windows_100_long, scored 0.769 [95% CI 0.725, 0.811] on the 480 test
recordings of A00001-A05000 in 16.6 min on a 2-core CPU; every recipe's figures, and
how they were measured (benchmarks/cinc2017_recipes.py), are in docs/fine-tuning.md
("CinC 2017 at the Challenge level").
"""

from ecgjax.configs import common

# Each recipe changes one thing from windows_100, or combines two changes
# (docs/fine-tuning.md, "CinC 2017 at the Challenge level").
VARIANTS = {
    "windows_100": "10-s windows at 100 Hz (challenge_100), 900 steps of 64; a "
                   "recording's class probabilities averaged over its windows",
    "windows_300": "the same at the native 300 Hz (challenge_300)",
    "whole_100": "whole recordings at 100 Hz (challenge_100_whole: each repeated to 61 s), "
                 "global average pooling, 600 steps of 32 (the same passes over the data)",
    "whole_100_attention": "whole recordings with attention pooling over time",
    "windows_100_long": "windows_100 trained 3,600 steps",
    "whole_100_attention_long": "whole_100_attention trained 2,400 steps",
}
DEFAULT = "windows_100_long"

# A recording is 3 windows on average: 600 steps of 32 recordings see each about as
# often as 900 steps of 64 windows do.
_WHOLE = {"dataset.name": "physionet2017/challenge_100_whole", "batch_size": 32,
          "eval_batch_size": 64, "total_steps": 600}
_LONG_WINDOWS = {"total_steps": 3600, "eval_every": 900, "checkpoint_every": 900}
_LONG_WHOLE = {"total_steps": 2400, "eval_every": 600, "checkpoint_every": 600}
# Each variant's fields, over windows_100's.
_OVERRIDES = {
    "windows_100": {},
    "windows_300": {"dataset.name": "physionet2017/challenge_300"},
    "whole_100": _WHOLE,
    "whole_100_attention": {**_WHOLE, "model.pool": "attention"},
    "windows_100_long": _LONG_WINDOWS,
    "whole_100_attention_long": {**_WHOLE, "model.pool": "attention", **_LONG_WHOLE},
}


def get_config(arg: str = DEFAULT):
  if arg not in VARIANTS:
    raise ValueError(f"cinc2017 config: unknown argument {arg!r}; expected one of "
                     f"{', '.join(VARIANTS)}")
  c = common.pretrain_defaults()
  c.dataset.name = "physionet2017/challenge_100"
  c.dataset.leads = "I"
  c.labels = "all"
  c.exclusive_labels = "normal,af,other,noisy"
  c.total_steps = 900
  for field, value in _OVERRIDES[arg].items():
    section, _, name = field.rpartition(".")
    (c[section] if section else c)[name] = value
  return c
