"""Evaluate a checkpoint: results.json for its test split.

  python -m ecgjax.main --config=ecgjax/configs/evaluate.py --workdir=DIR --config.checkpoint=CKPT_DIR

CKPT_DIR is a pretraining or fine-tuning workdir (or its checkpoints/). The
dataset defaults to the one the checkpoint was trained on; labels are matched to
the model's by name or SNOMED code, so another archive built with the model's
recipe is scored on the labels both have (zero-shot transfer). Calibration and
thresholds are chosen on `dataset.eval_split` and applied to `dataset.test_split`;
`--config.dataset.eval_split=` takes them from the model card instead.

A checkpoint written before model cards: `--config.write_card=True` (on the
dataset it was trained on) writes its card into the checkpoint's step directory.

Refitting a model's calibration and thresholds on your own labelled ECGs (built as a
dataset with the model's recipe): `--config.write_model=OUT` writes the model to OUT
as a model directory whose card holds the operating points chosen on
`dataset.eval_split` for every label the dataset names (the others keep theirs), and
the test split's results with them; `predict --model=OUT` then uses them.
"""

import ml_collections


def get_config():
  c = ml_collections.ConfigDict()
  c.experiment = "evaluate"
  c.checkpoint = ""
  c.checkpoint_step = 0          # 0: the latest
  c.labels = ""                  # "": every dataset label the model predicts
  c.write_card = False           # write a model card for a checkpoint that has none
  # A directory: write the model there (a model directory, as export --model_directory)
  # with its calibration and thresholds refitted on dataset.eval_split.
  c.write_model = ""
  c.seed = 0                     # of the bootstrap
  c.eval_batch_size = 256
  c.threshold_rule = "youden"
  c.bootstrap_resamples = 1000
  c.dataset = ml_collections.ConfigDict()
  c.dataset.name = ""            # "": the checkpoint's
  c.dataset.data_dir = ""        # "": the checkpoint's
  c.dataset.eval_split = "validation"   # "": the model card's operating points
  c.dataset.test_split = "test"
  c.dataset.eval_aggregate = "max"   # a recording's windows scored as one: max | mean | none
  return c
