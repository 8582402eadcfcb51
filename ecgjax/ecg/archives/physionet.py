"""PhysioNet/CinC 2020-2021 records: a header path -> record with its `#Dx` mapped."""

import dataclasses

from ecgjax.ecg import labels as vocab
from ecgjax.ecg.archives.processing import ArchiveReader, relative_path
from ecgjax.ecg.formats import physionet


@dataclasses.dataclass(frozen=True)
class PhysionetReader(ArchiveReader):
  """A header path -> record (its `#Dx` mapped) named by its path under the raw directory."""
  manual_dir: str

  def path(self, item):
    return relative_path(item, self.manual_dir)

  def read(self, item):
    record = physionet.read_physionet(item[:-4])
    record.record_id = record.path = self.path(item)[:-4]
    record_name = item.rsplit("/", 1)[-1][:-4]
    return record, vocab.from_physionet_dx(record.diagnoses, record_name)
