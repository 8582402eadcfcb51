"""Single-lead AF classification on the PhysioNet/CinC Challenge 2017 recordings.

  tfds build tfds_builders/physionet2017 --manual_dir=CINC --data_dir=~/tensorflow_datasets \\
      --config=challenge_100
  python -m ecgjax.main --config=ecgjax/configs/cinc2017.py --workdir=DIR

CINC holds the training recordings (`A00001.hea` and `.mat`) and REFERENCE.csv. The
four classes (normal, AF, other rhythm, noisy) are one exclusive group, read as a
softmax (models.head); lead I is the AliveCor lead; each recording is cut into 10-s
windows at 100 Hz whose class probabilities are averaged per recording. The split is
the builder's: 80/10/10 by a hash of the record name (the Challenge publishes no
patient ids, so a record is its own patient). results.json reports the Challenge's
score (the mean F1 of normal, AF and other, Clifford et al. 2017) with its CI.

Measured on the 5,000 recordings A00001-A05000 (2026-12-02, seed 0, 2-core CPU,
331 s): Challenge score 0.720 [0.669, 0.764] over the 480 test recordings (F1 normal
0.861, AF 0.725, other 0.573), against 0.699 [0.648, 0.747] with four independent
sigmoids (docs/fine-tuning.md, "Exclusive classes"). The Challenge's best entries
scored 0.83 on its hidden test set: the native 300 Hz rate and whole-recording models
are the next steps.
"""

from ecgjax.configs import common


def get_config():
  c = common.pretrain_defaults()
  c.dataset.name = "physionet2017/challenge_100"
  c.dataset.leads = "I"
  c.labels = "all"
  c.exclusive_labels = "normal,af,other,noisy"
  c.total_steps = 900
  return c
