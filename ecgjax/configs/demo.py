"""The embedded default, end to end on one CPU machine.

  python -m ecgjax.main --config=ecgjax/configs/demo.py --workdir=/tmp/ecgjax_demo

Builds synthetic_ecg/demo (16,000 ECGs at 100 Hz) into ~/tensorflow_datasets if
it is absent, then pretrains the `small` ResNet1D on the 39 common diagnoses.
On a 2-core CPU the build takes about a minute and pretraining a few minutes;
the validation median AUROC it reaches is logged and in metrics.jsonl.
"""

from ecgjax.configs import common


def get_config():
  c = common.pretrain_defaults()
  c.dataset.name = "synthetic_ecg/demo"
  c.dataset.build_if_missing = True
  c.model.dtype = "float32"
  c.total_steps = 1500
  c.log_every = 50
  c.eval_every = 500
  c.checkpoint_every = 500
  return c
