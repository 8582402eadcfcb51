"""predict's work, callable from Python: files in, predictions.csv out.

Files are read and cut into windows (ecg_files, windows) on a small thread pool
while the device scores the previous batch; windows from many files share a
batch, so a folder of 10-s ECGs is scored in full batches. One bad file gets
its row with the reason and the others go on.
"""

import collections
import concurrent.futures
import csv
import dataclasses
import os

import numpy as np
from absl import logging

from ecgjax.ecg import files as ecg_files, leads as leads_lib, windows as windows_lib
from ecgjax.ecg.labels import exclusions
from ecgjax.ecg.formats.errors import RecordFormatError
from ecgjax.evaluation import log_odds
from ecgjax.inference import batch_norm_adaptation, scoring
from ecgjax.models import model_card, shipped
from ecgjax.training import checkpoints

USER_ERRORS = (scoring.ModelDirectoryError, model_card.ModelCardError,
               batch_norm_adaptation.AdaptationError, checkpoints.InitFromError)
FIXED_COLUMNS = ("path", "record", "status")
# `dropped`: labels at or above their thresholds that a more probable label excludes
# (ecg.labels.exclusions), each with why; `positive` never holds two that exclude each other.
TRAILING_COLUMNS = ("positive", "dropped", "windows", "filled_leads", "renamed_leads")
# embeddings.csv: the same first columns, then these, then e0, e1, ... (one per feature).
EMBEDDING_TRAILING = ("windows", "filled_leads", "renamed_leads")
_FILES_PER_CHUNK = 32


@dataclasses.dataclass(frozen=True)
class Options:
  sampling_rate: float | None = None
  leads: tuple[str, ...] = ()
  # (file's lead name, standard lead) for leads named otherwise (ECG=I, MLII=II).
  lead_names: tuple[tuple[str, str], ...] = ()
  fill_missing_leads: bool = False
  window_stride_s: float | None = None
  aggregate: str = "max"
  batch_size: int = 64
  explain_dir: str | None = None
  explain_top: int = 3
  read_threads: int = 2
  # A directory: first adapt the model's BatchNorm statistics to the files' ECGs
  # (inference.batch_norm_adaptation), write it there, and score with it.
  adapt_batch_norm_to: str | None = None


@dataclasses.dataclass
class Prepared:
  path: str
  record: str
  windows: np.ndarray | None = None     # (n, samples, leads) int16
  error: str | None = None
  filled_leads: tuple[str, ...] = ()
  renamed_leads: tuple[str, ...] = ()


class InputError(ValueError):
  """What was given cannot be scored as asked (a usage error, found before the model
  loads): a path that does not exist, an array file without its sampling rate, no ECG
  file at all, or a model that is neither a directory nor a shipped model's name."""


class NoEcgFilesError(InputError):
  """Nothing under the paths given is an ECG file of a known format."""


@dataclasses.dataclass
class Summary:
  files: int = 0
  scored: int = 0
  failed: int = 0
  reasons: collections.Counter = dataclasses.field(default_factory=collections.Counter)
  passed_over: collections.Counter = dataclasses.field(default_factory=collections.Counter)

  def line(self) -> str:
    text = f"scored {self.scored} ECGs from {self.files} files; {self.failed} failed"
    if self.reasons:
      text += " (" + ", ".join(f"{n} {r}" for r, n in self.reasons.most_common()) + ")"
    if self.passed_over:
      text += "; passed over " + ", ".join(f"{n} {k}" for k, n in
                                           sorted(self.passed_over.items())) + " files"
    return text


def prepare_file(found: ecg_files.Found, contract: dict, options: Options) -> list[Prepared]:
  """Every ECG of one file as windows, or one failed entry with the reason."""
  stem = os.path.splitext(os.path.basename(found.path))[0]
  out = []
  layout = ecg_files.ArrayLayout(options.sampling_rate, options.leads)
  # A one-lead model reads a one-signal file whatever its lead is called.
  naming = leads_lib.LeadNaming(
      options.lead_names, contract["leads"][0] if len(contract["leads"]) == 1 else None)
  try:
    # Every file is read with absent leads as zeros; record_windows then refuses
    # one that lacks a lead the model reads (unless --missing_leads=zero), and a
    # file without the leads the model does not read (a one-lead model) is fine.
    for name, record in ecg_files.read(found, layout, fill_missing=True, naming=naming):
      try:
        if isinstance(record, RecordFormatError):
          raise record
        windows = windows_lib.record_windows(record, contract, options.window_stride_s,
                                             allow_missing=options.fill_missing_leads)
        filled = tuple(n for n in record.filled_leads if n in contract["leads"])
        out.append(Prepared(found.path, name, windows, filled_leads=filled,
                            renamed_leads=record.renamed_leads))
      except RecordFormatError as e:
        out.append(Prepared(found.path, name, error=e.reason))
  except RecordFormatError as e:
    out.append(Prepared(found.path, stem, error=e.reason))
  except Exception as e:  # a reader's bug must not stop the other files
    logging.warning("%s: %s: %s", found.path, type(e).__name__, e)
    out.append(Prepared(found.path, stem, error=f"unexpected {type(e).__name__}: {e}"))
  return out


def find_ecg_files(paths, options: Options = Options()
                   ) -> tuple[list[ecg_files.Found], collections.Counter]:
  """The ECG files under `paths` and the count of other files passed over, by
  extension. InputError for a path that does not exist or an array file named without
  --sampling_rate; NoEcgFilesError when there is no ECG file."""
  for path in paths:
    if not os.path.exists(path):
      raise InputError(f"{path}: no such file or directory")
    if (os.path.isfile(path) and os.path.splitext(path)[1].lower() in ecg_files.ARRAY_EXTENSIONS
        and not options.sampling_rate):
      raise InputError(f"{path}: a .npy or .csv ECG does not say its sampling rate: give "
                       "--sampling_rate (and --leads, unless a CSV header names them)")
  found, passed_over = ecg_files.discover(
      paths, ecg_files.ArrayLayout(options.sampling_rate, options.leads))
  if not found:
    arrays = sum(n for k, n in passed_over.items() if k in ecg_files.ARRAY_EXTENSIONS)
    passed = (f" ({', '.join(f'{n} {k}' for k, n in sorted(passed_over.items()))} files "
              "of no ECG format" + (f"; the {arrays} .npy/.csv are read with --sampling_rate"
                                    if arrays and not options.sampling_rate else "")
              + ")") if passed_over else ""
    raise NoEcgFilesError(
        f"no ECG files found under {', '.join(paths)}{passed}; formats: .hea (WFDB), .xml "
        "(GE MUSE, HL7 aECG), .hdf5/.h5 (CODE-15%), and .npy/.csv with --sampling_rate")
  return found, passed_over


def predict_files(model_dir: str, paths, out_csv: str, *, step: int | None = None,
                  options: Options = Options(), embeddings: bool = False) -> Summary:
  """Loads the model in `model_dir` and scores `paths` into `out_csv` (`embeddings`:
  each ECG's embedding instead, EmbeddingWriter). The files are found first, and the
  model's directory: a path with no ECG in it, or a misspelt model name, is answered
  before the model loads."""
  found = find_ecg_files(paths, options)
  if message := shipped.not_found(model_dir):
    raise InputError(message)
  model = scoring.load(model_dir, step)
  if embeddings:
    return EmbeddingWriter(model, options).run(paths, out_csv, found)
  if options.adapt_batch_norm_to:
    files, _ = found
    model = _adapt_batch_norm(model, model_dir, step, files, options)
  return Predictor(model, options).run(paths, out_csv, found)


def _adapt_batch_norm(model: scoring.LoadedModel, model_dir: str, step: int | None, found,
                      options: Options) -> scoring.LoadedModel:
  """The model with BatchNorm statistics recomputed on every readable ECG in `found`
  (files that fail are left out here and reported by the scoring that follows)."""
  contract = model.card["input"]
  prepared = [p for item in found for p in prepare_file(item, contract, options)
              if p.error is None]
  if not prepared:
    raise batch_norm_adaptation.AdaptationError(
        "--adapt_batch_norm: none of the files could be read as ECGs for this model")
  windows = np.concatenate([p.windows for p in prepared])
  stats = batch_norm_adaptation.adapted_batch_stats(model, windows, options.batch_size)
  written = batch_norm_adaptation.write_adapted_model(
      model_dir, model.step if step is None else step, stats, options.adapt_batch_norm_to,
      ecgs=len(prepared), windows=len(windows))
  print(f"ecgjax.predict: BatchNorm statistics adapted on {len(prepared)} ECGs "
        f"({len(windows)} windows); wrote the adapted model to {written}", flush=True)
  return scoring.load(written)


class Predictor:
  """A loaded model with its compiled scorer: `run` may be called many times."""

  def __init__(self, model: scoring.LoadedModel, options: Options = Options()):
    if model.encoder_only:
      raise InputError(
          f"{model.directory} is a self-supervised encoder: it has no labels to predict. "
          "Write its embeddings with --embeddings, or fine-tune it (init_from)")
    self.model = model
    self.options = options
    self.scorer = scoring.Scorer(model, options.batch_size)
    self.explainer = None
    if options.explain_dir:
      from ecgjax.inference import explain
      self.explainer = explain.Explainer(model, options.explain_dir, top=options.explain_top)
    if np.isnan(model.thresholds()).all():
      logging.warning("the model card has no thresholds (saved before its first evaluation): "
                      "`positive` will be empty")
    labels = model.labels
    # A head with exclusive classes (models.head) names each ECG's most probable class.
    self.groups = model.group_indices()
    self.label_exclusions = exclusions.for_labels(labels)
    self.class_columns = ["class", "class_probability"] if self.groups else []

  def header(self) -> list[str]:
    return [*FIXED_COLUMNS, *self.model.labels, *TRAILING_COLUMNS, *self.class_columns]

  def failed_row(self, p: Prepared) -> list:
    return [p.path, p.record, p.error, *[""] * len(self.model.labels), "", "", 0, "", "",
            *[""] * len(self.class_columns)]

  def row(self, p: Prepared, per_window: np.ndarray) -> list:
    """A scored file's row from its windows' log-odds: pooled as evaluation pools a
    recording's windows, then calibrated through the function its thresholds were chosen
    through (evaluation.calibration)."""
    model, labels, groups = self.model, self.model.labels, self.groups
    probs = model.calibrate(log_odds.pool(per_window, self.options.aggregate, groups))
    called = {name: prob for name, prob, call in zip(labels, probs, model.called(probs)[0])
              if call}
    positive, dropped = exclusions.resolve(called, self.label_exclusions)
    chosen = [g[int(np.argmax(probs[g]))] for g in groups]
    if self.explainer is not None:
      self.explainer.draw(p, per_window, probs, positive)
    return [p.path, p.record, "ok", *(f"{v:.6f}" for v in probs), ";".join(positive),
            ";".join(f"{name} ({why})" for name, why in dropped.items()),
            len(p.windows), ";".join(p.filled_leads), ";".join(p.renamed_leads),
            *([";".join(labels[k] for k in chosen),
               ";".join(f"{probs[k]:.6f}" for k in chosen)] if groups else [])]

  def run(self, paths, out_csv: str, found=None) -> Summary:
    """Scores the ECG files under `paths` (`found`: find_ecg_files' answer for them,
    when the caller has it) into `out_csv`."""
    model, options, scorer = self.model, self.options, self.scorer
    found, passed_over = found or find_ecg_files(paths, options)
    summary = Summary(files=len(found), passed_over=passed_over)
    logging.info("%s step %d: %s; %d files to score", model.directory, model.step,
                 self.describe_outputs(), len(found))

    os.makedirs(os.path.dirname(os.path.abspath(out_csv)), exist_ok=True)
    with open(out_csv + ".tmp", "w", newline="") as f, \
         concurrent.futures.ThreadPoolExecutor(options.read_threads) as pool:
      writer = csv.writer(f)
      writer.writerow(self.header())
      pending: list[Prepared] = []

      def flush():
        ok = [p for p in pending if p.error is None]
        scores = scorer(np.concatenate([p.windows for p in ok])) if ok else None
        offset = 0
        for p in pending:
          if p.error is not None:
            summary.failed += 1
            # Counted by the reason's first clause (what follows ": " is this file's
            # detail), never cut inside it.
            summary.reasons[p.error.split(": ")[0]] += 1
            writer.writerow(self.failed_row(p))
            continue
          n = len(p.windows)
          writer.writerow(self.row(p, scores[offset:offset + n]))
          offset += n
          summary.scored += 1
        pending.clear()

      progress = _progress(len(found))
      chunks = [found[i:i + _FILES_PER_CHUNK] for i in range(0, len(found), _FILES_PER_CHUNK)]
      contract = model.card["input"]
      for prepared_files in _bounded_map(
          pool, lambda chunk: [prepare_file(item, contract, options) for item in chunk], chunks,
          ahead=options.read_threads + 1):
        for prepared in prepared_files:
          pending.extend(prepared)
          progress.update(1)
          if sum(len(p.windows) for p in pending if p.error is None) >= scorer.batch_size:
            flush()
      flush()
      progress.close()
    os.replace(out_csv + ".tmp", out_csv)
    logging.info("%s -> %s", summary.line(), out_csv)
    print(f"ecgjax.predict: {summary.line()}; wrote {out_csv}", flush=True)
    return summary

  def describe_outputs(self) -> str:
    return f"{len(self.model.labels)} labels"


class EmbeddingWriter(Predictor):
  """`predict --embeddings`: each ECG's embedding, the backbone's pooled features
  (training.steps.embed_step_fn) averaged over its windows, for any model: a
  self-supervised encoder or a classifier whose head is then not read."""

  def __init__(self, model: scoring.LoadedModel, options: Options = Options()):
    if options.explain_dir or options.adapt_batch_norm_to:
      raise InputError("--embeddings writes features: --explain and --adapt_batch_norm "
                       "are for label predictions")
    self.model, self.options = model, options
    self.scorer = scoring.Scorer(model, options.batch_size, embeddings=True)
    self.width = self.scorer.width

  def header(self) -> list[str]:
    return [*FIXED_COLUMNS, *EMBEDDING_TRAILING, *(f"e{k}" for k in range(self.width))]

  def failed_row(self, p: Prepared) -> list:
    return [p.path, p.record, p.error, 0, "", "", *[""] * self.width]

  def row(self, p: Prepared, per_window: np.ndarray) -> list:
    return [p.path, p.record, "ok", len(p.windows), ";".join(p.filled_leads),
            ";".join(p.renamed_leads), *(f"{v:.6g}" for v in per_window.mean(axis=0))]

  def describe_outputs(self) -> str:
    return f"{self.width}-wide embeddings"


def _bounded_map(pool, fn, items, ahead: int):
  """pool.map in order, with at most `ahead` items in flight (memory stays bounded)."""
  futures = collections.deque()
  for item in items:
    futures.append(pool.submit(fn, item))
    if len(futures) > ahead:
      yield futures.popleft().result()
  while futures:
    yield futures.popleft().result()


def _progress(total: int):
  """A bar with ETA on stderr for more than a few files."""
  import tqdm
  return tqdm.tqdm(total=total, unit="file", disable=total <= 3, dynamic_ncols=True)
