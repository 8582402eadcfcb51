"""`python -m ecgjax.predict --model=MODEL --out=predictions.csv [--explain=PNG_DIR] PATH...`

Scores raw ECG files with a trained model, as its model card says: the card's
recipe (filters, resampling) is applied, leads are matched by name into the
model's order, long records are scored in sliding windows and aggregated per
label, and probabilities are calibrated as the card says. MODEL is a shipped
model's name (listed below), a model directory, or a pretraining or fine-tuning
workdir, its checkpoints/ or one step of it; PATHs are files or directories
(walked recursively). `python -m ecgjax.samples` prints the folder of real sample
ECGs that ship with ecgjax.

Formats, by extension (XML also by content):
  .hea + .dat/.mat   WFDB (PTB-XL, PhysioNet/CinC 2017-2021, MIMIC-IV-ECG, LUDB)
  .xml               GE MUSE (<RestingECG>) and HL7 aECG (<AnnotatedECG>)
  .hdf5, .h5         CODE-15% exams: one row per tracing
  .npy, .csv         samples x leads in microvolts, with --sampling_rate and --leads
                     (or a CSV header of lead names)

predictions.csv: one row per ECG (a CODE-15% HDF5 file gives
one per tracing) with `path`, `record`, `status` (`ok` or why it could not be
scored), a probability column per label in the card's order, `positive` (the
`;`-joined labels at or above their card thresholds), then `windows` (how many
were aggregated), `filled_leads` (leads the file lacked, with
--missing_leads=zero) and `renamed_leads` (FILE_NAME=LEAD for each lead read under
another name: ECG=I for a CinC 2017 file scored by a one-lead model). A bad file gets its row and the rest go on; the exit code
is 1 when any failed, unless --allow_failures.

--embeddings writes embeddings.csv instead: `path`, `record`, `status`, `windows`,
`filled_leads`, `renamed_leads`, then one column per feature (e0, e1, ...), each ECG's
backbone features averaged over its windows: what a self-supervised encoder (a model
whose card has no labels) gives, and any model's backbone.

--adapt_batch_norm=OUT adapts the model to these files' cart first, without labels:
its BatchNorm statistics are recomputed on the ECGs (AdaBN), the adapted model is
written to OUT as a model directory, and the predictions are its.

Imports no TensorFlow: a serving host needs only JAX.
"""

import sys

from absl import flags

from ecgjax import collector, console

_MODEL = flags.DEFINE_string("model", None, "Pretraining or fine-tuning workdir, its "
                             "checkpoints/, one checkpoint step directory, a model directory "
                             "(export --model_directory) or a shipped model's name.")
_OUT = flags.DEFINE_string("out", None, "The predictions CSV to write.")
_STEP = flags.DEFINE_integer("step", 0, "Checkpoint step; 0: the latest (or the one named).")
_EXPLAIN = flags.DEFINE_string("explain", None, "Directory for one PNG per ECG: the 12 "
                               "leads with the attribution of each top positive label.")
_SAMPLING_RATE = flags.DEFINE_float("sampling_rate", None, "Hz of .npy/.csv files.")
_LEADS = flags.DEFINE_list("leads", [], "Lead names of .npy/.csv columns, e.g. I,II,V1 "
                           "(other formats name their leads; see --lead_names).")
_LEAD_NAMES = flags.DEFINE_list(
    "lead_names", [], "FILE_NAME=LEAD for leads a file names otherwise, e.g. ECG=I,MLII=II "
    "(a one-lead model reads a one-signal file whatever its name; any spelling of a lead "
    "name, `i` or `avr`, needs nothing).")
_MISSING = flags.DEFINE_enum("missing_leads", "error", ["error", "zero"],
                             "A lead the model needs and the file lacks: an error, or zeros.")
_STRIDE = flags.DEFINE_float("window_stride_s", None, "Seconds between the starts of the "
                             "windows of a long record; default: the model's window.")
_AGGREGATE = flags.DEFINE_enum("aggregate", "max", ["max", "mean"],
                               "How a long record's windows combine, per label: the "
                               "most confident window's, or their mean probability (an "
                               "exclusive group's classes always by the mean).")
_ALLOW_FAILURES = flags.DEFINE_bool("allow_failures", False,
                                    "Exit 0 even when some files could not be scored.")
_BATCH = flags.DEFINE_integer("batch_size", 64, "Windows per device batch (all local devices).")
_EXPLAIN_TOP = flags.DEFINE_integer("explain_top", 3, "Positive labels drawn per explanation.")
_EMBEDDINGS = flags.DEFINE_bool(
    "embeddings", False, "Write each ECG's embedding instead of label probabilities: the "
    "backbone's pooled features (e0, e1, ... columns), averaged over a long record's "
    "windows. What a self-supervised encoder gives; any model's backbone works.")
_ADAPT = flags.DEFINE_string(
    "adapt_batch_norm", None, "A directory: first recompute the model's BatchNorm statistics "
    "on these files' ECGs (AdaBN; no label is read), write the adapted model there as a "
    "model directory, and score with it.")


PROGRAM = "ecgjax.predict"


def main(argv):
  paths = argv[1:]
  if not paths:
    raise console.UsageError("give one or more ECG files or directories after the flags")
  # The model may be in a bucket; the ECG files, the CSV and the plots are local.
  console.refuse_bucket_paths(**{"an ECG path": paths, "--out": _OUT.value,
                                 "--explain": _EXPLAIN.value})
  if _EXPLAIN.value and (message := console.missing_extra("explain")):
    raise console.UsageError(f"--explain: {message}")
  from ecgjax.ecg import leads
  try:
    lead_names = leads.parse_renames(_LEAD_NAMES.value)
  except leads.UnknownLeadError as e:
    raise console.UsageError(f"--lead_names: {e}") from None
  console.quiet_libraries()
  with collector.paused_while_loading():
    from ecgjax.inference import score_files
  try:
    summary = score_files.predict_files(
        _MODEL.value, paths, _OUT.value, step=_STEP.value or None,
        options=score_files.Options(
            sampling_rate=_SAMPLING_RATE.value, leads=tuple(_LEADS.value),
            lead_names=lead_names,
            fill_missing_leads=_MISSING.value == "zero", window_stride_s=_STRIDE.value,
            aggregate=_AGGREGATE.value, batch_size=_BATCH.value, explain_dir=_EXPLAIN.value,
            explain_top=_EXPLAIN_TOP.value, adapt_batch_norm_to=_ADAPT.value),
        embeddings=_EMBEDDINGS.value)
  except score_files.InputError as e:
    console.fail(PROGRAM, str(e), console.EXIT_USAGE)
  except score_files.USER_ERRORS as e:
    console.fail(PROGRAM, str(e), console.EXIT_FAILED)
  if summary.failed and not _ALLOW_FAILURES.value:
    sys.exit(console.EXIT_FAILED)


if __name__ == "__main__":
  from ecgjax.models import shipped       # plain file reads: --help stays instant
  console.run_app(main, program=PROGRAM, required=("model", "out"),
                  help_text=f"{__doc__.strip()}\n\n{shipped.describe()}\n\nFlags (--helpfull describes each): "
                            "--model, --out, --step, --explain, --explain_top, "
                            "--sampling_rate, --leads, --lead_names, --missing_leads, "
                            "--window_stride_s, --adapt_batch_norm, --embeddings, "
                            f"--aggregate, --batch_size, --allow_failures.\n\n"
                            f"{console.EXIT_CODES}")
