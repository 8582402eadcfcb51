"""Steady-state train-step throughput and model FLOP utilisation, JAX beside PyTorch.

  python benchmarks/train_step.py [--models small ribeiro2020] [--batch_sizes 32 64]
      [--dtypes float32 bfloat16] [--samples 5000] [--parallelism jit pmap]
      [--peer eager compiled channels_last] [--out FILE]

For each (model, batch size, dtype): the ecgjax train step (the trainer's own,
training.parallel: `jit` over a `data` mesh of every local device and/or `pmap`
over the same devices; state donated, AdamW, multi-label BCE) on a synthetic
on-device batch of int16 µV (batch, samples, 12), and the PyTorch peer
(benchmarks/torch_peer.py: same architecture and parameter count) eager,
`torch.compile`d, and/or compiled in channels-last memory format. After warm-up,
`--windows` timed windows of `--steps` steps alternate between the frameworks,
so drift on the machine hits both alike; each figure is the median window.
MFU = FLOPs of the compiled JAX step (XLA cost analysis, per device) / step time
/ the device's peak for the dtype (`PEAKS`, with its source; for x86 CPUs an
estimate from the clock and vector width, labelled as such); null where unknown. The PyTorch MFU uses the same FLOP count. Imports no
TensorFlow: it runs on a GPU host without it.
"""

import argparse
import datetime
import functools
import os
import statistics
import sys
import time

import jax
import numpy as np
import optax
from flax import nnx

from emit import emit
from ecgjax.models.presets import PRESETS as MODELS
from ecgjax.models import resnet1d
from ecgjax.training import mesh as mesh_lib, parallel, steps

NUM_LABELS = 68
# Dense peak TFLOP/s per device, by jax device_kind, and where the figure comes from.
PEAKS = {
    # XLA's default precision runs fp32 convolutions and matmuls on TF32 tensor cores,
    # as PyTorch's cuDNN does by default: fp32 is held to the dense TF32 peak.
    "NVIDIA H200": {"bfloat16": 989.5, "float32": 494.7,
                    "source": "NVIDIA H200 SXM datasheet: BF16 1,979 and TF32 989 TFLOPS "
                              "with sparsity; dense is half"},
    "NVIDIA H100 80GB HBM3": {"bfloat16": 989.5, "float32": 494.7,
                              "source": "NVIDIA H100 SXM datasheet, dense (half the sparse)"},
    "TPU v4": {"bfloat16": 275.0, "float32": 275.0, "source": "Google Cloud TPU v4 docs"},
    "TPU v5 lite": {"bfloat16": 197.0, "float32": 197.0, "source": "Google Cloud TPU v5e docs"},
    "TPU v5p": {"bfloat16": 459.0, "float32": 459.0, "source": "Google Cloud TPU v5p docs"},
}


def cpu_peak() -> dict:
  """An estimated peak for x86 CPUs from /proc/cpuinfo: cores x clock x FLOP/cycle
  (2 FMA units x 16 fp32 lanes x 2 with AVX-512, 8 lanes with AVX2; AVX512_BF16
  doubles the bf16 rate). An estimate, labelled as one in the JSON."""
  try:
    with open("/proc/cpuinfo") as f:
      info = f.read()
  except OSError:
    return {}
  flags = next((ln.split(":", 1)[1].split() for ln in info.splitlines()
                if ln.startswith("flags")), [])
  mhz = next((float(ln.split(":", 1)[1]) for ln in info.splitlines()
              if ln.startswith("cpu MHz")), 0.0)
  cores = os.cpu_count() or 1
  per_cycle = 64 if "avx512f" in flags else 32 if "avx2" in flags else 0
  if not per_cycle or not mhz:
    return {}
  fp32 = cores * mhz * 1e6 * per_cycle / 1e12
  return {"float32": fp32, "bfloat16": fp32 * (2 if "avx512_bf16" in flags else 1),
          "source": f"estimate: {cores} cores x {mhz:.0f} MHz (/proc/cpuinfo) x {per_cycle} "
                    "fp32 FLOP/cycle (2 FMA units); bf16 x2 with AVX512_BF16"}


def command_line() -> str:
  return "python " + " ".join(sys.argv)


def step_inputs(par, model_name: str, batch_size: int, dtype: str, samples: int,
                strided_conv: str):
  """(graphdef, optimiser, state, batch) of the benchmarked step, placed for `par`:
  AdamW, and a fixed batch of int16 µV with 5% positive labels."""
  cfg = resnet1d.ResNet1DConfig(**MODELS[model_name], dtype=dtype, strided_conv=strided_conv)
  model = resnet1d.ResNet1D(cfg, NUM_LABELS, 12, rngs=nnx.Rngs(params=0))
  tx = optax.adamw(1e-3, weight_decay=1e-4)
  graphdef, state = steps.init_state(model, tx)
  rng = np.random.default_rng(0)
  batch = {"signal": rng.integers(-2000, 2000, (batch_size, samples, 12)).astype(np.int16),
           "labels": (rng.uniform(size=(batch_size, NUM_LABELS)) < 0.05).astype(np.uint8)}
  batch = jax.block_until_ready(par.put_batch(batch))
  state = par.from_checkpoint(jax.device_put(state, par.state_sharding))
  return graphdef, tx, state, batch


class JaxStep:
  """The trainer's step on a fixed on-device batch."""

  def __init__(self, model_name: str, batch_size: int, dtype: str, samples: int,
               strided_conv: str, parallelism: str = "jit"):
    par = parallel.make(parallelism, mesh_lib.make_data_mesh(jax.local_devices()))
    graphdef, tx, self.state, self.batch = step_inputs(par, model_name, batch_size, dtype,
                                                       samples, strided_conv)
    self.compiled, self.flops_per_device = par.compile_train_step(graphdef, tx, 0, self.state,
                                                                   self.batch)
    self.devices = jax.device_count()

  def run(self, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
      self.state, metrics = self.compiled(self.state, self.batch)
    jax.block_until_ready(metrics["loss"])
    return time.perf_counter() - start


class TorchStep:

  def __init__(self, model_name: str, batch_size: int, dtype: str, samples: int,
               variant: str):
    import torch
    import torch_peer
    self.torch = torch
    self.device = "cuda" if torch.cuda.is_available() else "cpu"
    if self.device == "cuda":
      # What a PyTorch user sets for a fixed-shape convnet: cuDNN picks its fastest
      # algorithm per shape (as XLA autotunes), and fp32 matmuls use TF32 as XLA's
      # default precision does. The first H100 run (2026-11-28) had neither.
      torch.backends.cudnn.benchmark = True
      torch.set_float32_matmul_precision("high")
    self.step = torch_peer.TrainStep(MODELS[model_name], NUM_LABELS, dtype,
                                     compiled=variant in ("compiled", "channels_last"),
                                     channels_last=variant == "channels_last").to(self.device)
    g = torch.Generator().manual_seed(0)
    self.signal = self.step.input_layout(
        torch.randint(-2000, 2000, (batch_size, 12, samples), generator=g)
        .float().div(1000).to(self.device))
    self.labels = (torch.rand(batch_size, NUM_LABELS, generator=g) < 0.05).float().to(
        self.device)
    self.parameters = torch_peer.parameter_count(self.step.model)

  def run(self, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
      loss = self.step.step(self.signal, self.labels)
    loss.item()                        # waits for the device
    if self.device == "cuda":
      self.torch.cuda.synchronize()
    return time.perf_counter() - start


def _torch_threads():
  if "torch" not in sys.modules:
    return None
  return sys.modules["torch"].get_num_threads()


def measure(args, model_name: str, batch_size: int, dtype: str) -> list[dict]:
  makers = {f"jax_{p}": functools.partial(JaxStep, model_name, batch_size, dtype, args.samples,
                                          args.strided_conv, p) for p in args.parallelism}
  for variant in args.peer:
    makers[f"torch_{variant}"] = functools.partial(TorchStep, model_name, batch_size, dtype,
                                                   args.samples, variant)
  runners, setup_s = {}, {}
  for name, make in makers.items():
    # Building, compiling (autotuning on a GPU; torch.compile took over 3 min for
    # ribeiro2020 on an H100 host) and warming up: recorded, so a short lease can be
    # planned from the last run's figures.
    start = time.perf_counter()
    runners[name] = make()
    runners[name].run(args.warmup)
    setup_s[name] = time.perf_counter() - start
    print(f"[train_step] {model_name} {dtype} batch {batch_size} {name}: set up in "
          f"{setup_s[name]:.1f} s", file=sys.stderr, flush=True)
  windows = {name: [] for name in runners}
  for _ in range(args.windows):       # alternate: each window of each framework in turn
    for name, runner in runners.items():
      windows[name].append(args.steps * batch_size / runner.run(args.steps))
  jax_step = runners[f"jax_{args.parallelism[0]}"]
  kind = jax.devices()[0].device_kind
  peak = PEAKS.get(kind) or (cpu_peak() if kind == "cpu" else {})
  # XLA's cost analysis counts one device's share of the SPMD program.
  global_flops = (jax_step.flops_per_device * jax_step.devices
                  if jax_step.flops_per_device else None)
  out = []
  for name, rates in windows.items():
    ecg_per_sec = statistics.median(rates)
    framework, _, variant = name.partition("_")
    devices = jax_step.devices if framework == "jax" else 1
    flops_per_sec_per_device = (global_flops * ecg_per_sec / batch_size / devices
                                if global_flops else None)
    out.append({
        "benchmark": "train_step", "framework": framework, "variant": variant,
        "model": model_name, "batch_size": batch_size, "dtype": dtype,
        "strided_conv": args.strided_conv if framework == "jax" else "native",
        "samples": args.samples, "devices": devices, "device_kind": kind,
        "ecg_per_sec": ecg_per_sec, "ecg_per_sec_per_device": ecg_per_sec / devices,
        "windows": rates, "setup_s": setup_s[name], "step_flops": global_flops,
        "tflops_per_sec_per_device": (flops_per_sec_per_device / 1e12
                                      if flops_per_sec_per_device else None),
        "mfu": (flops_per_sec_per_device / (peak[dtype] * 1e12)
                if flops_per_sec_per_device and dtype in peak else None),
        "peak_tflops": peak.get(dtype), "peak_source": peak.get("source"),
        "xla_flags": os.environ.get("XLA_FLAGS", ""), "torch_threads": _torch_threads(),
        "command": command_line(), "date": datetime.date.today().isoformat()})
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--models", nargs="+", default=["small", "ribeiro2020"])
  parser.add_argument("--batch_sizes", type=int, nargs="+", default=[32])
  parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
  parser.add_argument("--samples", type=int, default=5000)     # 500 Hz x 10 s
  parser.add_argument("--parallelism", nargs="+", default=["jit"], choices=["jit", "pmap"])
  parser.add_argument("--peer", nargs="*", default=["eager", "compiled"],
                      choices=["eager", "compiled", "channels_last"],
                      help="channels_last: the 2-D form in channels-last, torch.compile'd")
  parser.add_argument("--strided_conv", default="space_to_depth",
                      choices=["space_to_depth", "native"])
  parser.add_argument("--warmup", type=int, default=3)
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument("--windows", type=int, default=5)
  parser.add_argument("--out")
  args = parser.parse_args()
  for model_name in args.models:
    for batch_size in args.batch_sizes:
      for dtype in args.dtypes:
        for result in measure(args, model_name, batch_size, dtype):
          emit(result, args.out)


if __name__ == "__main__":
  main()
