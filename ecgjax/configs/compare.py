"""The comparison sweep: scratch vs linear probe vs full fine-tune.

  python -m ecgjax.main --config=ecgjax/configs/compare.py --workdir=DIR \
      --config.init_from=PRETRAIN_DIR [--config.train_sizes=100,500,0 --config.seeds=0,1]

Runs modes x train_sizes x seeds (each in DIR/runs/...), skipping runs that
finished earlier, then writes results.csv, comparisons.csv, report.md and the
plots into DIR.
"""

from ecgjax.configs import common


def get_config():
  c = common.compare_defaults()
  c.dataset.name = "synthetic_ecg/demo"
  c.model.dtype = "float32"
  return c
