"""Self-supervised pretraining: an ECG encoder learnt from unlabelled ECGs.

  python -m ecgjax.main --config=ecgjax/configs/self_supervised.py --workdir=DIR
  python -m ecgjax.main --config=ecgjax/configs/self_supervised.py:vicreg,ptbxl \\
      --config.dataset.data_dir=DATA --workdir=DIR

The argument is OBJECTIVE or OBJECTIVE,DATA. OBJECTIVE: `contrastive` (SimCLR's NT-Xent
over two segments of each ECG, negatives from the global batch; the default) or
`vicreg` (VICReg; no negatives). DATA:
  `synthetic`  synthetic_ecg/demo (built if missing); k-NN probe on its validation split
  `ptbxl`      an unlabelled twelve-lead archive at 100 Hz, `unlabelled_ecg/rate_100`
               (tfds build tfds_builders/unlabelled_ecg --manual_dir=ARCHIVE
               --config=rate_100); k-NN probe on `ptbxl/superdiagnostic_100`'s
               validation fold
  `cinc2017`   the CinC 2017 recordings' lead I, `physionet2017/challenge_100`, its
               labels not read; k-NN probe on its validation split
Labels are never read for training (`labels` is `none`); the probe's labels only score
the embeddings at each evaluation. What the run writes: a checkpoint whose card says it
is an encoder (no labels, no thresholds), for `init_from` in every fine-tuning mode and
for `predict --embeddings`. Objectives, views and costs: docs/self-supervised.md.
"""

from ecgjax.configs import common

OBJECTIVES = ("contrastive", "vicreg")
DATA = {
    "synthetic": dict(name="synthetic_ecg/demo", probe="synthetic_ecg/demo",
                      probe_labels="pretrain", leads="all"),
    "ptbxl": dict(name="unlabelled_ecg/rate_100", probe="ptbxl/superdiagnostic_100",
                  probe_labels="all", leads="all"),
    "cinc2017": dict(name="physionet2017/challenge_100", probe="physionet2017/challenge_100",
                     probe_labels="all", leads="I"),
}
# The arguments after the colon (`self_supervised.py:ARG`), for --help.
VARIANTS = {f"{objective},{data}" if data != "synthetic" else objective:
            f"{objective} on {spec['name']}" for objective in OBJECTIVES
            for data, spec in DATA.items()}


def get_config(arg: str = "contrastive"):
  objective, _, data = arg.partition(",")
  data = data or "synthetic"
  if objective not in OBJECTIVES or data not in DATA:
    raise ValueError(f"self_supervised config: unknown argument {arg!r}; expected OBJECTIVE "
                     f"or OBJECTIVE,DATA with OBJECTIVE one of {OBJECTIVES} and DATA one of "
                     f"{tuple(DATA)}")
  c = common.self_supervised_defaults()
  c.self_supervised.objective = objective
  spec = DATA[data]
  c.dataset.name = spec["name"]
  c.dataset.leads = spec["leads"]
  c.dataset.build_if_missing = data == "synthetic"
  c.probe.dataset, c.probe.labels = spec["probe"], spec["probe_labels"]
  if objective == "vicreg":
    # VICReg's expander is wider than its input (the paper's 8192-8192-8192, scaled
    # to this encoder's 128 features).
    c.self_supervised.projector = (512, 512, 512)
  c.batch_size = 128
  c.total_steps = 2000
  c.eval_every = c.checkpoint_every = 500
  c.optimizer.warmup_steps = 200
  return c
