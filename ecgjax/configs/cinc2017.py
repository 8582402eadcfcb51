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

RECIPES_MEASURED_BELOW
"""

from ecgjax.configs import common

# Each recipe changes one thing from the one before it in this table, or combines them
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
  if arg == "windows_300":
    c.dataset.name = "physionet2017/challenge_300"
  elif arg == "windows_100_long":
    c.total_steps = 3600
    c.eval_every = c.checkpoint_every = 900
  elif arg.startswith("whole_100"):
    c.dataset.name = "physionet2017/challenge_100_whole"
    # A recording is 3 windows on average: 600 steps of 32 recordings see each about as
    # often as 900 steps of 64 windows do.
    c.batch_size, c.eval_batch_size, c.total_steps = 32, 64, 600
    if "attention" in arg:
      c.model.pool = "attention"
    if arg.endswith("_long"):
      c.total_steps = 2400
      c.eval_every = c.checkpoint_every = 600
  return c
