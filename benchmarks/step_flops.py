"""FLOPs of the benchmarked train step, counted from its lowered program, and MFU
recomputed from them for a measurement made on another host.

  python benchmarks/step_flops.py --rescore benchmarks/results/accelerator_h100.jsonl \
      --out benchmarks/results/accelerator_h100_rescored.jsonl

Why: before 2026-11-28 training.parallel took a step's FLOPs from the *compiled*
program's cost analysis. XLA:GPU hands convolutions to cuDNN as custom calls, which
that analysis does not count, so on the H100 a ribeiro2020 step of 256 ECGs was
reported as 48.7 GFLOP and its MFU as 0.36%. The lowered program (before backend
optimisation, the same on every backend) counts them: 3,404 GFLOP. Lowering needs
no accelerator, so the count is made here and the measured ECG/s are kept as they
were. Every rescored `train_step` line keeps its fields, with `step_flops`,
`tflops_per_sec_per_device` and `mfu` replaced and `step_flops_source` and
`mfu_as_measured` added; a new `summary` line follows (benchmarks/accelerator.py's).
"""

import argparse
import json

import jax

import accelerator
import train_step
from emit import emit
from ecgjax.training import mesh as mesh_lib, parallel


def lowered_step_flops(model: str, batch_size: int, dtype: str, samples: int,
                       strided_conv: str) -> float:
  """Whole-step FLOPs (all devices) of train_step.py's step, from lowering on one device."""
  par = parallel.make("jit", mesh_lib.make_data_mesh(jax.local_devices()[:1]))
  graphdef, tx, state, batch = train_step.step_inputs(par, model, batch_size, dtype, samples,
                                                      strided_conv)
  return par.train_step_flops(graphdef, tx, state, batch)


def rescore(lines: list[dict], source: str) -> list[dict]:
  """The train_step lines of `lines` with FLOPs and MFU from the lowered program."""
  flops_cache, out = {}, []
  for line in lines:
    if line.get("benchmark") != "train_step" or "error" in line or "skipped" in line:
      continue
    # The JAX line's strided_conv is the step whose FLOPs every line of a config carries.
    key = (line["model"], line["batch_size"], line["dtype"], line["samples"],
           line["strided_conv"] if line["framework"] == "jax" else "space_to_depth")
    if key not in flops_cache:
      flops_cache[key] = lowered_step_flops(*key)
    flops = flops_cache[key]
    per_device = flops * line["ecg_per_sec"] / line["batch_size"] / line["devices"]
    out.append({**line, "step_flops": flops, "tflops_per_sec_per_device": per_device / 1e12,
                "mfu": (per_device / (line["peak_tflops"] * 1e12)
                        if line.get("peak_tflops") else None),
                "mfu_as_measured": line.get("mfu"),
                "step_flops_source": f"lowered program (benchmarks/step_flops.py), rescoring "
                                     f"{source}"})
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--rescore", required=True, help="an accelerator.py JSON-lines file")
  parser.add_argument("--out")
  args = parser.parse_args()
  with open(args.rescore) as f:
    lines = [json.loads(ln) for ln in f if ln.strip()]
  rescored = rescore(lines, args.rescore)
  for line in rescored:
    emit(line, args.out)
  measured_on = next((ln for ln in lines if ln.get("benchmark") == "environment"), {})
  summary = accelerator.summary(rescored, args)
  summary.update({k: measured_on[k] for k in ("device_kind", "devices") if k in measured_on},
                 rescored_from=args.rescore)
  emit(summary, args.out)


if __name__ == "__main__":
  main()
