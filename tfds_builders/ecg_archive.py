"""What every real-archive builder shares: features, metadata, the per-record
read -> label -> preprocess -> example path, skip accounting and the build report.

A builder subclasses `EcgArchiveBuilder` and provides:
  `_items(manual_dir) -> {split: [item, ...]}`: what to read, split by patient;
  `_reader() -> ArchiveReader` (ecgjax/ecg/archives/): a picklable object whose
    `read(item)` returns one EcgRecord and its vocabulary labels (`Mapped`), and
    `path(item)` names the item in the report;
  `label_names()`, `label_groups()`: the config's label space, fixed before any
    file is read (the 68-label vocabulary unless overridden);
  `annotated_labels()`: the labels of that space the archive's annotation can
    give at all (the rest are unknown, not negative: a mixture masks them in the
    loss); all of them unless overridden;
  `RECORD_UNKNOWNS = True` when the reader leaves some of those undecided for
    some records (`Mapped.unknown`): the examples then carry `labels_known`, and
    training and evaluation mask those entries;
  `recorded_leads()`: the leads the archive records (the others are stored as
    zeros); all 12 unless overridden.
Readers raise RecordFormatError for a bad file: it is counted under its reason
and skipped. The report (build_report.json / .md) is written beside the
dataset; past `max_skip_fraction` skipped the build fails and prints it.

With Beam options (`tfds build ... --beam_pipeline_options=...`) the same
`RecordProcessor` runs as a Beam transform on any runner: each worker writes its
per-record outcomes (read or skipped, labels, patient key) as JSON lines under
the dataset's temporary directory, and the report is assembled from them when
the pipeline has finished.

Nothing here uses `os` (TFDS replaces it inside builder modules).
"""

import hashlib
import json
import sys

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from absl import logging

from ecgjax.ecg import build_report, labels as vocab, leads, patients, preprocess
from ecgjax.ecg import record as record_lib
from ecgjax.ecg.archives.processing import WINDOWS, ArchiveReader, RecordProcessor, add_outcome

SEXES = record_lib.SEXES
_OUTCOMES = "_build_outcomes"


class EcgArchiveConfig(tfds.core.BuilderConfig):
  """A label space, a preprocessing recipe and the skip threshold.

  From the command line a custom config is JSON (TFDS forwards it here), e.g.
    --config='{"name": "vocab_250_bp", "recipe": {"sampling_rate": 250,
               "bandpass_hz": [0.5, 100]}, "max_skip_fraction": 0.05}'

  `folds`, `fold`: K-fold cross-validation for a small archive, by patient: fold
  `fold` of `folds` is the test split, the next fold the validation split, the rest
  train, so the K configs together test every patient once
  (benchmarks/finetune_folds.py). 0 folds: the builder's own split.
  """

  def __init__(self, *, recipe: preprocess.Recipe | dict | None = None,
               label_set: str = "vocabulary", max_skip_fraction: float = 0.01,
               windows: str = "first", folds: int = 0, fold: int = 0, **kwargs):
    super().__init__(**kwargs)
    if recipe is None or isinstance(recipe, dict):
      fields = dict(recipe or {})
      if fields.get("bandpass_hz") is not None:
        fields["bandpass_hz"] = tuple(fields["bandpass_hz"])
      recipe = preprocess.Recipe(**fields)
    if not 0 <= max_skip_fraction <= 1:
      raise ValueError(f"max_skip_fraction must be in [0, 1], got {max_skip_fraction}")
    if windows not in WINDOWS:
      raise ValueError(f"windows must be one of {WINDOWS}, got {windows!r}")
    if folds and not (folds >= 3 and 0 <= fold < folds):
      raise ValueError(f"folds must be 0 or at least 3, and fold in [0, folds); got "
                       f"folds={folds}, fold={fold}")
    self.recipe = recipe
    self.label_set = label_set
    self.max_skip_fraction = max_skip_fraction
    self.windows = windows    # first | all (processing.RecordProcessor)
    self.folds, self.fold = folds, fold


def ecg_features(samples: int, num_labels: int,
                 record_unknowns: bool = False) -> tfds.features.FeaturesDict:
  """The features of every ecgjax dataset: int16 µV and uint8 multi-hot
  stored as raw bytes (TFDS's default int16 encoding widens to int64). With
  `record_unknowns`, `labels_known` too: 0 where a record's label is unknown."""
  def multi_hot():
    return tfds.features.Tensor(shape=(num_labels,), dtype=np.uint8,
                                encoding=tfds.features.Encoding.BYTES)

  features = {
      "signal": tfds.features.Tensor(shape=(samples, 12), dtype=np.int16,
                                     encoding=tfds.features.Encoding.BYTES),
      "labels": multi_hot(),
      "record_id": tfds.features.Text(),
      "patient": tfds.features.Text(),
      "age": tfds.features.Scalar(dtype=np.int32),
      "sex": tfds.features.ClassLabel(names=SEXES),
  }
  if record_unknowns:
    features["labels_known"] = multi_hot()
  return tfds.features.FeaturesDict(features)


def vocabulary_configs(rates=(500, 100), duration: float = 10.0) -> list[EcgArchiveConfig]:
  """One `vocabulary_RATE` config per sampling rate: the 68 labels, `duration` seconds."""
  return [EcgArchiveConfig(name=f"vocabulary_{rate}", description=f"{rate} Hz, {duration:g} s",
                           recipe=preprocess.Recipe(sampling_rate=rate, duration=duration))
          for rate in rates]


def _beam_records(processor: RecordProcessor, split: str, items, outcomes_prefix: str):
  """The Beam form of the plain generator: examples out, outcomes to JSON lines."""
  beam = tfds.core.lazy_imports.apache_beam

  class ReadRecords(beam.PTransform):
    def expand(self, pipeline):
      results = (pipeline
                 | "Items" >> beam.Create(items)
                 | "Read" >> beam.Map(lambda item: processor(split, item)))
      _ = (results
           | "Outcome" >> beam.Map(lambda result: json.dumps(result[0]))
           | "WriteOutcomes" >> beam.io.WriteToText(outcomes_prefix))
      return results | "Examples" >> beam.FlatMap(lambda result: result[1])

  return ReadRecords()


def dataset_info(builder, **fields) -> tfds.core.DatasetInfo:
  """`builder.dataset_info_from_configs(**fields)`, told not to look for the dataset in
  TFDS's public bucket (gs://tfds-data). TFDS looks there whenever a builder is made
  before its data are prepared (every `tfds build`, every sample set ecgjax builds),
  from a temporary directory it never removes (tensorflow-datasets 4.9:
  `DatasetInfo.initialize_from_bucket`); no ecgjax dataset is in that bucket, and the
  empty directories piled up in the temporary folder."""
  info = builder.dataset_info_from_configs(**fields)
  info.initialize_from_bucket = _not_in_the_bucket
  return info


def _not_in_the_bucket() -> None:
  """What DatasetInfo.initialize_from_bucket finds for an ecgjax dataset: nothing."""


def describe(builder) -> str:
  """DatasetInfo's description: the builder module's summary (its docstring's first
  paragraph) and the config's own description."""
  doc = sys.modules[type(builder).__module__].__doc__ or ""
  summary = " ".join(doc.strip().split("\n\n")[0].split())
  config = getattr(builder.builder_config, "description", "") or ""
  return f"{summary} Config {builder.builder_config.name}: {config}".strip()


class EcgArchiveBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  # A public dataset whose patient ids are already pseudonyms may name a fixed
  # salt; clinical archives leave this None and need ECGJAX_PATIENT_SALT.
  PUBLIC_SALT: str | None = None
  # True when the reader leaves labels undecided per record (Mapped.unknown): the
  # examples then hold `labels_known`.
  RECORD_UNKNOWNS = False

  def label_names(self) -> list[str]:
    return list(vocab.names())

  def label_groups(self) -> dict[str, list[str]]:
    return {k: list(v) for k, v in vocab.groups().items()}

  def annotated_labels(self) -> list[str]:
    return self.label_names()

  def recorded_leads(self) -> list[str]:
    return list(leads.STANDARD_LEADS)

  def _items(self, manual_dir) -> dict[str, list]:
    raise NotImplementedError

  def _split_by_patient(self, items, patient_of, salt: str) -> dict[str, list]:
    """split_by_patient with the config's folds, if it asks for them."""
    cfg = self.builder_config
    return split_by_patient(items, patient_of, salt=salt, folds=cfg.folds, fold=cfg.fold)

  def _reader(self) -> ArchiveReader:
    raise NotImplementedError

  # ---- TFDS hooks.
  def _info(self) -> tfds.core.DatasetInfo:
    cfg = self.builder_config
    return dataset_info(
        self, description=describe(self),
        features=ecg_features(cfg.recipe.samples, len(self.label_names()),
                              self.RECORD_UNKNOWNS),
        metadata=tfds.core.MetadataDict(
            label_names=self.label_names(), label_groups=self.label_groups(),
            annotated_labels=self.annotated_labels(), recorded_leads=self.recorded_leads(),
            label_set=cfg.label_set, windows=cfg.windows,
            sampling_rate=cfg.recipe.sampling_rate,
            duration_s=cfg.recipe.duration, lead_names=list(leads.STANDARD_LEADS),
            units="microvolt", preprocess=cfg.recipe.to_dict(),
            **({"folds": cfg.folds, "fold": cfg.fold} if cfg.folds else {})),
    )

  def _download_and_prepare(self, dl_manager, download_config=None):
    self._salt = patients.salt_from_environment(self.name, self.PUBLIC_SALT)
    self._beam = bool(download_config and (download_config.beam_options is not None
                                           or download_config.beam_runner is not None))
    self._report = build_report.BuildReport(f"{self.name}/{self.builder_config.name}",
                                            self.label_names())
    super()._download_and_prepare(dl_manager, download_config)
    outcomes = self.data_path / _OUTCOMES
    if self._beam:
      for name in sorted(tf.io.gfile.glob(str(outcomes / "*"))):
        with tf.io.gfile.GFile(name) as f:
          for line in f:
            add_outcome(self._report, json.loads(line))
      tf.io.gfile.rmtree(str(outcomes))
    try:
      self._report.check(self.builder_config.max_skip_fraction)
    except build_report.TooManySkippedError as e:
      logging.error("%s", e)
      raise
    self._report.write(self.data_path)
    logging.info("%s: %d records read, %d skipped; build_report.md is beside the dataset",
                 self.name, self._report.total_read, self._report.total_skipped)
    # What a fine-tune on this dataset can measure: a label needs positives in each split.
    print(self._report.positives_table(), flush=True)

  def _split_generators(self, dl_manager):
    items = self._items(dl_manager.manual_dir)
    for split, split_items in items.items():
      if not split_items:   # TFDS cannot write an empty split; a tiny archive may have one
        logging.warning("%s: no records fall in split %r; it is left out", self.name, split)
    processor = RecordProcessor(self._reader(), tuple(self.label_names()),
                                self.builder_config.recipe, self._salt,
                                windows=self.builder_config.windows,
                                record_unknowns=self.RECORD_UNKNOWNS)
    if self._beam:
      return {split: _beam_records(processor, split, split_items,
                                   str(self.data_path / _OUTCOMES / split))
              for split, split_items in items.items() if split_items}
    return {split: self._generate_examples(processor, split, split_items)
            for split, split_items in items.items() if split_items}

  def _generate_examples(self, processor: RecordProcessor, split: str, items):
    for item in items:
      outcome, examples = processor(split, item)
      add_outcome(self._report, outcome)
      yield from examples


def find_files(root, suffix: str) -> list[str]:
  """Every file under `root` (any depth) whose name ends in `suffix`, as sorted paths.

  tf.io.gfile walks local disks and object stores alike (epath refuses `**`)."""
  suffix = suffix.lower()
  found = []
  for directory, _, files in tf.io.gfile.walk(str(root)):
    found += [f"{directory.rstrip('/')}/{f}" for f in files if f.lower().endswith(suffix)]
  return sorted(found)


def statement_rules(manual_dir) -> vocab.StatementRules:
  """MANUAL_DIR/statement_rules.csv when the user put one there, else the packaged rules."""
  rules_file = manual_dir / "statement_rules.csv"
  if rules_file.exists():
    return vocab.StatementRules.from_text(rules_file.read_text(), str(rules_file))
  return vocab.StatementRules.default()


def _patient_unit(salt: str, patient) -> float:
  """A patient's place in [0, 1), from a hash: the same in every build."""
  digest = hashlib.sha256(f"{salt}:{patient}".encode()).digest()
  return int.from_bytes(digest[:8], "big") / 2**64


def split_by_patient(items, patient_of, fractions=(("train", 0.8), ("validation", 0.1),
                                                   ("test", 0.1)), salt: str = "split",
                     folds: int = 0, fold: int = 0):
  """Deterministic patient-level split: a patient's hash decides its split. With
  `folds`, the hash puts each patient in one of `folds` folds: fold `fold` is test,
  the next one validation, the rest train (EcgArchiveConfig)."""
  if folds:
    out = {"train": [], "validation": [], "test": []}
    for item in items:
      k = int(_patient_unit(salt, patient_of(item)) * folds)
      split = "test" if k == fold else "validation" if k == (fold + 1) % folds else "train"
      out[split].append(item)
    return out
  out = {name: [] for name, _ in fractions}
  bounds, total = [], 0.0
  for name, fraction in fractions:
    total += fraction
    bounds.append((total, name))
  for item in items:
    u = _patient_unit(salt, patient_of(item)) * total
    out[next(name for bound, name in bounds if u < bound)].append(item)
  return out
