"""What every real-archive builder shares: features, metadata, the per-record
read -> label -> preprocess -> example path, skip accounting and the build report.

A builder subclasses `EcgArchiveBuilder` and provides:
  `_items(manual_dir) -> {split: [item, ...]}`: what to read, split by patient;
  `_read(item) -> (EcgRecord, Mapped)`: one record and its vocabulary labels;
  `_item_path(item) -> str`: the item as the report names it;
  `label_names()`, `label_groups()`: the config's label space, fixed before any
    file is read (the 68-label vocabulary unless overridden).
Readers raise RecordFormatError for a bad file: it is counted under its reason
and skipped. The report (build_report.json / .md) is written beside the
dataset; past `max_skip_fraction` skipped the build fails and prints it.

Nothing here uses `os` (TFDS replaces it inside builder modules).
"""

import hashlib

import numpy as np
import tensorflow_datasets as tfds
from absl import logging

from ecgjax.ecg import build_report, labels as vocab, leads, patients, preprocess
from ecgjax.ecg import record as record_lib
from ecgjax.ecg.formats.errors import RecordFormatError

SEXES = record_lib.SEXES


class EcgArchiveConfig(tfds.core.BuilderConfig):
  """A label space, a preprocessing recipe and the skip threshold."""

  def __init__(self, *, recipe: preprocess.Recipe, label_set: str = "vocabulary",
               max_skip_fraction: float = 0.01, **kwargs):
    super().__init__(**kwargs)
    self.recipe = recipe
    self.label_set = label_set
    self.max_skip_fraction = max_skip_fraction


def vocabulary_configs(rates=(500, 100), duration: float = 10.0) -> list[EcgArchiveConfig]:
  """One `vocabulary_RATE` config per sampling rate: the 68 labels, `duration` seconds."""
  return [EcgArchiveConfig(name=f"vocabulary_{rate}", description=f"{rate} Hz, {duration:g} s",
                           recipe=preprocess.Recipe(sampling_rate=rate, duration=duration))
          for rate in rates]


class EcgArchiveBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  # A public dataset whose patient ids are already pseudonyms may name a fixed
  # salt; clinical archives leave this None and need ECGJAX_PATIENT_SALT.
  PUBLIC_SALT: str | None = None

  def label_names(self) -> list[str]:
    return list(vocab.names())

  def label_groups(self) -> dict[str, list[str]]:
    return {k: list(v) for k, v in vocab.groups().items()}

  def _items(self, manual_dir) -> dict[str, list]:
    raise NotImplementedError

  def _read(self, item):
    raise NotImplementedError

  def _item_path(self, item) -> str:
    return str(item)

  # ---- TFDS hooks.
  def _info(self) -> tfds.core.DatasetInfo:
    cfg = self.builder_config
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "signal": tfds.features.Tensor(shape=(cfg.recipe.samples, 12), dtype=np.int16,
                                           encoding=tfds.features.Encoding.BYTES),
            "labels": tfds.features.Tensor(shape=(len(self.label_names()),), dtype=np.uint8,
                                           encoding=tfds.features.Encoding.BYTES),
            "record_id": tfds.features.Text(),
            "patient": tfds.features.Text(),
            "age": tfds.features.Scalar(dtype=np.int32),
            "sex": tfds.features.ClassLabel(names=SEXES),
        }),
        metadata=tfds.core.MetadataDict(
            label_names=self.label_names(), label_groups=self.label_groups(),
            label_set=cfg.label_set, sampling_rate=cfg.recipe.sampling_rate,
            duration_s=cfg.recipe.duration, lead_names=list(leads.STANDARD_LEADS),
            units="microvolt", preprocess=cfg.recipe.to_dict()),
    )

  def _download_and_prepare(self, dl_manager, download_config=None):
    self._salt = patients.salt_from_environment(self.name, self.PUBLIC_SALT)
    self._report = build_report.BuildReport(f"{self.name}/{self.builder_config.name}",
                                            self.label_names())
    super()._download_and_prepare(dl_manager, download_config)
    try:
      self._report.check(self.builder_config.max_skip_fraction)
    except build_report.TooManySkippedError as e:
      logging.error("%s", e)
      raise
    self._report.write(self.data_path)
    logging.info("build report written to %s/build_report.md: %d read, %d skipped",
                 self.data_path, self._report.total_read, self._report.total_skipped)

  def _split_generators(self, dl_manager):
    items = self._items(dl_manager.manual_dir)
    for split, split_items in items.items():
      if not split_items:   # TFDS cannot write an empty split; a tiny archive may have one
        logging.warning("%s: no records fall in split %r; it is left out", self.name, split)
    return {split: self._generate_examples(split, split_items)
            for split, split_items in items.items() if split_items}

  def _generate_examples(self, split: str, items):
    names = self.label_names()
    index = {name: i for i, name in enumerate(names)}
    recipe = self.builder_config.recipe
    for item in items:
      path = self._item_path(item)
      try:
        record, mapped = self._read(item)
        signal = preprocess.to_int16(record, recipe)
      except RecordFormatError as e:
        self._report.skip(split, path, e.reason)
        continue
      labels = np.zeros(len(names), np.uint8)
      present = sorted(name for name in mapped.labels if name in index)
      labels[[index[n] for n in present]] = 1
      patient = patients.patient_key(record.patient_id or f"record:{record.record_id}",
                                     self._salt)
      self._report.add(split, present, patient, mapped.unmapped)
      key = hashlib.sha1(f"{split}/{record.record_id}".encode()).hexdigest()
      yield key, {"signal": signal, "labels": labels, "record_id": record.record_id,
                  "patient": patient, "age": np.int32(round(record.age)) if record.age >= 0
                  else np.int32(-1), "sex": record.sex}


def find_files(root, suffix: str) -> list:
  """Every file under `root` (any depth) whose name ends in `suffix`, sorted.

  tf.io.gfile walks local disks and object stores alike (epath refuses `**`)."""
  import tensorflow as tf
  suffix = suffix.lower()
  found = []
  for directory, _, files in tf.io.gfile.walk(str(root)):
    found += [root.__class__(directory) / f for f in files if f.lower().endswith(suffix)]
  return sorted(found)


def split_by_patient(items, patient_of, fractions=(("train", 0.8), ("validation", 0.1),
                                                   ("test", 0.1)), salt: str = "split"):
  """Deterministic patient-level split: a patient's hash decides its split."""
  out = {name: [] for name, _ in fractions}
  bounds, total = [], 0.0
  for name, fraction in fractions:
    total += fraction
    bounds.append((total, name))
  for item in items:
    digest = hashlib.sha256(f"{salt}:{patient_of(item)}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64 * total
    out[next(name for bound, name in bounds if u < bound)].append(item)
  return out
