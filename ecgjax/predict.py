"""`python -m ecgjax.predict --model=DIR --out=predictions.csv [--explain=PNG_DIR] PATH...`

Scores raw ECG files with a trained model, as its model card says: the card's
recipe (filters, resampling) is applied, leads are matched by name into the
model's order, long records are scored in sliding windows and aggregated per
label, and probabilities are calibrated as the card says. DIR is a pretraining
or fine-tuning workdir, its checkpoints/ or one step of it; PATHs are files or
directories (walked recursively). Formats: ecgjax.inference.ecg_files.

predictions.csv: one row per ECG (a CODE-15% HDF5 file gives
one per tracing) with `path`, `record`, `status` (`ok` or why it could not be
scored), a probability column per label in the card's order, `positive` (the
`;`-joined labels at or above their card thresholds), then `windows` (how many
were aggregated) and `filled_leads` (leads the file lacked, with
--missing_leads=zero). A bad file gets its row and the rest go on; the exit code
is 1 when any failed, unless --allow_failures.

Imports no TensorFlow: a serving host has only JAX (tests/test_predict.py).
"""

import sys

from absl import app, flags

from ecgjax import console

_MODEL = flags.DEFINE_string("model", None, "Pretraining or fine-tuning workdir, its "
                             "checkpoints/ or one checkpoint step directory.")
_OUT = flags.DEFINE_string("out", None, "The predictions CSV to write.")
_STEP = flags.DEFINE_integer("step", 0, "Checkpoint step; 0: the latest (or the one named).")
_EXPLAIN = flags.DEFINE_string("explain", None, "Directory for one PNG per ECG: the 12 "
                               "leads with the attribution of each top positive label.")
_SAMPLING_RATE = flags.DEFINE_float("sampling_rate", None, "Hz of .npy/.csv files.")
_LEADS = flags.DEFINE_list("leads", [], "Lead names of .npy/.csv columns, e.g. I,II,V1.")
_MISSING = flags.DEFINE_enum("missing_leads", "error", ["error", "zero"],
                             "A lead the model needs and the file lacks: an error, or zeros.")
_STRIDE = flags.DEFINE_float("window_stride_s", None, "Seconds between the starts of the "
                             "windows of a long record; default: the model's window.")
_AGGREGATE = flags.DEFINE_enum("aggregate", "max", ["max", "mean"],
                               "How a long record's windows combine, per label.")
_ALLOW_FAILURES = flags.DEFINE_bool("allow_failures", False,
                                    "Exit 0 even when some files could not be scored.")
_BATCH = flags.DEFINE_integer("batch_size", 64, "Windows per device batch (all local devices).")
_EXPLAIN_TOP = flags.DEFINE_integer("explain_top", 3, "Positive labels drawn per explanation.")


def main(argv):
  paths = argv[1:]
  if not paths:
    raise app.UsageError("give one or more ECG files or directories after the flags")
  console.quiet_libraries()
  from ecgjax.inference import score_files
  try:
    summary = score_files.predict_files(
        _MODEL.value, paths, _OUT.value, step=_STEP.value or None,
        options=score_files.Options(
            sampling_rate=_SAMPLING_RATE.value, leads=tuple(_LEADS.value),
            fill_missing_leads=_MISSING.value == "zero", window_stride_s=_STRIDE.value,
            aggregate=_AGGREGATE.value, batch_size=_BATCH.value, explain_dir=_EXPLAIN.value,
            explain_top=_EXPLAIN_TOP.value))
  except score_files.USER_ERRORS as e:
    sys.exit(f"ecgjax.predict: {e}")
  if summary.failed and not _ALLOW_FAILURES.value:
    sys.exit(1)


if __name__ == "__main__":
  flags.mark_flags_as_required(["model", "out"])
  app.run(main)
