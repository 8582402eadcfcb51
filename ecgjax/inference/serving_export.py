"""Writing a trained model for serving: a JAX export, ONNX, and the card.

Both forms compute what predict reports for one window: int16 µV
`(batch, samples, leads)` in the card's lead order -> float32 calibrated
probabilities `(batch, labels)` in the card's label order
(scoring.calibrated_probabilities, weights baked in); for a self-supervised encoder
(a card without labels), its embeddings `(batch, features)` as `predict --embeddings`
writes them (scoring.embed). Predict calibrates in float64;
each export is checked against it (TOLERANCE) on probe signals. The batch dimension
is symbolic, so any batch size runs without re-export.

- `model.jax_export`: `jax.export.Exported.serialize()` bytes, lowered for CPU,
  CUDA and TPU. Needs only `jax` to run (LOADER below; tests run it where flax
  and ecgjax cannot be imported).
- `model.onnx`: through jax2onnx, checked with onnxruntime.

Each form is checked against the in-process model on synthetic ECGs rendered at
the card's rate before the command reports success; the largest difference is
written to `export.json`.
"""

import dataclasses
import json
import logging as pylogging
import os

import jax
import jax.numpy as jnp
import numpy as np

from ecgjax.inference import scoring
from ecgjax.models import model_card
from ecgjax.training import checkpoints

JAX_EXPORT_FILE = "model.jax_export"
ONNX_FILE = "model.onnx"
MODEL_DIRECTORY = "model"      # --model_directory: the slim model directory
PLATFORMS = ("cpu", "cuda", "tpu")
TOLERANCE = 1e-4          # largest |probability difference| an export may show
LOADER = '''"""Runs this directory's model.jax_export with nothing but JAX and NumPy, from any
working directory:

  python load_jax_export.py [SIGNALS.npy [PROBABILITIES.npy]]

SIGNALS.npy: int16 µV, (batch, {samples}, {leads}) or one ECG ({samples}, {leads}), leads
{lead_names} (ecgjax.inference.model_input.file_windows makes it from an ECG file).
Prints each ECG's calibrated probabilities, in model_card.json's label order, and writes
them to PROBABILITIES.npy when given. Without SIGNALS.npy a flat line is scored. A signal
of another shape is refused in one line (exit code 2).

From Python (this directory on sys.path): `serve = load_jax_export.load()`, then
`serve(signals)` -> float32 (batch, labels); a wrong shape raises ValueError.
"""

import json
import os
import sys

import jax
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES, LEADS = {samples}, {leads}
LEAD_NAMES = "{lead_names}"


def check_shape(signal: np.ndarray) -> np.ndarray:
  """`signal` as a batch (batch, SAMPLES, LEADS); ValueError, in one line, otherwise."""
  batch = signal[None] if signal.ndim == 2 else signal
  if batch.ndim != 3 or batch.shape[1:] != (SAMPLES, LEADS):
    raise ValueError(f"a signal of shape {{tuple(signal.shape)}}: this model reads "
                     f"(batch, {{SAMPLES}}, {{LEADS}}) or ({{SAMPLES}}, {{LEADS}}), int16 µV, "
                     f"leads {{LEAD_NAMES}} in that order")
  return batch


def load():
  """The model as a function: int16 µV signals -> float32 calibrated probabilities
  (batch, labels), the shape checked first."""
  with open(os.path.join(HERE, "model.jax_export"), "rb") as f:
    exported = jax.export.deserialize(bytearray(f.read()))

  def serve(signal) -> np.ndarray:
    batch = check_shape(np.asarray(signal))
    return np.asarray(exported.call(batch.astype(np.int16)))

  return serve


if __name__ == "__main__":
  with open(os.path.join(HERE, "model_card.json"), encoding="utf-8") as f:
    labels = json.load(f)["labels"]
  signal = np.load(sys.argv[1]) if len(sys.argv) > 1 else np.zeros((SAMPLES, LEADS), np.int16)
  try:
    probabilities = load()(signal)
  except ValueError as e:
    print(f"load_jax_export.py: {{sys.argv[1]}}: {{e}}", file=sys.stderr)
    sys.exit(2)
  # An encoder's card has no labels: its outputs are embedding features e0, e1, ...
  names = labels or [f"e{{k}}" for k in range(probabilities.shape[1])]
  for i, row in enumerate(probabilities):
    print(f"ECG {{i}}: " + ", ".join(f"{{name}} {{p:.3f}}" for name, p in zip(names, row)))
  if len(sys.argv) > 2:
    np.save(sys.argv[2], probabilities)
'''


class ExportError(RuntimeError):
  """A format could not carry the model: the message names the format and the operation."""


@dataclasses.dataclass
class ExportCheck:
  form: str
  max_abs_difference: float
  examples: int


def serving_function(model: scoring.LoadedModel):
  """int16 (batch, samples, leads) -> float32 probabilities (an encoder's embeddings),
  weights as constants."""
  a, b = (jnp.asarray(v) for v in model.platt())
  # Host copies: the checkpoint restores the weights onto every local device (an
  # explicit mesh), and constants carrying that sharding cannot be exported for the
  # single device a served call runs on (seen on 8 devices).
  params, batch_stats = jax.device_get((model.params, model.batch_stats))
  graphdef = model.graphdef

  def serve(signal):
    if model.encoder_only:
      return scoring.embed(graphdef, params, batch_stats, signal)
    return scoring.calibrated_probabilities(graphdef, params, batch_stats, a, b, signal)

  return serve


def input_spec(card: dict) -> jax.ShapeDtypeStruct:
  samples, leads = int(card["input"]["samples"]), len(card["input"]["leads"])
  return jax.ShapeDtypeStruct(jax.export.symbolic_shape(f"batch, {samples}, {leads}"),
                              jnp.int16)


def probe_signals(card: dict, count: int = 4) -> np.ndarray:
  """Synthetic ECGs at the card's rate and length, the realistic inputs the exports
  are checked on (random noise would leave most activations near zero)."""
  from ecgjax.synthetic import generator
  rate, samples = float(card["input"]["sampling_rate"]), int(card["input"]["samples"])
  from ecgjax.ecg import leads as leads_lib
  signals = [generator.generate_record(seed=7, patient_index=k, visit=0, sampling_rate=rate,
                                       duration=samples / rate)["signal"][:samples]
             for k in range(count)]
  columns = [leads_lib.STANDARD_LEADS.index(leads_lib.canonical_lead_name(n))
             for n in card["input"]["leads"]]
  return np.clip(np.rint(np.stack(signals)[..., columns]), -32768, 32767).astype(np.int16)


def export_jax(model: scoring.LoadedModel, path: str) -> jax.export.Exported:
  try:
    exported = jax.export.export(jax.jit(serving_function(model)), platforms=PLATFORMS)(
        input_spec(model.card))
  except Exception as e:
    raise ExportError(f"jax.export could not lower the model: {type(e).__name__}: {e}") from e
  with open(path, "wb") as f:
    f.write(exported.serialize())
  return exported


def export_onnx(model: scoring.LoadedModel, path: str) -> None:
  try:
    import jax2onnx
  except ImportError as e:
    raise ExportError("ONNX needs jax2onnx and onnxruntime: pip install -e '.[export]' "
                      f"(or pass --noonnx for the JAX export alone): {e}") from e
  for noisy in ("onnx_ir", "jax2onnx"):       # per-tensor and per-layer notices
    pylogging.getLogger(noisy).setLevel(pylogging.ERROR)
  try:
    proto = jax2onnx.to_onnx(serving_function(model), inputs=[input_spec(model.card)],
                             model_name="ecgjax_resnet1d", input_names=["signal"],
                             output_names=["probabilities"])
  except Exception as e:
    # jax2onnx names the JAX primitive it has no ONNX rule for.
    raise ExportError(f"ONNX: jax2onnx could not convert the model: "
                      f"{type(e).__name__}: {e}") from e
  # jax2onnx annotates some intermediate shapes in the wrong layout; onnxruntime
  # infers them itself, so the annotations are dropped rather than trusted.
  del proto.graph.value_info[:]
  with open(path, "wb") as f:
    f.write(proto.SerializeToString())


def onnx_session(path: str):
  import onnxruntime
  options = onnxruntime.SessionOptions()
  options.log_severity_level = 3
  return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def check(form: str, outputs: np.ndarray, reference: np.ndarray) -> ExportCheck:
  difference = float(np.abs(np.asarray(outputs, np.float64) - reference).max())
  if not difference <= TOLERANCE:
    raise ExportError(f"{form}: outputs differ from the in-process model by {difference:.2e} "
                      f"(tolerance {TOLERANCE:g})")
  return ExportCheck(form, difference, len(reference))


def export_model(model_dir: str, out_dir: str, step: int | None = None,
                 onnx: bool = True, model_directory: bool = False) -> list[ExportCheck]:
  """Writes the exports and the card into `out_dir`; returns the agreement checks.
  `model_directory`: also OUT/model, the model as a slim model directory
  (write_model_directory)."""
  model = scoring.load(model_dir, step)
  os.makedirs(out_dir, exist_ok=True)
  probe = probe_signals(model.card)
  # predict's path (log-odds, then float64 calibration; an encoder's embeddings) against
  # the exports' float32 graph.
  if model.encoder_only:
    reference = scoring.Scorer(model, batch_size=len(probe), embeddings=True)(probe)
  else:
    reference = model.calibrate(scoring.Scorer(model, batch_size=len(probe))(probe))

  jax_path = os.path.join(out_dir, JAX_EXPORT_FILE)
  export_jax(model, jax_path)
  with open(jax_path, "rb") as f:
    restored = jax.export.deserialize(bytearray(f.read()))
  checks = [check(JAX_EXPORT_FILE, restored.call(probe), reference)]
  if onnx:
    onnx_path = os.path.join(out_dir, ONNX_FILE)
    export_onnx(model, onnx_path)
    outputs = onnx_session(onnx_path).run(None, {"signal": probe})[0]
    checks.append(check(ONNX_FILE, outputs, reference))

  card = model.card
  model_card.write(out_dir, card)
  if model_directory:
    write_model_directory(model_dir, os.path.join(out_dir, MODEL_DIRECTORY), model.step)
  inp = card["input"]
  loader = LOADER.format(samples=inp["samples"], leads=len(inp["leads"]),
                         lead_names=",".join(inp["leads"]))
  with open(os.path.join(out_dir, "load_jax_export.py"), "w") as f:
    f.write(loader)
  with open(os.path.join(out_dir, "export.json"), "w") as f:
    json.dump({"source": {"directory": model.directory, "step": model.step},
               "input": {"dtype": "int16", "shape": ["batch", inp["samples"], len(inp["leads"])],
                         "leads": inp["leads"], "units": inp["units"]},
               "output": ({"dtype": "float32", "shape": ["batch", reference.shape[1]],
                           "embedding": True} if model.encoder_only else
                          {"dtype": "float32", "shape": ["batch", len(card["labels"])],
                           "labels": card["labels"], "calibrated": True}),
               "platforms": list(PLATFORMS), "tolerance": TOLERANCE,
               "checks": [dataclasses.asdict(c) for c in checks]}, f, indent=2)
  return checks


def write_model_directory(model_dir: str, out_dir: str, step: int | None = None) -> str:
  """The model at `model_dir` (its `step`, else the latest) as a slim model directory
  in `out_dir`, its card beside the checkpoint for reading."""
  saved = checkpoints.read_pretrained(model_dir, step, what="--model")
  written = checkpoints.write_model_directory(saved, out_dir)
  if saved.card is not None:
    model_card.write(written, saved.card)
  return written
