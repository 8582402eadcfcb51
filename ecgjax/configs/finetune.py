"""One fine-tuning run: scratch, linear probe or full fine-tune.

  python -m ecgjax.finetune --config=ecgjax/configs/finetune.py --workdir=DIR \
      --config.init_from=PRETRAIN_DIR --config.mode=full --config.train_size=500 --config.seed=0

Learns the dataset's `rare` label group by default (`--config.labels=NAME,NAME`
for others) on `train_size` training ECGs taken by patient, keeps the model with
the best validation AUROC, and writes results.json (test metrics with 95%
patient-bootstrap CIs), predictions.npz, transfer.json (which parameters were
loaded or re-initialised) and the selected checkpoint.
"""

from ecgjax.configs import common


def get_config():
  c = common.finetune_defaults()
  c.dataset.name = "synthetic_ecg/demo"
  c.model.dtype = "float32"
  return c
