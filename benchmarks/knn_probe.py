"""The self-supervised monitor's k-NN probe on any backbone: a random one, a shipped
model's, a workdir's.

  python benchmarks/knn_probe.py --data_dir=DATA [--dataset=ptbxl/superdiagnostic_100]
      [--models random synthetic_foundation SSL_WORKDIR ...] [--out=FILE]

Scores each backbone's embeddings as training.representation does during a
self-supervised run (RankMe, spread, the leave-one-patient-out k-NN AUROC per label) on
the dataset's validation and test splits: the reference a run's eval lines are read
against. The `small` architecture at the dataset's leads; a checkpoint brings its own.
"""

import argparse
import datetime
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from flax import nnx  # noqa: E402

from benchmarks.emit import emit  # noqa: E402
from ecgjax.configs import common  # noqa: E402
from ecgjax.data import datasets, pipeline  # noqa: E402
from ecgjax.models import resnet1d  # noqa: E402
from ecgjax.training import (checkpoints, keeping, mesh as mesh_lib, parallel,  # noqa: E402
                             representation)


def backbone(name: str, leads: int):
  """(graphdef, params, batch_stats) of a ResNet1D whose backbone is `name`'s."""
  config = common.model_config("small")
  saved = None
  if name != "random":
    saved = checkpoints.read_pretrained(name)
    config.update({k: tuple(v) if isinstance(v, list) else v
                   for k, v in saved.config["model"].items()})
  model = resnet1d.ResNet1D(resnet1d.config_from(config), 1, leads, rngs=nnx.Rngs(params=0))
  graphdef, params, stats = nnx.split(model, nnx.Param, nnx.BatchStat)
  params, stats = nnx.to_pure_dict(params), nnx.to_pure_dict(stats)
  if saved is not None:
    params["backbone"], stats["backbone"] = saved.params["backbone"], saved.batch_stats["backbone"]
  return graphdef, params, stats


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data_dir", required=True)
  parser.add_argument("--dataset", default="ptbxl/superdiagnostic_100")
  parser.add_argument("--labels", default="all")
  parser.add_argument("--models", nargs="+", default=["random", "synthetic_foundation"])
  parser.add_argument("--out")
  args = parser.parse_args()
  probe = pipeline.TfdsInput(datasets.load_builder(args.dataset, args.data_dir),
                             labels=args.labels, global_batch=64, eval_batch=256,
                             train_split="train", seed=0, shuffle_buffer=128)
  par = parallel.make("jit", mesh_lib.make_data_mesh())
  for name in args.models:
    graphdef, params, stats = backbone(name, probe.signal_shape[-1])
    monitor = representation.RepresentationMonitor(probe, par, graphdef, probe=probe)
    state = keeping.place(par, params, stats, 0)
    for split in ("validation", "test"):
      summary = monitor(split, state, 0, probe_split=split)
      emit({"benchmark": "knn_probe", "model": name, "dataset": args.dataset, "split": split,
            **{k: summary[k] for k in ("examples", "embedding_width", "embedding_rank",
                                       "embedding_std", "knn_auroc", "knn_auroc_mean",
                                       "knn_auroc_median")},
            "command": "python " + " ".join(sys.argv),
            "date": datetime.date.today().isoformat()}, args.out)


if __name__ == "__main__":
  main()
