"""Evaluate a checkpoint: results.json for its test split.

  python -m ecgjax.main --config=ecgjax/configs/evaluate.py --workdir=DIR --config.checkpoint=CKPT_DIR

CKPT_DIR is a pretraining or fine-tuning workdir (or its checkpoints/). The
dataset and labels default to those the checkpoint was trained on; thresholds
are chosen on `dataset.eval_split` and applied to `dataset.test_split`.
"""

import ml_collections


def get_config():
  c = ml_collections.ConfigDict()
  c.experiment = "evaluate"
  c.checkpoint = ""
  c.checkpoint_step = 0          # 0: the latest
  c.labels = ""                  # "": the checkpoint's
  c.seed = 0                     # of the bootstrap
  c.eval_batch_size = 256
  c.threshold_rule = "youden"
  c.bootstrap_resamples = 1000
  c.dataset = ml_collections.ConfigDict()
  c.dataset.name = ""            # "": the checkpoint's
  c.dataset.data_dir = ""        # "": the checkpoint's
  c.dataset.eval_split = "validation"
  c.dataset.test_split = "test"
  return c
