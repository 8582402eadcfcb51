"""CODE-15%: an (HDF5 part, row, exam_id) item -> record and its labels."""

from ecgjax.ecg import labels as vocab
from ecgjax.ecg.archives.processing import ArchiveReader
from ecgjax.ecg.formats import code15


class Code15Reader(ArchiveReader):
  """(part path, row, exam_id) -> record; each worker opens the parts it reads once."""

  def __init__(self, exams: dict):
    self.exams = exams
    self._parts = {}

  def __getstate__(self):        # open HDF5 files do not travel to Beam workers
    return {"exams": self.exams}

  def __setstate__(self, state):
    self.__init__(state["exams"])

  def path(self, item):
    part, _, exam_id = item
    return f"{part.rsplit('/', 1)[-1]}[exam_id={exam_id}]"

  def read(self, item):
    path, index, exam_id = item
    if path not in self._parts:
      self._parts[path] = code15.Code15Part(path)
    record = self._parts[path].record(index, self.exams.get(exam_id))
    return record, vocab.from_code15(record.diagnoses)
