"""GE MUSE XML exports: a file -> record, labels from its confirmed statements."""

import dataclasses

from ecgjax.ecg import labels as vocab
from ecgjax.ecg.archives.processing import ArchiveReader, relative_path
from ecgjax.ecg.formats import muse_xml


@dataclasses.dataclass(frozen=True)
class MuseReader(ArchiveReader):
  """A MUSE XML path -> record, labels from its confirmed statements (+ extra labels)."""
  manual_dir: str
  rules: vocab.StatementRules
  extra: dict

  def path(self, item):
    return relative_path(item[0], self.manual_dir)

  def read(self, item):
    record = muse_xml.read_muse_xml(item[0])
    record.path = self.path(item)
    mapped = self.rules.map(record.diagnoses)
    mapped.labels |= self.extra.get(record.path, set())
    return record, mapped
