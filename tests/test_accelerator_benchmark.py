"""benchmarks/accelerator.py runs where the GPU host is: no TensorFlow, no TFDS and
none of the archive readers' libraries. A tiny CPU run with those imports blocked
must write every field a benchmark line carries (docs/benchmarks.md), and its summary."""

import argparse
import json
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.slow     # trains a model or runs a command end to end

BLOCKED = ("tensorflow", "tensorflow_datasets", "wfdb", "h5py", "defusedxml")
RUN = f"""
import runpy, sys
for name in {BLOCKED!r}:
  sys.modules[name] = None          # import raises ImportError, find_spec says absent
sys.path.insert(0, "benchmarks")
sys.argv = ["benchmarks/accelerator.py"] + sys.argv[1:]
runpy.run_path("benchmarks/accelerator.py", run_name="__main__")
"""
FIELDS = ("benchmark", "framework", "model", "batch_size", "dtype", "devices", "device_kind",
          "ecg_per_sec", "ecg_per_sec_per_device", "mfu", "command", "date")


def test_one_command_without_tensorflow(tmp_path):
  out = tmp_path / "accelerator.jsonl"
  proc = subprocess.run(
      [sys.executable, "-c", RUN, "--models", "small", "--batch_sizes", "8",
       "--dtypes", "float32", "--peer", "eager", "--parallelism", "jit", "pmap",
       "--samples", "400", "--warmup", "1", "--steps", "1", "--windows", "1",
       "--predict_batch", "8", "--predict_windows", "16", "--self_supervised_batch", "8",
       "--out", str(out)],
      cwd=REPO, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  lines = [json.loads(line) for line in out.read_text().splitlines()]
  kinds = [line["benchmark"] for line in lines]
  assert kinds[0] == "environment" and lines[0]["tensorflow"] is False
  assert kinds[-2:] == ["input_pipeline", "summary"]
  assert "tensorflow is not installed" in lines[-2]["skipped"]
  train = [line for line in lines if line["benchmark"] == "train_step"]
  # JAX jit and pmap beside PyTorch eager, in the same run.
  assert [(t["model"], t["framework"], t["variant"]) for t in train] == [
      ("small", "jax", "jit"), ("small", "jax", "pmap"), ("small", "torch", "eager")]
  scoring = [line for line in lines if line["benchmark"] == "predict_scoring"]
  assert [s["model"] for s in scoring] == ["small"]
  for line in train + scoring:
    assert all(field in line for field in FIELDS), line
    assert line["ecg_per_sec"] > 0
  assert all(t["setup_s"] > 0 for t in train)     # to plan the next lease by
  # The self-supervised objectives' step against supervised pretraining's, same run.
  ssl = [line for line in lines if line["benchmark"] == "self_supervised_step"]
  assert [s.get("variant") for s in ssl] == ["supervised", "contrastive", "vicreg"], ssl
  assert all(s["ecg_per_sec"] > 0 and s["views_per_sec"] == 2 * s["ecg_per_sec"]
             for s in ssl[1:])
  assert ssl[0]["relative_to_supervised"] == 1.0
  [row] = lines[-1]["rows"]
  assert (row["model"], row["batch_size"], row["best_torch_variant"]) == ("small", 8, "eager")
  assert abs(row["ratio"] - row["jax_ecg_per_sec"] / row["best_torch_ecg_per_sec"]) < 1e-9
  goals = lines[-1]["goals"]
  assert goals["bf16_ratio_at_least_1.3"] is None           # no bf16 configuration ran
  assert "ribeiro2020_mfu_at_least_0.35" in goals           # None where the peak is unknown


def test_configurations_run_most_important_first():
  """ribeiro2020 first (the MFU goal), bf16 before fp32, batches in the order given."""
  sys.path.insert(0, os.path.join(REPO, "benchmarks"))
  import accelerator
  args = argparse.Namespace(models=["small", "ribeiro2020", "hannun2019"],
                            dtypes=["float32", "bfloat16"], batch_sizes=[64, 256])
  assert accelerator.ordered_configs(args)[:5] == [
      ("ribeiro2020", "bfloat16", 64), ("ribeiro2020", "bfloat16", 256),
      ("ribeiro2020", "float32", 64), ("ribeiro2020", "float32", 256),
      ("small", "bfloat16", 64)]
  assert accelerator.ordered_configs(args)[-1] == ("hannun2019", "float32", 256)


def test_eager_pass_reaches_every_configuration_before_torch_compile():
  sys.path.insert(0, os.path.join(REPO, "benchmarks"))
  import accelerator
  assert accelerator.peer_passes(["compiled", "eager", "channels_last"]) == [
      ["eager"], ["compiled", "channels_last"]]
  assert accelerator.peer_passes(["compiled"]) == [["compiled"]]
  assert accelerator.peer_passes([]) == [[]]      # JAX alone, once


def test_rescore_counts_the_lowered_step_and_recomputes_mfu():
  """step_flops.py: a line measured elsewhere (here with the compiled-GPU undercount)
  gets the step's FLOPs from lowering, which XLA:CPU's compiled analysis confirms, and
  MFU = FLOPs x ECG/s / batch / devices / peak."""
  sys.path.insert(0, os.path.join(REPO, "benchmarks"))
  import step_flops
  import train_step
  from ecgjax.training import mesh as mesh_lib, parallel
  import jax
  measured = {"benchmark": "train_step", "framework": "jax", "variant": "jit",
              "model": "small", "batch_size": 4, "dtype": "float32", "samples": 400,
              "strided_conv": "space_to_depth", "devices": 2, "ecg_per_sec": 1000.0,
              "step_flops": 1.0, "mfu": 1e-9, "peak_tflops": 10.0}
  torch_line = {**measured, "framework": "torch", "variant": "eager",
                "strided_conv": "native", "ecg_per_sec": 500.0}
  jax_out, torch_out = step_flops.rescore(
      [{"benchmark": "environment"}, measured, torch_line,
       {"benchmark": "train_step", "skipped": "time limit"}], "measured.jsonl")
  par = parallel.make("jit", mesh_lib.make_data_mesh(jax.local_devices()[:1]))
  graphdef, tx, state, batch = train_step.step_inputs(par, "small", 4, "float32", 400,
                                                      "space_to_depth")
  compiled, _ = par.compile_train_step(graphdef, tx, 0, state, batch)
  flops = jax_out["step_flops"]
  assert flops == torch_out["step_flops"]
  assert abs(flops / compiled.cost_analysis()["flops"] - 1) < 0.10
  assert abs(jax_out["mfu"] - flops * 1000 / 4 / 2 / 10e12) < 1e-12
  assert abs(torch_out["mfu"] - flops * 500 / 4 / 2 / 10e12) < 1e-12
  assert jax_out["mfu_as_measured"] == 1e-9 and "measured.jsonl" in jax_out["step_flops_source"]


def test_time_limit_records_what_was_skipped(tmp_path):
  out = tmp_path / "accelerator.jsonl"
  proc = subprocess.run(
      [sys.executable, "-c", RUN, "--models", "small", "--batch_sizes", "8", "16",
       "--dtypes", "float32", "--peer", "--samples", "400", "--time_limit_s", "0",
       "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  lines = [json.loads(line) for line in out.read_text().splitlines()]
  skipped = [(line["benchmark"], line.get("batch_size")) for line in lines if "skipped" in line]
  assert skipped[:3] == [("train_step", 8), ("train_step", 16), ("predict_scoring", None)]
  assert lines[-1]["benchmark"] == "summary" and lines[-1]["rows"] == []
