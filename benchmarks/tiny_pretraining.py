"""Where the test suite's time goes: one tiny pretraining (the suite's config, 8 steps
on synthetic_ecg/tiny), its wall time and the share XLA spends compiling, with a cold
and a warm persistent compilation cache, on 1 and 8 simulated CPU devices.

  python benchmarks/tiny_pretraining.py [--runs 3] [--out benchmarks/results/tiny_pretraining_cpu.jsonl]

Each run is a fresh process (as a test's subprocess is); `compile_s` sums JAX's
backend-compile durations (jax.monitoring), which a cache hit skips. One JSON line
per (devices, cache) with the medians of `--runs` runs.
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


def child(data_dir: str, workdir: str) -> None:
  """One pretraining in this process; prints {import_s, pretrain_s, compile_s}."""
  started = time.perf_counter()
  import jax
  compiled = []
  jax.monitoring.register_event_duration_secs_listener(
      lambda event, seconds, **_: compiled.append(seconds) if event == COMPILE_EVENT else None)
  sys.path.insert(0, REPO)
  from ecgjax.experiments import pretraining
  from tests.helpers import tiny_pretrain_config
  imported = time.perf_counter()
  pretraining.train_and_evaluate(tiny_pretrain_config(data_dir), workdir)
  print(json.dumps({"import_s": imported - started,
                    "pretrain_s": time.perf_counter() - imported,
                    "compile_s": sum(compiled), "compilations": len(compiled),
                    "devices": jax.device_count(), "device_kind": jax.devices()[0].device_kind}))


def measure(data_dir: str, devices: int, cache_dir: str, xla_flags: str = "") -> dict:
  env = {**os.environ,
         "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices} {xla_flags}".strip(),
         "TF_CPP_MIN_LOG_LEVEL": "2", "JAX_COMPILATION_CACHE_DIR": cache_dir,
         "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
         "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1"}
  with tempfile.TemporaryDirectory() as workdir:
    out = subprocess.run([sys.executable, __file__, "--child", data_dir, workdir], env=env,
                         cwd=REPO, capture_output=True, text=True, check=True)
  return json.loads(out.stdout.strip().splitlines()[-1])


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--runs", type=int, default=3)
  parser.add_argument("--devices", type=int, nargs="+", default=[1, 8])
  parser.add_argument("--xla_flags", default="",
                      help="more XLA flags for the runs (the suite's compile options)")
  parser.add_argument("--out")
  parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    child(*args.child)
    return
  sys.path.insert(0, os.path.join(REPO, "benchmarks"))
  from emit import emit
  from tfds_builders.synthetic_ecg import synthetic_ecg_dataset_builder as synthetic
  data_dir = tempfile.mkdtemp(prefix="tiny_tfds_")
  synthetic.Builder(config="tiny", data_dir=data_dir).download_and_prepare()
  for devices in args.devices:
    for cache in ("cold", "warm"):
      runs = []
      for _ in range(args.runs):
        cache_dir = tempfile.mkdtemp(prefix="jax_cache_")
        if cache == "warm":
          measure(data_dir, devices, cache_dir, args.xla_flags)        # fills the cache
        runs.append(measure(data_dir, devices, cache_dir, args.xla_flags))
      median = {k: statistics.median(r[k] for r in runs)
                for k in ("import_s", "pretrain_s", "compile_s", "compilations")}
      # 8 steps of 16 ECGs; the figure is the whole run's (compile, eval and saves in it).
      emit({"benchmark": "tiny_pretraining", "framework": "jax", "model": "tiny (tests)",
            "batch_size": 16, "dtype": "float32", "devices": devices,
            "xla_flags": args.xla_flags,
            "device_kind": runs[0]["device_kind"], "cache": cache, "runs": len(runs),
            **median, "compile_share": median["compile_s"] / median["pretrain_s"],
            "ecg_per_sec": 8 * 16 / median["pretrain_s"],
            "ecg_per_sec_per_device": 8 * 16 / median["pretrain_s"] / devices, "mfu": None,
            "command": "python " + " ".join(sys.argv),
            "date": datetime.date.today().isoformat()}, args.out)


if __name__ == "__main__":
  main()
