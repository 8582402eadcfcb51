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
  # The common labels are learnt fast: validation median AUROC was 0.97 after
  # 250 steps and 0.99 after 500 in a 1500-step run; 600 keeps the demo short.
  c.total_steps = 600
  c.log_every = 50
  c.eval_every = 300
  c.checkpoint_every = 300
  c.optimizer.warmup_steps = 100
  return c
