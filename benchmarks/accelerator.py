"""The accelerator benchmark as one command: train step, predict scoring, input pipeline.

  python benchmarks/accelerator.py --out benchmarks/results/accelerator_h100.jsonl
      [--models ribeiro2020 small hannun2019] [--batch_sizes 64 256 1024]
      [--dtypes bfloat16 float32] [--peer eager compiled channels_last]
      [--parallelism jit] [--samples 5000] [--time_limit_s 540] [--data_dir DIR]

Runs on a GPU (or TPU, or CPU) host that has jax, flax, optax, orbax-checkpoint
and torch but no TensorFlow and no network. Writes JSON lines, in this order:
1. `environment`: devices, versions, CPU cores;
2. `train_step` for every (model, dtype, batch size), JAX (the trainer's own step,
   training.parallel) beside the PyTorch peer in alternating windows of the same
   run: eager, `torch.compile`d, and compiled in channels-last (benchmarks/
   train_step.py, whose fields these lines carry, MFU included). A configuration
   that fails (out of memory, say) gets a line with its `error` and the run goes on;
3. `predict_scoring`: ECG/s of predict's batched scoring
   (inference.scoring.Scorer: host int16 windows in, log-odds out, on every
   local device) for each model and dtype, at batch 256;
4. `self_supervised_step`: the supervised, contrastive and VICReg steps of the `small`
   model on 10 s at 100 Hz, two 5 s views (benchmarks/self_supervised_step.py), at
   `--self_supervised_batch` in the first `--dtypes` (0: not run);
5. `input_pipeline`: the tf.data pipeline at 500 Hz on one CPU core
   (benchmarks/input_pipeline.py's `host` measurement), where TensorFlow and a
   built dataset (`--data_dir` holding synthetic_ecg/large) exist; otherwise a
   line saying which is missing;
6. `summary`: per (model, dtype, batch) JAX's ratio to the best PyTorch variant and
   its MFU, and the issue's two goals (bf16 at least 1.3x the best PyTorch variant;
   ribeiro2020 at its best batch at least 35% MFU), each met or not.
Configurations are run most important first: every configuration beside eager
PyTorch, then again beside the compiled variants (torch.compile's minutes per
configuration come last), ribeiro2020 bf16 leading each pass. Past `--time_limit_s`
the remaining ones are recorded as skipped, so a run inside a short lease still ends
with a summary of what it measured. Each line records `setup_s` (build, compile,
warm-up) per runner, to plan the next lease by.

The first H100 lease (15 min, 2026-11-28) measured JAX beside eager PyTorch at batch
256 (results/accelerator_h100.jsonl); its MFU was undercounted, see
benchmarks/step_flops.py.
"""

import argparse
import datetime
import importlib.util
import os
import statistics
import sys
import time
import traceback

import jax
import numpy as np
from flax import nnx

import self_supervised_step
import train_step
from emit import emit
from ecgjax.models.presets import PRESETS as MODELS
from ecgjax.inference import scoring
from ecgjax.models import resnet1d

NUM_LABELS = train_step.NUM_LABELS
GOAL_RATIO_BF16 = 1.3
GOAL_MFU_RIBEIRO = 0.35


def base_fields(args) -> dict:
  return {"device_kind": jax.devices()[0].device_kind, "devices": jax.local_device_count(),
          "command": "python " + " ".join(sys.argv), "date": datetime.date.today().isoformat()}


def environment(args) -> dict:
  torch_version = cuda = None
  if importlib.util.find_spec("torch"):
    import torch
    torch_version, cuda = torch.__version__, torch.cuda.is_available()
  return {"benchmark": "environment", "framework": "jax", "jax": jax.__version__,
          "backend": jax.default_backend(), "torch": torch_version, "torch_cuda": cuda,
          "cpu_cores": os.cpu_count(), "tensorflow": bool(importlib.util.find_spec("tensorflow")),
          **base_fields(args)}


def train_step_lines(args, model: str, batch: int, dtype: str, peers: list[str]) -> list[dict]:
  step_args = argparse.Namespace(
      samples=args.samples, strided_conv=args.strided_conv, parallelism=args.parallelism,
      peer=peers, warmup=args.warmup, steps=args.steps, windows=args.windows)
  return train_step.measure(step_args, model, batch, dtype)


def predict_scoring_line(args, model_name: str, dtype: str) -> dict:
  """Predict's scoring stage on `--predict_windows` host windows of 10 s at 500 Hz."""
  cfg = resnet1d.ResNet1DConfig(**MODELS[model_name], dtype=dtype,
                                strided_conv=args.strided_conv)
  graphdef, params, stats = nnx.split(resnet1d.ResNet1D(cfg, NUM_LABELS, 12,
                                                        rngs=nnx.Rngs(0)),
                                      nnx.Param, nnx.BatchStat)
  names = [f"label_{k}" for k in range(NUM_LABELS)]
  card = {"labels": names, "input": {"samples": args.samples, "leads": ["I"] * 12},
          "calibration": {"labels": {n: {"a": 1.0, "b": 0.0} for n in names}}}
  model = scoring.LoadedModel(card, "in-memory", 0, graphdef, nnx.to_pure_dict(params),
                              nnx.to_pure_dict(stats))
  scorer = scoring.Scorer(model, batch_size=args.predict_batch)
  windows = np.random.default_rng(0).integers(
      -2000, 2000, (args.predict_windows, args.samples, 12)).astype(np.int16)
  scorer(windows[:scorer.batch_size])             # compile
  rates = []
  for _ in range(args.windows):
    start = time.perf_counter()
    scorer(windows)
    rates.append(len(windows) / (time.perf_counter() - start))
  rate = statistics.median(rates)
  return {"benchmark": "predict_scoring", "framework": "jax", "model": model_name,
          "batch_size": scorer.batch_size, "dtype": dtype, "samples": args.samples,
          "ecg_per_sec": rate, "ecg_per_sec_per_device": rate / jax.local_device_count(),
          "windows": rates, "mfu": None, **base_fields(args)}


def input_pipeline_line(args) -> dict:
  line = {"benchmark": "input_pipeline", "framework": "tf.data", "model": None,
          "batch_size": 64, "dtype": None, "threads": 1, "sampling_rate": 500,
          "ecg_per_sec": None, "ecg_per_sec_per_device": None, "mfu": None,
          **base_fields(args)}
  if not importlib.util.find_spec("tensorflow"):
    return {**line, "skipped": "tensorflow is not installed on this host; the CPU "
                               "figures are in results/input_pipeline_cpu.jsonl"}
  if not args.data_dir:
    return {**line, "skipped": "no --data_dir holding synthetic_ecg/large (500 Hz)"}
  import input_pipeline
  from ecgjax.data import datasets
  pipe_args = argparse.Namespace(data_dir=args.data_dir, dataset="synthetic_ecg/large",
                                 labels="all", batch_size=64, batches=40,
                                 repeats=args.windows)
  if not datasets.is_built(pipe_args.dataset, os.path.expanduser(args.data_dir)):
    return {**line, "skipped": f"synthetic_ecg/large is not built under {args.data_dir}"}
  source = input_pipeline.source(pipe_args, threads=1, augment=False)
  batches = source.train_batches(0)

  def host(n):
    for _ in range(n):
      next(batches)

  rates = input_pipeline.windows(pipe_args, host)
  return {**line, "ecg_per_sec": statistics.median(rates), "windows": rates}


def self_supervised_lines(args, in_time: bool) -> list[dict]:
  """What a self-supervised step costs against supervised pretraining's on this device
  (issue: self-supervised pretraining, its cost on an accelerator)."""
  if not args.self_supervised_batch:
    return []
  key = {"benchmark": "self_supervised_step", "model": "small",
         "batch_size": args.self_supervised_batch, "dtype": args.dtypes[0]}
  if not in_time:
    return [{**key, "skipped": f"time limit {args.time_limit_s:.0f} s", **base_fields(args)}]
  settings = argparse.Namespace(model="small", batch_size=args.self_supervised_batch,
                                samples=1000, view_samples=500, dtype=args.dtypes[0],
                                warmup=args.warmup, steps=args.steps, windows=args.windows)
  try:
    return self_supervised_step.measure(settings)
  except Exception as e:  # noqa: BLE001  out of memory: the rest of the run goes on
    return [{**key, "error": f"{type(e).__name__}: {str(e)[:500]}", **base_fields(args)}]


def summary(train_lines: list[dict], args) -> dict:
  """JAX against the best PyTorch variant, per configuration, and the goals."""
  configs = {}
  for line in train_lines:
    if "error" in line or "skipped" in line:
      continue
    key = (line["model"], line["dtype"], line["batch_size"])
    configs.setdefault(key, []).append(line)
  rows = []
  for (model, dtype, batch), lines in sorted(configs.items()):
    jax_lines = [ln for ln in lines if ln["framework"] == "jax"]
    torch_lines = [ln for ln in lines if ln["framework"] == "torch"]
    best_jax = max(jax_lines, key=lambda ln: ln["ecg_per_sec"])
    best_torch = max(torch_lines, key=lambda ln: ln["ecg_per_sec"]) if torch_lines else None
    rows.append({"model": model, "dtype": dtype, "batch_size": batch,
                 "jax_variant": best_jax["variant"], "jax_ecg_per_sec": best_jax["ecg_per_sec"],
                 "jax_mfu": best_jax["mfu"],
                 "best_torch_variant": best_torch and best_torch["variant"],
                 "best_torch_ecg_per_sec": best_torch and best_torch["ecg_per_sec"],
                 "ratio": (best_jax["ecg_per_sec"] / best_torch["ecg_per_sec"]
                           if best_torch else None)})
  bf16 = [r for r in rows if r["dtype"] == "bfloat16" and r["ratio"] is not None]
  ribeiro = [r for r in rows if r["model"] == "ribeiro2020" and r["jax_mfu"] is not None]
  best_ribeiro = max(ribeiro, key=lambda r: r["jax_mfu"], default=None)
  goals = {
      f"bf16_ratio_at_least_{GOAL_RATIO_BF16}": (
          None if not bf16 else all(r["ratio"] >= GOAL_RATIO_BF16 for r in bf16)),
      "bf16_lowest_ratio": min((r["ratio"] for r in bf16), default=None),
      f"ribeiro2020_mfu_at_least_{GOAL_MFU_RIBEIRO}": (
          None if best_ribeiro is None else best_ribeiro["jax_mfu"] >= GOAL_MFU_RIBEIRO),
      "ribeiro2020_best_mfu": best_ribeiro and best_ribeiro["jax_mfu"],
      "ribeiro2020_best_mfu_at": best_ribeiro and [best_ribeiro["dtype"],
                                                   best_ribeiro["batch_size"]],
  }
  return {"benchmark": "summary", "framework": "jax", "model": None, "batch_size": None,
          "dtype": None, "ecg_per_sec": None, "ecg_per_sec_per_device": None, "mfu": None,
          "rows": rows, "goals": goals, **base_fields(args)}


def ordered_configs(args) -> list[tuple[str, str, int]]:
  """ribeiro2020 first (the MFU goal), bf16 before fp32, then the other models."""
  models = sorted(args.models, key=lambda m: (m != "ribeiro2020", args.models.index(m)))
  dtypes = sorted(args.dtypes, key=lambda d: (d != "bfloat16", args.dtypes.index(d)))
  return [(m, d, b) for m in models for d in dtypes for b in args.batch_sizes]


def peer_passes(peers: list[str]) -> list[list[str]]:
  """Every configuration beside eager PyTorch first, then again beside the compiled
  variants: torch.compile of a ribeiro2020 step took over 3 min on an H100 host
  (16 cores), so within a short lease the eager pass is what reaches every model."""
  eager = [p for p in peers if p == "eager"]
  compiled = [p for p in peers if p != "eager"]
  return [p for p in (eager, compiled) if p] or [[]]


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--models", nargs="+", default=["ribeiro2020", "small", "hannun2019"],
                      choices=sorted(MODELS))
  parser.add_argument("--batch_sizes", type=int, nargs="+", default=[64, 256, 1024])
  parser.add_argument("--dtypes", nargs="+", default=["bfloat16", "float32"])
  parser.add_argument("--peer", nargs="*", default=["eager", "compiled", "channels_last"],
                      choices=["eager", "compiled", "channels_last"])
  parser.add_argument("--parallelism", nargs="+", default=["jit"], choices=["jit", "pmap"])
  parser.add_argument("--samples", type=int, default=5000)     # 500 Hz x 10 s
  parser.add_argument("--strided_conv", default="space_to_depth",
                      choices=["space_to_depth", "native"])
  parser.add_argument("--warmup", type=int, default=3)
  parser.add_argument("--steps", type=int, default=10)
  parser.add_argument("--windows", type=int, default=5)
  parser.add_argument("--predict_batch", type=int, default=256)
  parser.add_argument("--predict_windows", type=int, default=2048)
  parser.add_argument("--self_supervised_batch", type=int, default=512,
                      help="the self-supervised steps' batch; 0: not measured")
  parser.add_argument("--data_dir", default="", help="holding synthetic_ecg/large, for the "
                      "input pipeline (needs TensorFlow)")
  parser.add_argument("--time_limit_s", type=float, default=540.0,
                      help="configurations not started by then are recorded as skipped")
  parser.add_argument("--out")
  args = parser.parse_args()
  start = time.perf_counter()

  def in_time() -> bool:
    return time.perf_counter() - start < args.time_limit_s

  emit(environment(args), args.out)
  train_lines = []
  for (model, dtype, batch), peers in [(c, p) for p in peer_passes(args.peer)
                                       for c in ordered_configs(args)]:
    key = {"benchmark": "train_step", "model": model, "dtype": dtype, "batch_size": batch,
           "peers": peers}
    if not in_time():
      line = {**key, "skipped": f"time limit {args.time_limit_s:.0f} s", **base_fields(args)}
      emit(line, args.out)
      train_lines.append(line)
      continue
    try:
      lines = train_step_lines(args, model, batch, dtype, peers)
    except Exception as e:  # noqa: BLE001  out of memory, a compiler failure: go on
      lines = [{**key, "error": f"{type(e).__name__}: {str(e)[:500]}",
                "traceback": traceback.format_exc()[-2000:], **base_fields(args)}]
    for line in lines:
      emit(line, args.out)
    train_lines += lines
  for model_name, dtype in dict.fromkeys((m, d) for m, d, _ in ordered_configs(args)):
    if not in_time():
      emit({"benchmark": "predict_scoring", "model": model_name, "dtype": dtype,
            "skipped": f"time limit {args.time_limit_s:.0f} s", **base_fields(args)}, args.out)
      continue
    try:
      emit(predict_scoring_line(args, model_name, dtype), args.out)
    except Exception as e:  # noqa: BLE001
      emit({"benchmark": "predict_scoring", "model": model_name, "dtype": dtype,
            "error": f"{type(e).__name__}: {str(e)[:500]}", **base_fields(args)}, args.out)
  for line in self_supervised_lines(args, in_time()):
    emit(line, args.out)
  emit(input_pipeline_line(args), args.out)
  emit(summary(train_lines, args), args.out)


if __name__ == "__main__":
  main()
