"""PhysioNet/CinC Challenge 2017: one-lead AliveCor recordings and REFERENCE.csv.

Each record is a WFDB header and a MATLAB v4 `.mat` (300 Hz, 9-60 s, one signal
named `ECG`). The device is held in both hands, so its lead is close to lead I
(Clifford et al., CinC 2017): the reader names it I and leaves the other eleven
as zeros. `REFERENCE.csv` has no header: `A00001,N` per line, with the classes
N (normal rhythm), A (atrial fibrillation), O (other rhythm), ~ (too noisy).

Two label spaces:
  `challenge`   the Challenge's four classes (evaluation.challenge2017.CLASSES);
  `vocabulary`  A -> atrial_fibrillation, N -> sinus_rhythm. `O` is not atrial
                fibrillation, and its sinus_rhythm is unknown: the class holds
                sinus rhythms with ectopy, bundle-branch block or a fast or slow
                rate as well as other rhythms (Clifford et al. 2017), so it is
                neither a positive nor a negative of sinus_rhythm (Mapped.unknown).
                Noisy records carry no label at all, so the builder leaves them out.
"""

import dataclasses

from ecgjax.ecg import labels as vocab, leads as leads_lib
from ecgjax.ecg.archives.processing import ArchiveReader, relative_path
from ecgjax.ecg.formats import wfdb_format
from ecgjax.ecg.formats.errors import RecordFormatError

CHALLENGE_CLASSES = {"N": "normal", "A": "af", "O": "other", "~": "noisy"}
VOCABULARY = {"N": ("sinus_rhythm",), "A": ("atrial_fibrillation",), "O": (), "~": ()}
VOCABULARY_UNKNOWN = {"O": ("sinus_rhythm",)}
VOCABULARY_ANNOTATED = ("sinus_rhythm", "atrial_fibrillation")
LABEL_SETS = ("challenge", "vocabulary")
RECORDED_LEADS = ("I",)

# The Challenge names its one (AliveCor) lead `ECG`: it is lead I.
ONE_LEAD = leads_lib.LeadNaming(renames=(("ECG", "I"),))


def label_names(label_set: str) -> list[str]:
  if label_set == "challenge":
    return list(CHALLENGE_CLASSES.values())
  if label_set == "vocabulary":
    return list(vocab.names())
  raise ValueError(f"physionet2017 label set must be one of {LABEL_SETS}, got {label_set!r}")


def read_reference(path: str, text: str) -> dict[str, str]:
  """REFERENCE.csv -> {record name: class code}; a malformed line is an error naming it."""
  out = {}
  for number, line in enumerate(text.splitlines(), start=1):
    if not line.strip():
      continue
    name, sep, code = (part.strip() for part in line.partition(","))
    if not sep or not name or code not in CHALLENGE_CLASSES:
      raise ValueError(f"{path}: line {number}: expected RECORD,CLASS with CLASS one of "
                       f"{sorted(CHALLENGE_CLASSES)}, got {line!r}")
    if name in out:
      raise ValueError(f"{path}: line {number}: record {name} listed twice")
    out[name] = code
  return out


@dataclasses.dataclass(frozen=True)
class Physionet2017Reader(ArchiveReader):
  """(header path, class code) -> one-lead record and its labels."""
  manual_dir: str
  label_set: str

  def path(self, item):
    return relative_path(item[0], self.manual_dir)

  def read(self, item):
    header, code = item
    record = wfdb_format.read_wfdb(header[:-4], fill_missing_leads=True, naming=ONE_LEAD)
    if "I" in record.filled_leads:
      raise RecordFormatError(header, "no signal named ECG (the Challenge's one lead)")
    record.record_id = header.rsplit("/", 1)[-1][:-4]
    record.path = self.path(item)
    if self.label_set == "challenge":
      return record, vocab.Mapped({CHALLENGE_CLASSES[code]}, [])
    return record, vocab.Mapped(set(VOCABULARY[code]), [],
                                set(VOCABULARY_UNKNOWN.get(code, ())))
