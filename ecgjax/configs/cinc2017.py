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

Measured on the 5,000 recordings A00001-A05000 (2026-12-02, seed 0, a 2-core CPU;
score over the 480 test recordings; difference against windows_100 on the same
recordings with a paired record-bootstrap CI; benchmarks/cinc2017_recipes.py):

  recipe                    Challenge score        vs windows_100          cost
  windows_100               0.723 [0.671, 0.769]                           4.6 min
  windows_300               0.723 [0.673, 0.775]   +0.001 [-0.036, +0.040] 14.6 min
  whole_100                 0.682 [0.628, 0.732]   -0.041 [-0.084, -0.000]  9.5 min
  whole_100_attention       0.715 [0.658, 0.768]   -0.007 [-0.065, +0.045]  8.6 min
  windows_100_long          0.769 [0.725, 0.811]   +0.047 [+0.007, +0.084] 16.6 min
  whole_100_attention_long  0.750 [0.698, 0.791]   +0.027 [-0.030, +0.082] 33.0 min

The default is windows_100_long, the best and the only change whose paired interval
excludes zero: training length. The Challenge's best entries scored 0.83 on its hidden
test set; docs/fine-tuning.md ("CinC 2017 at the Challenge level") says what each
step did and what is left.
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
