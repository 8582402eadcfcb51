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


@dataclasses.dataclass(frozen=True)
class RecordProcessor:
  """item -> (outcome for the report, (key, example) or None). Pure and picklable."""
  reader: ArchiveReader
  label_names: tuple[str, ...]
  recipe: preprocess.Recipe
  salt: str

  @functools.cached_property
  def _label_index(self) -> dict[str, int]:
    return {name: i for i, name in enumerate(self.label_names)}

  def __call__(self, split: str, item):
    path = self.reader.path(item)
    try:
      record, mapped = self.reader.read(item)
      signal = preprocess.to_int16(record, self.recipe)
    except RecordFormatError as e:
      return {"split": split, "skipped": path, "reason": e.reason}, None
    index = self._label_index
    present = sorted(name for name in vocab.with_implied(mapped.labels) if name in index)
    labels = np.zeros(len(self.label_names), np.uint8)
    labels[[index[n] for n in present]] = 1
    patient = patients.patient_key(record.patient_id or f"record:{record.record_id}", self.salt)
    key = hashlib.sha1(f"{split}/{record.record_id}".encode()).hexdigest()
    example = {"signal": signal, "labels": labels, "record_id": record.record_id,
               "patient": patient, "sex": record.sex,
               "age": np.int32(round(record.age) if record.age >= 0 else -1)}
    return ({"split": split, "labels": present, "patient": patient,
             "unmapped": list(mapped.unmapped)}, (key, example))


def add_outcome(report: build_report.BuildReport, outcome: dict) -> None:
  if "skipped" in outcome:
    report.skip(outcome["split"], outcome["skipped"], outcome["reason"])
  else:
    report.add(outcome["split"], outcome["labels"], outcome["patient"], outcome["unmapped"])


def relative_path(path: str, root) -> str:
  """`path` as the build report names it: relative to the archive's root."""
  root = str(root).rstrip("/") + "/"
  return path[len(root):] if path.startswith(root) else path
