"""The harmonised label vocabulary and the mappings into it.

`vocabulary.csv`: 68 common ECG diagnoses in the spirit of Barrios et al. 2025
(rhythm, conduction, chamber enlargement, voltage, axis, intervals, pacing,
infarction and ischaemia by territory, ST-T), each with its SNOMED CT code where
one is established, and the PTB-XL SCP codes and PhysioNet 2020/2021 SNOMED
codes that imply it. A source code may imply several labels (IMI implies
`myocardial_infarction` and `inferior_infarction`).

One label means one thing in every archive:
- `implies`: a child label implies its parent (`acute_myocardial_infarction` ->
  `myocardial_infarction`, `inferior_ischemia` -> `myocardial_ischemia`), closed
  transitively by `with_implied`, which every builder applies to every record.
- `normal_ecg` is an archive's own "normal ECG" statement: PTB-XL's NORM, MUSE's
  "normal ECG", CODE-15's column, and CPSC 2018's `Normal` class (which the
  PhysioNet Challenges re-coded as sinus rhythm, 426783006: `from_physionet_dx`
  restores it for CPSC 2018 records, see `CPSC2018_CLASSES`).
- PTB-XL statements left unmapped on purpose are in `PTBXL_UNMAPPED` with why.

`physionet_abbreviations.csv`: PhysioNet 2020 `#Dx` abbreviations -> SNOMED CT
(as in the Challenge's dx_mapping tables).

`muse_statement_rules.csv`: regular expressions over MUSE statement lines; users
pass their own file with the same columns.

Every mapper returns the labels and the source codes or statements it could not
map, so a build report can list what was left out.
"""

import csv
import dataclasses
import functools
import importlib.resources
import io
import re
from collections.abc import Iterable

IGNORE = "-"


@dataclasses.dataclass(frozen=True)
class Label:
  name: str
  group: str
  snomed: str | None
  description: str
  ptbxl_scp: tuple[str, ...]
  physionet_snomed: tuple[str, ...]
  implies: tuple[str, ...] = ()


@dataclasses.dataclass
class Mapped:
  """A record's vocabulary labels, the source statements with no label, and the
  labels its annotation cannot decide for this record (`unknown`: neither positive
  nor negative, e.g. sinus_rhythm for CinC 2017's "other rhythm" class)."""
  labels: set[str]
  unmapped: list[str]
  unknown: set[str] = dataclasses.field(default_factory=set)


def _resource(name: str) -> str:
  return importlib.resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


@functools.cache
def vocabulary() -> tuple[Label, ...]:
  rows = csv.DictReader(io.StringIO(_resource("vocabulary.csv")))
  return tuple(Label(name=r["name"], group=r["group"], snomed=r["snomed"] or None,
                     description=r["description"], ptbxl_scp=tuple(r["ptbxl_scp"].split()),
                     physionet_snomed=tuple(r["physionet_snomed"].split()),
                     implies=tuple(r["implies"].split()))
               for r in rows)


@functools.cache
def _parents() -> dict[str, tuple[str, ...]]:
  return {label.name: label.implies for label in vocabulary() if label.implies}


def with_implied(labels: Iterable[str]) -> set[str]:
  """`labels` and every label they imply, transitively (a child implies its parent)."""
  parents = _parents()
  closed, todo = set(labels), list(labels)
  while todo:
    for parent in parents.get(todo.pop(), ()):
      if parent not in closed:
        closed.add(parent)
        todo.append(parent)
  return closed


def names() -> tuple[str, ...]:
  return tuple(label.name for label in vocabulary())


def groups() -> dict[str, tuple[str, ...]]:
  out: dict[str, list[str]] = {}
  for label in vocabulary():
    out.setdefault(label.group, []).append(label.name)
  return {k: tuple(v) for k, v in out.items()}


def _index(attribute: str) -> dict[str, tuple[str, ...]]:
  out: dict[str, list[str]] = {}
  for label in vocabulary():
    for code in getattr(label, attribute):
      out.setdefault(code, []).append(label.name)
  return {k: tuple(v) for k, v in out.items()}


@functools.cache
def _scp_index():
  return _index("ptbxl_scp")


@functools.cache
def _snomed_index():
  return _index("physionet_snomed")


@functools.cache
def physionet_abbreviations() -> dict[str, str]:
  rows = csv.DictReader(io.StringIO(_resource("physionet_abbreviations.csv")))
  return {r["abbreviation"]: r["snomed"] for r in rows}


def _map(codes: Iterable[str], index: dict) -> Mapped:
  labels, unmapped = set(), []
  for code in codes:
    hit = index.get(code)
    if hit:
      labels.update(hit)
    else:
      unmapped.append(code)
  return Mapped(labels, unmapped)


# PTB-XL statements with no vocabulary label, on purpose: each names no single
# diagnosis the vocabulary holds, and guessing one would plant false positives.
PTBXL_UNMAPPED = {
    "ABQRS": "abnormal QRS, unspecified: no one QRS label it implies",
    "PRC(S)": "premature complex(es) of unstated origin: atrial or ventricular unknown",
    "SVARR": "supraventricular arrhythmia, unspecified: no one rhythm label it implies",
}


# PTB-XL's `heart_axis` codes name the German axis types (Lagetypen): ALAD
# ueberdrehter Linkstyp (below -30 degrees), LAD Linkstyp (-30 to +30), MID
# Indifferenztyp (+30 to +60), RAD Rechtstyp (+90 to +120), ARAD ueberdrehter
# Rechtstyp (beyond +120); AXL, AXR and SAG give no label. Linkstyp is the usual
# axis of adults over 40 and lies inside the international normal range (-30 to
# +90; left axis deviation is below -30), so LAD is not left_axis_deviation: the
# frontal axis measured on the shared samples that carry it agrees
# (tests/test_label_meaning.py). Right axis deviation (beyond +90) is both
# Rechtstyp and its extreme.
PTBXL_AXIS = {"ALAD": "left_axis_deviation", "RAD": "right_axis_deviation",
              "ARAD": "right_axis_deviation"}
# The codes that place the axis against both thresholds. A blank column is "not
# stated", not "normal": of the 28 shared records without a code, the axis
# measured as above lies below -30 degrees in 3 and beyond +90 in 3 (and Steiltyp,
# +60 to +90, has no code of its own). AXL and AXR (left, right; type unstated)
# straddle a threshold and SAG (sagittal type) has no frontal axis, so with any of
# these both axis labels are unknown for the record (Mapped.unknown).
PTBXL_AXIS_STATED = frozenset({"ALAD", "LAD", "MID", "RAD", "ARAD"})
AXIS_LABELS = frozenset({"left_axis_deviation", "right_axis_deviation"})


def from_ptbxl(scp_codes: Iterable[str], heart_axis: str | None = None) -> Mapped:
  """PTB-XL `scp_codes` keys (any likelihood, as in Strodthoff et al. 2021) and the
  `heart_axis` column (PTBXL_AXIS) -> vocabulary labels. ANEUR (ST-T changes of a
  ventricular aneurysm: persistent ST elevation) maps to st_elevation. Without a
  stated axis type (PTBXL_AXIS_STATED) the axis labels are unknown, not absent."""
  mapped = _map((c for c in scp_codes if c not in PTBXL_UNMAPPED), _scp_index())
  code = (heart_axis or "").strip().upper()
  if code in PTBXL_AXIS:
    mapped.labels.add(PTBXL_AXIS[code])
  elif code not in PTBXL_AXIS_STATED:
    mapped.unknown |= AXIS_LABELS - mapped.labels
  return mapped


def from_snomed(codes: Iterable[str]) -> Mapped:
  return _map((str(c).strip() for c in codes), _snomed_index())


SINUS_RHYTHM_SNOMED = "426783006"

# CPSC 2018's nine classes (Liu et al., J Med Imaging Health Inform 2018) as
# vocabulary labels. Its `Normal` class is a normal ECG (and so sinus rhythm);
# the Challenges coded it 426783006, so only CPSC 2018 records get normal_ecg
# from that code. Sinus rhythm is not one of its classes: an abnormal CPSC ECG
# in sinus rhythm does not carry it, so sinus_rhythm is not annotated there.
CPSC2018_CLASSES = ("normal_ecg", "atrial_fibrillation", "first_degree_av_block",
                    "left_bundle_branch_block", "right_bundle_branch_block",
                    "premature_atrial_contractions", "premature_ventricular_contractions",
                    "st_depression", "st_elevation")


def is_cpsc2018_record(record_name: str) -> bool:
  """The Challenges name CPSC 2018's records A0001-A6877 (CinC 2017's are A00001:
  five digits)."""
  return re.fullmatch(r"A\d{4}", record_name) is not None


def from_physionet_dx(tokens: Iterable[str], record_name: str = "") -> Mapped:
  """`#Dx` tokens: SNOMED codes (2021) or abbreviations (2020), mixed allowed.
  `record_name` (the header's) marks CPSC 2018 records, whose sinus rhythm code
  is the `Normal` class (CPSC2018_CLASSES)."""
  abbreviations = physionet_abbreviations()
  codes, unknown = [], []
  for token in tokens:
    token = token.strip()
    if token.isdigit():
      codes.append(token)
    elif token in abbreviations:
      codes.append(abbreviations[token])
    else:
      unknown.append(token)
  mapped = from_snomed(codes)
  mapped.unmapped = unknown + mapped.unmapped
  if is_cpsc2018_record(record_name) and SINUS_RHYTHM_SNOMED in codes:
    mapped.labels.add("normal_ecg")
  return mapped


def reachable_from_ptbxl() -> tuple[str, ...]:
  """The labels PTB-XL annotates: those its SCP statements or heart axis map to."""
  reached = {label.name for label in vocabulary() if label.ptbxl_scp}
  reached |= {"left_axis_deviation", "right_axis_deviation"}
  return tuple(n for n in names() if n in with_implied(reached))


def reachable_from_snomed() -> tuple[str, ...]:
  """The labels PhysioNet 2020/2021 SNOMED codes can give."""
  reached = with_implied(label.name for label in vocabulary() if label.physionet_snomed)
  return tuple(n for n in names() if n in reached)


CODE15_COLUMNS = {"1dAVb": "first_degree_av_block", "RBBB": "right_bundle_branch_block",
                  "LBBB": "left_bundle_branch_block", "SB": "sinus_bradycardia",
                  "AF": "atrial_fibrillation", "ST": "sinus_tachycardia",
                  "normal_ecg": "normal_ecg"}


def from_code15(columns: Iterable[str]) -> Mapped:
  return _map(columns, {k: (v,) for k, v in CODE15_COLUMNS.items()})


EXTRA_LABELS_VARIABLE = "ECGJAX_EXTRA_LABELS"


def read_extra_labels(path: str) -> tuple[list[str], dict[str, set[str]]]:
  """A CSV of labels beyond the vocabulary: a `file` column (paths relative to the
  raw directory) and one 0/1 column per extra label -> (names, file -> labels)."""
  with open(path, newline="", encoding="utf-8") as f:
    reader = csv.DictReader(f)
    if not reader.fieldnames or "file" not in reader.fieldnames:
      raise ValueError(f"{path}: needs a 'file' column and one 0/1 column per label")
    extra = [n for n in reader.fieldnames if n != "file"]
    clash = sorted(set(extra) & set(names()))
    if clash:
      raise ValueError(f"{path}: extra labels {clash} already exist in the vocabulary")
    table = {row["file"].strip(): {n for n in extra
                                   if row[n].strip().lower() in ("1", "1.0", "true")}
             for row in reader}
  return extra, table


def extra_labels_from_environment() -> tuple[list[str], dict[str, set[str]]]:
  """read_extra_labels of the CSV named by ECGJAX_EXTRA_LABELS, or no extra labels."""
  import os
  path = os.environ.get(EXTRA_LABELS_VARIABLE, "")
  return read_extra_labels(path) if path else ([], {})


class StatementRulesError(ValueError):
  pass


@dataclasses.dataclass(frozen=True)
class StatementRules:
  """Regular-expression rules over free-text statement lines (MUSE, machine reports)."""
  rules: tuple[tuple[re.Pattern, str], ...]
  source: str

  @classmethod
  def from_text(cls, text: str, source: str) -> "StatementRules":
    known = set(names())
    rules = []
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines or lines[0].strip() != "pattern,label":
      raise StatementRulesError(f"{source}: first line must be the header 'pattern,label'")
    for number, line in enumerate(lines[1:], start=2):
      pattern, sep, label = line.rpartition(",")
      label = label.strip()
      if not sep or not pattern:
        raise StatementRulesError(f"{source}: rule {number}: expected PATTERN,LABEL: {line!r}")
      if label != IGNORE and label not in known:
        raise StatementRulesError(f"{source}: rule {number}: unknown label {label!r}")
      try:
        rules.append((re.compile(pattern, re.IGNORECASE), label))
      except re.error as e:
        raise StatementRulesError(f"{source}: rule {number}: bad pattern {pattern!r}: {e}") from e
    return cls(tuple(rules), source)

  @classmethod
  def default(cls) -> "StatementRules":
    return cls.from_text(_resource("muse_statement_rules.csv"), "muse_statement_rules.csv")

  @classmethod
  def from_file(cls, path: str) -> "StatementRules":
    with open(path, encoding="utf-8") as f:
      return cls.from_text(f.read(), path)

  def map(self, lines: Iterable[str]) -> Mapped:
    labels, unmapped = set(), []
    for line in lines:
      text = line.strip()
      if not text:
        continue
      hits = {label for pattern, label in self.rules if pattern.search(text)}
      if IGNORE in hits:
        continue
      if hits:
        labels.update(hits)
      else:
        unmapped.append(scrub_statement(text))
    return Mapped(labels, unmapped)


_DIGITS = re.compile(r"\d")


def scrub_statement(text: str) -> str:
  """An unmapped statement as a build report may show it: digits (dates, IDs,
  times) masked, since free text can carry identifiers."""
  return _DIGITS.sub("#", text)
