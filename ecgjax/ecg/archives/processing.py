"""From one archive item to a stored example and its build-report outcome.

Each archive has a small reader (`ArchiveReader`: item -> EcgRecord and its
vocabulary labels) in this package; `RecordProcessor` adds preprocessing, the
labels each label implies (labels.with_implied: every builder, every record),
the multi-hot labels and the salted patient key. Both are picklable and TF-free, so a
Beam runner can ship them to workers that import only ecgjax.
"""

import dataclasses
import functools
import hashlib

import numpy as np

from ecgjax.ecg import build_report, labels as vocab, patients, preprocess
from ecgjax.ecg.formats.errors import RecordFormatError


class ArchiveReader:
  """One archive's item -> (EcgRecord, Mapped). Picklable: Beam ships it to workers."""

  def read(self, item):
    raise NotImplementedError

  def path(self, item) -> str:
    return str(item)


WINDOWS = ("first", "all")


@dataclasses.dataclass(frozen=True)
class RecordProcessor:
  """item -> (outcome for the report, [(key, example), ...]; empty when skipped).
  Pure and picklable.

  `windows="first"`: one example per record, its first `recipe.duration` seconds
  (preprocess.to_int16). `"all"`: every whole non-overlapping window of that
  length (a record shorter than one window is padded, as with `first`), each an
  example whose record_id is suffixed `_w{index}`; they share the record's
  patient key, so patient splits and bootstraps keep a record's windows together,
  and evaluation can aggregate them per record.

  `record_unknowns`: the archive leaves some labels undecided per record
  (Mapped.unknown); each example then also holds `labels_known`, multi-hot over
  the same labels, 0 where this record's label is unknown (neither trained on nor
  scored).
  """
  reader: ArchiveReader
  label_names: tuple[str, ...]
  recipe: preprocess.Recipe
  salt: str
  windows: str = "first"
  record_unknowns: bool = False

  @functools.cached_property
  def _label_index(self) -> dict[str, int]:
    return {name: i for i, name in enumerate(self.label_names)}

  def _signals(self, record) -> list[np.ndarray]:
    if self.windows == "first":
      return [preprocess.to_int16(record, self.recipe)]
    signal = preprocess.prepare(record, self.recipe)
    n = self.recipe.samples
    count = max(1, len(signal) // n)
    windows = (preprocess.crop_or_pad(signal[i * n:(i + 1) * n], n, self.recipe.pad)
               for i in range(count))
    return [preprocess.quantize(w, self.recipe, record.path) for w in windows]

  def __call__(self, split: str, item):
    path = self.reader.path(item)
    try:
      record, mapped = self.reader.read(item)
      signals = self._signals(record)
    except RecordFormatError as e:
      return {"split": split, "skipped": path, "reason": e.reason}, []
    index = self._label_index
    present = sorted(name for name in vocab.with_implied(mapped.labels) if name in index)
    labels = np.zeros(len(self.label_names), np.uint8)
    labels[[index[n] for n in present]] = 1
    unknown = sorted(n for n in mapped.unknown if n in index and n not in present)
    if unknown and not self.record_unknowns:
      raise ValueError(f"{path}: the reader leaves {unknown} unknown, but the builder "
                       "stores no per-record unknowns (record_unknowns)")
    known = np.ones(len(self.label_names), np.uint8)
    known[[index[n] for n in unknown]] = 0
    patient = patients.patient_key(record.patient_id or f"record:{record.record_id}", self.salt)
    examples = []
    for i, signal in enumerate(signals):
      record_id = record.record_id if self.windows == "first" else f"{record.record_id}_w{i}"
      key = hashlib.sha1(f"{split}/{record_id}".encode()).hexdigest()
      example = {"signal": signal, "labels": labels, "record_id": record_id,
                 "patient": patient, "sex": record.sex,
                 "age": np.int32(round(record.age) if record.age >= 0 else -1)}
      if self.record_unknowns:
        example["labels_known"] = known
      examples.append((key, example))
    return ({"split": split, "labels": present, "patient": patient,
             "unmapped": list(mapped.unmapped), "unknown": unknown}, examples)


def add_outcome(report: build_report.BuildReport, outcome: dict) -> None:
  if "skipped" in outcome:
    report.skip(outcome["split"], outcome["skipped"], outcome["reason"])
  else:
    report.add(outcome["split"], outcome["labels"], outcome["patient"], outcome["unmapped"],
               outcome.get("unknown", ()))


def relative_path(path: str, root) -> str:
  """`path` as the build report names it: relative to the archive's root."""
  root = str(root).rstrip("/") + "/"
  return path[len(root):] if path.startswith(root) else path
