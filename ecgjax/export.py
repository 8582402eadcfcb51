"""`python -m ecgjax.export --model=DIR --out=EXPORT_DIR`: a trained model for serving.

Writes `model.jax_export` (jax.export, symbolic batch, lowered for CPU, CUDA and
TPU), `model.onnx` (jax2onnx), `model_card.json`/`.md`, `export.json` (the
input and output contract and the agreement checks) and `load_jax_export.py`
(the few lines that run the export with nothing but JAX). Both forms take int16
µV `(batch, samples, leads)` in the card's lead order and return float32
probabilities calibrated exactly as `ecgjax.predict` reports them; each is
checked against the in-process model before the command succeeds. Imports no
TensorFlow. Details: ecgjax/inference/serving_export.py.
"""

from absl import flags

from ecgjax import collector, console

_MODEL = flags.DEFINE_string("model", None, "Pretraining or fine-tuning workdir, its "
                             "checkpoints/, one checkpoint step directory, a model directory "
                             "(export --model_directory) or a shipped model's name.")
_OUT = flags.DEFINE_string("out", None, "Directory to write the exports into.")
_STEP = flags.DEFINE_integer("step", 0, "Checkpoint step; 0: the latest (or the one named).")
_ONNX = flags.DEFINE_bool("onnx", True, "Also write model.onnx (needs jax2onnx, onnxruntime).")
_MODEL_DIRECTORY = flags.DEFINE_bool(
    "model_directory", False, "Also write EXPORT_DIR/model: the model as a slim model "
    "directory (weights, BatchNorm statistics, card; no optimiser state) that predict, "
    "export, evaluate and fine-tuning read as they read a workdir.")


PROGRAM = "ecgjax.export"


def main(argv):
  if len(argv) > 1:
    raise console.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  console.refuse_bucket_paths(**{"--out": _OUT.value})   # the model may be in a bucket
  if _ONNX.value and (message := console.missing_extra(
      "export", "--noonnx for the JAX export alone")):
    raise console.UsageError(f"model.onnx: {message}")
  console.quiet_libraries()
  with collector.paused_while_loading():
    from ecgjax.inference import score_files, serving_export
    from ecgjax.models import shipped
  if message := shipped.not_found(_MODEL.value):
    raise console.UsageError(message)
  try:
    checks = serving_export.export_model(_MODEL.value, _OUT.value, step=_STEP.value or None,
                                         onnx=_ONNX.value,
                                         model_directory=_MODEL_DIRECTORY.value)
  except (serving_export.ExportError, *score_files.USER_ERRORS) as e:
    console.fail(PROGRAM, str(e), console.EXIT_FAILED)
  for c in checks:
    print(f"ecgjax.export: {_OUT.value}/{c.form}: agrees with the model within "
          f"{c.max_abs_difference:.1e} on {c.examples} ECGs")
  if _MODEL_DIRECTORY.value:
    print(f"ecgjax.export: {_OUT.value}/{serving_export.MODEL_DIRECTORY}: the model directory "
          "(--model= of predict, export; init_from; evaluate's checkpoint)")
  print(f"ecgjax.export: wrote {_OUT.value} (the model card, export.json); run it: python "
        f"{_OUT.value}/load_jax_export.py SIGNALS.npy", flush=True)


if __name__ == "__main__":
  console.run_app(main, program=PROGRAM, required=("model", "out"),
                  help_text=f"{__doc__.strip()}\n\nFlags (--helpfull describes each): "
                            f"--model, --out, --step, --onnx, --model_directory."
                            f"\n\n{console.EXIT_CODES}")
