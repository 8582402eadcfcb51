"""What the tf.data pipeline delivers, and whether it keeps a training step fed.

  python benchmarks/input_pipeline.py --data_dir=DIR [--dataset synthetic_ecg/demo]
      [--threads 1 2] [--batch_size 64] [--batches 40] [--repeats 5] [--out FILE]
      [--train_size N --labels rare]

Three measurements, each the median of `--repeats` windows of `--batches` batches
after a warm-up window:
- `host`: ECG/s into host numpy batches (read, decode, shuffle, select labels,
  batch), with tf.data's thread pool capped at `--threads` cores, with and
  without augmentation (ecgjax/data/pipeline.py);
- `device`: the same, also placed on the devices as the trainer places them
  (`mesh.global_batch`, waited for);
- `training`: the trainer's step fed by the real pipeline against the same step
  on one batch already on the device, so an input stall shows as the gap.

With `--train_size N` the stream is a fine-tune's: N training ECGs of whole patients
(`restrict_training_set`), each `host` line measured with the subset kept in memory
and without (`subset_cached`), all measurements on 2 cores.
"""

import argparse
import datetime
import os
import statistics
import sys
import time

import jax
import optax
from flax import nnx

from emit import emit
from ecgjax.models.presets import PRESETS as MODELS
from ecgjax.data import datasets, pipeline
from ecgjax.models import resnet1d
from ecgjax.training import mesh as mesh_lib, steps


def source(args, threads: int, augment: bool) -> pipeline.TfdsInput:
  builder = datasets.load_builder(args.dataset, os.path.expanduser(args.data_dir))
  data = pipeline.TfdsInput(builder, labels=args.labels, global_batch=args.batch_size,
                            eval_batch=args.batch_size, train_split="train", seed=0,
                            shuffle_buffer=4096, augment=augment, threads=threads)
  if args.train_size:
    data.restrict_training_set(args.train_size, min_positives=10, seed=0)
  return data


def subset_stream(args) -> None:
  """A fine-tune's stream of `--train_size` ECGs, its subset cached and not."""
  for cached in (False, True):
    pipeline.CACHE_SUBSET_BYTES = (1 << 30) if cached else -1
    batches = source(args, 0, False).train_batches(0)

    def host(n, batches=batches):
      for _ in range(n):
        next(batches)

    emit(result(args, "host", windows(args, host), cores=os.cpu_count(), augment=False,
                train_size=args.train_size, subset_cached=cached), args.out)


def windows(args, consume) -> list[float]:
  """ECG/s of `consume(n_batches)` over repeated windows (the first is warm-up)."""
  rates = []
  for _ in range(args.repeats + 1):
    start = time.perf_counter()
    consume(args.batches)
    rates.append(args.batches * args.batch_size / (time.perf_counter() - start))
  return rates[1:]


def result(args, name: str, rates: list[float], **fields) -> dict:
  return {"benchmark": "input_pipeline", "measurement": name, "framework": "tf.data",
          "dataset": args.dataset, "batch_size": args.batch_size,
          "ecg_per_sec": statistics.median(rates), "windows": rates,
          "devices": jax.device_count(), "device_kind": jax.devices()[0].device_kind,
          "ecg_per_sec_per_device": statistics.median(rates) / jax.device_count(),
          "command": "python " + " ".join(sys.argv),
          "date": datetime.date.today().isoformat(), **fields}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data_dir", default="~/tensorflow_datasets")
  parser.add_argument("--dataset", default="synthetic_ecg/demo")
  parser.add_argument("--labels", default="all")
  parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
  parser.add_argument("--batch_size", type=int, default=64)
  parser.add_argument("--batches", type=int, default=40)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--model", default="small")
  parser.add_argument("--dtype", default="float32")
  parser.add_argument("--train_size", type=int, default=0)
  parser.add_argument("--out")
  args = parser.parse_args()
  if args.train_size:
    subset_stream(args)
    return
  mesh = mesh_lib.make_data_mesh()
  state_sharding, batch_sharding = mesh_lib.replicated(mesh), mesh_lib.batch_sharded(mesh)

  for threads in args.threads:
    for augment in (False, True):
      batches = source(args, threads, augment).train_batches(0)

      def host(n, batches=batches):
        for _ in range(n):
          next(batches)

      def device(n, batches=batches):
        for _ in range(n):
          placed = mesh_lib.global_batch(next(batches), batch_sharding)
        jax.block_until_ready(placed)

      fields = dict(cores=threads, augment=augment, model=None, dtype=None, mfu=None)
      rates = windows(args, host)
      emit(result(args, "host", rates, **fields,
                  ecg_per_sec_per_core=statistics.median(rates) / threads), args.out)
      emit(result(args, "device", windows(args, device), **fields), args.out)

  # ---- Training: the real pipeline against a batch already on the device.
  data = source(args, 0, False)
  cfg = resnet1d.ResNet1DConfig(**MODELS[args.model], dtype=args.dtype)
  model = resnet1d.ResNet1D(cfg, len(data.label_names), data.signal_shape[-1],
                            rngs=nnx.Rngs(params=0))
  tx = optax.adamw(1e-3)
  graphdef, state = steps.init_state(model, tx)
  state = jax.device_put(state, state_sharding)
  step = steps.make_train_step(graphdef, tx, 0, state_sharding, batch_sharding)
  batches = data.train_batches(0)
  fixed = mesh_lib.global_batch(next(batches), batch_sharding)
  holder = {"state": state}

  def train(n, feed):
    for _ in range(n):
      holder["state"], metrics = step(holder["state"], feed())
    jax.block_until_ready(metrics["loss"])

  for name, feed in (("training_synthetic_on_device", lambda: fixed),
                     ("training_real_pipeline",
                      lambda: mesh_lib.global_batch(next(batches), batch_sharding))):
    emit(result(args, name, windows(args, lambda n, feed=feed: train(n, feed)),
                cores=os.cpu_count(), augment=False, model=args.model, dtype=args.dtype,
                mfu=None), args.out)


if __name__ == "__main__":
  main()
