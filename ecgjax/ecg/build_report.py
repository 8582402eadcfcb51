"""What a dataset build read, skipped and produced, with counts per reason.

Every builder fills one: each file is either read (and counted under its split,
labels and patient) or skipped with a reason; source labels the vocabulary could
not map are tallied, and so are labels a record leaves unknown (Mapped.unknown:
neither positive nor negative there, so a prevalence needs them beside it). The
report is written as build_report.json and build_report.md beside the dataset,
and the build fails once the skipped fraction exceeds `max_skip_fraction`. Only file paths relative to the raw
directory, reasons, codes and counts go in: never demographics.
"""

import collections
import json
import re

_EXAMPLES_PER_REASON = 20


class TooManySkippedError(RuntimeError):
  pass


def reason_category(reason: str) -> str:
  """A reason without its details: 'truncated: 50000 bytes ...' -> 'truncated'.

  Readers write reasons as 'what went wrong: details' or 'what (details)'."""
  head = re.split(r": | \(", reason, maxsplit=1)[0]
  return re.sub(r"\d+(\.\d+)?", "N", head)


class BuildReport:

  def __init__(self, dataset: str, label_names):
    self.dataset = dataset
    self.label_names = list(label_names)
    self.read = collections.Counter()
    self.skipped = collections.Counter()
    self.skipped_examples: dict[str, list[str]] = collections.defaultdict(list)
    self.label_counts = {}
    self.unknown_counts = {}
    self.patients: dict[str, set] = collections.defaultdict(set)
    self.unmapped = collections.Counter()

  def add(self, split: str, labels, patient: str, unmapped=(), unknown=()) -> None:
    self.read[split] += 1
    counts = self.label_counts.setdefault(split, collections.Counter())
    counts.update(labels)
    self.unknown_counts.setdefault(split, collections.Counter()).update(unknown)
    self.patients[split].add(patient)
    self.unmapped.update(unmapped)

  def skip(self, split: str, path: str, reason: str) -> None:
    category = reason_category(reason)
    self.skipped[category] += 1
    if len(self.skipped_examples[category]) < _EXAMPLES_PER_REASON:
      self.skipped_examples[category].append(f"[{split}] {path}: {reason}")

  @property
  def total_read(self) -> int:
    return sum(self.read.values())

  @property
  def total_skipped(self) -> int:
    return sum(self.skipped.values())

  def skipped_fraction(self) -> float:
    total = self.total_read + self.total_skipped
    return self.total_skipped / total if total else 0.0

  def to_dict(self) -> dict:
    return {
        "dataset": self.dataset,
        "records_read": dict(self.read), "records_skipped": self.total_skipped,
        "skipped_fraction": self.skipped_fraction(),
        "skipped_by_reason": dict(self.skipped.most_common()),
        "skipped_examples": dict(self.skipped_examples),
        "patients_per_split": {k: len(v) for k, v in self.patients.items()},
        "label_prevalence": {
            split: {name: {"count": counts[name], "prevalence": counts[name] / self.read[split],
                           "unknown": self.unknown_counts.get(split, {}).get(name, 0)}
                    for name in self.label_names}
            for split, counts in self.label_counts.items() if self.read[split]},
        "unmapped_source_labels": dict(self.unmapped.most_common()),
    }

  def to_markdown(self) -> str:
    d = self.to_dict()
    splits = sorted(d["records_read"])
    lines = [f"# Build report: {self.dataset}", "",
             f"Read {self.total_read} records; skipped {self.total_skipped} "
             f"({d['skipped_fraction']:.2%}).", "",
             "| split | records | patients |", "|---|---|---|"]
    lines += [f"| {s} | {d['records_read'][s]} | {d['patients_per_split'].get(s, 0)} |"
              for s in splits]
    if self.skipped:
      lines += ["", "## Skipped", "", "| reason | count |", "|---|---|"]
      lines += [f"| {r} | {n} |" for r, n in self.skipped.most_common()]
      lines += ["", "Examples:", ""]
      lines += [f"- {e}" for examples in self.skipped_examples.values() for e in examples]
    if not self.label_names:        # an unlabelled archive (self-supervised pretraining)
      lines += ["", "No labels: the archive's records are stored without any."]
    else:
      lines += ["", "## Label prevalence", "", "| label | " + " | ".join(splits) + " |",
                "|---|" + "---|" * len(splits)]
    for name in self.label_names:
      cells = []
      for s in splits:
        n = self.label_counts.get(s, {}).get(name, 0)
        unknown = self.unknown_counts.get(s, {}).get(name, 0)
        cell = f"{n} ({n / d['records_read'][s]:.1%})" if d["records_read"][s] else "0"
        cells.append(cell + (f", {unknown} unknown" if unknown else ""))
      lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if self.unmapped:
      lines += ["", "## Source labels left unmapped", "", "| source label | records |", "|---|---|"]
      lines += [f"| {code} | {n} |" for code, n in self.unmapped.most_common()]
    return "\n".join(lines) + "\n"

  def positives_table(self, few: int = 10) -> str:
    """Positives per label and split, as a build prints them, each label with fewer than
    `few` positives in a split marked: too few there to set a threshold or measure."""
    splits = sorted(self.read)
    if not self.label_names:
      return f"{self.dataset}: no labels (an unlabelled archive)"
    lines = [f"{self.dataset}: positives per label and split (* fewer than {few})",
             f"  {'label':<44}" + "".join(f"{s:>12}" for s in splits)]
    for name in self.label_names:
      counts = [self.label_counts.get(s, {}).get(name, 0) for s in splits]
      if any(counts):
        lines.append(f"  {name:<44}" + "".join(
            f"{str(n) + ('*' if n < few else ' '):>12}" for n in counts))
    return "\n".join(lines)

  def write(self, directory) -> None:
    """Writes build_report.json and build_report.md into `directory` (an epath or str)."""
    import pathlib
    directory = pathlib.Path(str(directory))
    (directory / "build_report.json").write_text(json.dumps(self.to_dict(), indent=2))
    (directory / "build_report.md").write_text(self.to_markdown())

  def check(self, max_skip_fraction: float) -> None:
    if self.total_read == 0:
      raise TooManySkippedError(f"{self.dataset}: no records could be read\n\n"
                                + self.to_markdown())
    if self.skipped_fraction() > max_skip_fraction:
      raise TooManySkippedError(
          f"{self.dataset}: {self.skipped_fraction():.2%} of records skipped, more than "
          f"max_skip_fraction={max_skip_fraction:.2%}\n\n" + self.to_markdown())
