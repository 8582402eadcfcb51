"""The comparison sweep: scratch vs linear probe vs full fine-tune.

  python -m ecgjax.main --config=ecgjax/configs/compare.py --workdir=DIR \
      --config.init_from=PRETRAIN_DIR [--config.train_sizes=100,500,0 --config.seeds=0,1]
  python -m ecgjax.main --config=ecgjax/configs/compare.py:ptbxl --workdir=DIR \
      --config.init_from=PRETRAIN_DIR --config.dataset.data_dir=DATA

Runs modes x train_sizes x seeds (each in DIR/runs/...), skipping runs that
finished earlier, then writes results.csv, comparisons.csv, report.md and the
plots into DIR. `ptbxl`: PTB-XL's five superdiagnostic classes at 100 Hz
(`ptbxl/superdiagnostic_100`: folds 1-8 train, 9 validation, 10 test), 100, 250, 500
and every training ECG, three seeds: the label-efficiency table of
docs/self-supervised.md.
"""

from ecgjax.configs import common

# The arguments after the colon (`compare.py:ARG`), for --help.
VARIANTS = {
    "synthetic": "the rare labels of synthetic_ecg/demo (the default)",
    "ptbxl": "PTB-XL's superdiagnostic classes (ptbxl/superdiagnostic_100), 100, 250, 500 "
             "and all training ECGs, 3 seeds",
}


def get_config(arg: str = "synthetic"):
  if arg not in VARIANTS:
    raise ValueError(f"compare config: unknown argument {arg!r}; expected one of "
                     f"{', '.join(VARIANTS)}")
  c = common.compare_defaults()
  c.dataset.name = "synthetic_ecg/demo"
  c.model.dtype = "float32"
  if arg == "ptbxl":
    c.dataset.name = "ptbxl/superdiagnostic_100"
    c.labels = "all"
    c.train_sizes = "100,250,500,0"
    c.seeds = "0,1,2"
    c.roc_train_size = 100
  return c
