"""What a self-supervised step costs against supervised pretraining's, ECGs per second.

  python benchmarks/self_supervised_step.py [--model small] [--batch_size 128]
      [--samples 1000] [--view_samples 500] [--dtype float32] [--out FILE]

Three steps of the trainer (training.parallel `jit` over every local device, state
donated, AdamW), on a fixed on-device batch of int16 µV ECGs of `--samples`:

- `supervised`: the multi-label step of pretraining, on one `--view_samples` crop of
  each ECG (as the demo and the PTB-XL benchmark train: dataset.crop_s);
- `contrastive` and `vicreg`: each ECG cut into two views of `--view_samples`
  (training.self_supervised), both through the backbone and the projector in one pass.

A self-supervised ECG is two views, so its step runs the network on twice the
samples: the figure to expect is about half the supervised ECG/s, and `views_per_sec`
says how far from that the objective's own work (views, projector, loss over the
batch) takes it. After warm-up, `--windows` timed windows of `--steps` steps alternate
between the three; each figure is the median window. Imports no TensorFlow.
"""

import argparse
import datetime
import statistics
import sys
import time

import jax
import numpy as np
import optax
from flax import nnx

from emit import emit
from ecgjax.models import resnet1d, self_supervised as ssl_model
from ecgjax.models.presets import PRESETS
from ecgjax.training import mesh as mesh_lib, parallel, self_supervised, steps

NUM_LABELS = 68
KINDS = ("supervised", *self_supervised.OBJECTIVES)


class Step:
  """One kind of step, compiled, on a fixed batch."""

  def __init__(self, kind: str, args):
    par = parallel.make("jit", mesh_lib.make_data_mesh(jax.local_devices()))
    cfg = resnet1d.ResNet1DConfig(**PRESETS[args.model], dtype=args.dtype)
    rng = np.random.default_rng(0)
    ssl = None
    if kind == "supervised":
      model = resnet1d.ResNet1D(cfg, NUM_LABELS, 12, rngs=nnx.Rngs(params=0))
      batch = {"signal": rng.integers(-2000, 2000, (args.batch_size, args.view_samples, 12)
                                      ).astype(np.int16),
               "labels": (rng.uniform(size=(args.batch_size, NUM_LABELS)) < 0.05
                          ).astype(np.float32)}
    else:
      objective = self_supervised.Objective(
          name=kind, projector=(512, 512, 512) if kind == "vicreg" else (512, 128))
      model = ssl_model.SelfSupervisedNet(cfg, objective.projector, 12,
                                          rngs=nnx.Rngs(params=0))
      batch = {"signal": rng.integers(-2000, 2000, (args.batch_size, args.samples, 12)
                                      ).astype(np.int16)}
      ssl = self_supervised.SelfSupervision(objective, args.view_samples)
    tx = optax.adamw(1e-3, weight_decay=1e-4)
    graphdef, state = steps.init_state(model, tx)
    self.state = par.from_checkpoint(jax.device_put(state, par.state_sharding))
    self.batch = jax.block_until_ready(par.put_batch(batch))
    self.step, self.flops = par.compile_train_step(graphdef, tx, 0, self.state, self.batch,
                                                   ssl=ssl)
    self.views = 1 if ssl is None else 2

  def run(self, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
      self.state, metrics = self.step(self.state, self.batch)
    jax.block_until_ready(metrics["loss"])
    return time.perf_counter() - start


def measure(args) -> list[dict]:
  """The three steps' lines for `args` (model, batch_size, samples, view_samples, dtype,
  warmup, steps, windows): the benchmark's whole measurement, also called by
  benchmarks/accelerator.py on a lent device."""
  runners, setup_s = {}, {}
  for kind in KINDS:
    start = time.perf_counter()
    runners[kind] = Step(kind, args)
    runners[kind].run(args.warmup)
    setup_s[kind] = time.perf_counter() - start
  rates = {kind: [] for kind in KINDS}
  for _ in range(args.windows):
    for kind, runner in runners.items():
      rates[kind].append(args.steps * args.batch_size / runner.run(args.steps))
  devices = jax.device_count()
  supervised = statistics.median(rates["supervised"])
  lines = []
  for kind, windows in rates.items():
    ecg_per_sec = statistics.median(windows)
    lines.append({
        "benchmark": "self_supervised_step", "framework": "jax", "variant": kind,
        "model": args.model, "batch_size": args.batch_size, "dtype": args.dtype,
        "samples": args.samples, "view_samples": args.view_samples, "devices": devices,
        "device_kind": jax.devices()[0].device_kind, "ecg_per_sec": ecg_per_sec,
        "ecg_per_sec_per_device": ecg_per_sec / devices,
        "views_per_sec": ecg_per_sec * runners[kind].views,
        "relative_to_supervised": ecg_per_sec / supervised,
        "step_flops": runners[kind].flops * devices if runners[kind].flops else None,
        "mfu": None, "windows": windows, "setup_s": setup_s[kind],
        "command": "python " + " ".join(sys.argv),
        "date": datetime.date.today().isoformat()})
  return lines


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model", default="small")
  parser.add_argument("--batch_size", type=int, default=128)
  parser.add_argument("--samples", type=int, default=1000)        # 10 s at 100 Hz
  parser.add_argument("--view_samples", type=int, default=500)    # 5 s
  parser.add_argument("--dtype", default="float32")
  parser.add_argument("--warmup", type=int, default=3)
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument("--windows", type=int, default=5)
  parser.add_argument("--out")
  args = parser.parse_args()
  for line in measure(args):
    emit(line, args.out)


if __name__ == "__main__":
  main()
