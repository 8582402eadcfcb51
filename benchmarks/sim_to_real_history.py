"""The sim-to-real history: every line of results/sim_to_real.jsonl as tables in README.md.

  python benchmarks/sim_to_real_history.py [--results results/sim_to_real.jsonl]
      [--readme README.md]

Rewrites the part of README.md between the history markers with three tables, so the
record of every generator version and recipe stays beside the results it is read from:
per run, each shared set's median AUROC with its 95% CI; per run and label, the
AUROCs of the labels with enough positives; and the scaling curves by pretraining
steps for each generator version: the 12-lead median on PTB-XL and CPSC, and the lead-I
model on all 5,000 CinC 2017 recordings (the one set large enough to tell two points
of a curve apart). Lines written before the medians had
CIs (2026-12-03) show none. A fourth table gives every paired comparison in
results/sim_to_real_paired.jsonl (sim_to_real_paired.py): two models on the same
ECGs, B minus A with its own CI, which is what a point of a curve against another is.
"""

import argparse
import json
import os
import re
import statistics

HERE = os.path.dirname(os.path.abspath(__file__))
BEGIN, END = "<!-- sim-to-real-history -->", "<!-- /sim-to-real-history -->"
SETS = (("ptbxl", "PTB-XL 1-40"), ("cpsc2018", "CPSC 2018 1-40"),
        ("cinc2017", "CinC 2017 1-200, lead I"),
        ("cinc2017_5000", "CinC 2017 1-5000, lead I"),
        ("ptbxl_2055", "PTB-XL 2,055, 12 leads"))
# The set whose CIs can separate two pretrainings: hundreds of positives per label.
LARGE_SET = "cinc2017_5000"
# Set names of the lines before generator 1.2.0.
OLD_SET_NAMES = {"ptbxl_1_40": "ptbxl", "cpsc2018_1_40": "cpsc2018", "cinc2017_1_200": "cinc2017"}
TWELVE_LEAD = ("ptbxl", "cpsc2018")


def read(path: str) -> list[dict]:
  with open(path, encoding="utf-8") as f:
    lines = [json.loads(row) for row in f if row.strip()]
  for line in lines:
    line["sets"] = {OLD_SET_NAMES.get(k, k): v for k, v in line["sets"].items()}
    line["labels"] = {f"{OLD_SET_NAMES.get(k.split(':')[0], k.split(':')[0])}:"
                      f"{k.split(':', 1)[1]}": v for k, v in line["labels"].items()}
  return lines


def steps_of(line: dict) -> int | None:
  """The pretraining steps: recorded since 2026-12-03, else read off the recipe's name
  (`demo` is the demo's 600)."""
  if line.get("steps"):
    return int(line["steps"])
  found = re.search(r"(\d[\d,]*) steps", line["recipe"])
  if found:
    return int(found.group(1).replace(",", ""))
  return 600 if line["recipe"].startswith("demo") else None


def _median(value, ci=None, count=None) -> str:
  if value is None:
    return "-"
  text = f"{value:.3f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
  return text + (f" ({count})" if count is not None else "")


def twelve_lead_median(line: dict) -> tuple[float | None, list | None, int]:
  """The median over the 12-lead sets' counted labels, with its CI where the line
  scored no other set (its pooled CI is then this median's)."""
  values = [v["auroc"] for k, v in line["labels"].items()
            if k.split(":")[0] in TWELVE_LEAD and v["auroc"] is not None
            and v["n_pos"] >= line["min_positives"]]
  ci = line.get("median_auroc_ci") if set(line["sets"]) <= set(TWELVE_LEAD) else None
  return (statistics.median(values) if values else None), ci, len(values)


def runs_table(lines: list[dict]) -> list[str]:
  out = ["| date | generator | recipe | steps | all sets: median [95% CI] (labels) | "
         + " | ".join(title for _, title in SETS) + " |",
         "|---" * (5 + len(SETS)) + "|"]
  for line in lines:
    recipe = line["recipe"] + (", BatchNorm adapted" if line.get("batch_norm_adapted")
                               and "adapted" not in line["recipe"] else "")
    cells = [line.get("date", "-"), line["generator"] or "-", recipe,
             str(steps_of(line) or "-"),
             _median(line["median_auroc"], line.get("median_auroc_ci"), line["labels_counted"])]
    for name, _ in SETS:
      s = line["sets"].get(name)
      cells.append(_median(s["median_auroc"], s.get("median_auroc_ci"), s["labels_counted"])
                   if s else "not scored")
    out.append("| " + " | ".join(cells) + " |")
  return out


def labels_table(lines: list[dict]) -> list[str]:
  """A column per label counted in any run (set:label), a row per run."""
  columns = []
  for line in lines:
    for key, v in line["labels"].items():
      if v["auroc"] is not None and v["n_pos"] >= line["min_positives"] and key not in columns:
        columns.append(key)
  out = ["| generator | recipe | " + " | ".join(c.replace("_", " ") for c in columns) + " |",
         "|---" * (2 + len(columns)) + "|"]
  for line in lines:
    cells = [line["generator"] or "-", line["recipe"]]
    for key in columns:
      v = line["labels"].get(key)
      cells.append("-" if not v or v["auroc"] is None else f"{v['auroc']:.3f} ({v['n_pos']})")
    out.append("| " + " | ".join(cells) + " |")
  return out


def family_of(line: dict) -> str | None:
  """Which training stream a run's recipe names: the built draw, the built draw with
  recording or handheld augmentation, or fresh ECGs, and the seed where the recipe
  names one other than 0 (a curve is one seed's); None for a run scored after
  BatchNorm adaptation (not a pretraining)."""
  recipe = line["recipe"].lower()
  if line.get("batch_norm_adapted"):
    return None
  if "fresh" in recipe:
    family = "fresh ECGs"
  elif "handheld" in recipe:
    family = "built draw, augment=handheld"
  elif "augment" in recipe or "recording" in recipe:
    family = "built draw, augment=recording"
  else:
    family = "built draw"
  seed = re.search(r"\bseed (\d+)", recipe)
  return family + (f", seed {seed.group(1)}" if seed and seed.group(1) != "0" else "")


def scaling_table(lines: list[dict]) -> list[str]:
  """Per generator version and training stream, the 12-lead median (PTB-XL and CPSC
  pooled, labels with enough positives) by steps; the last line of each (version,
  stream, steps) counts. Lines that scored PTB-XL with a builder before 1.2.0 are left
  out: its left axis deviation was the German Linkstyp there (docs/sim-to-real.md), a
  label the later lines do not count."""
  curve: dict[tuple, dict[int, str]] = {}
  for line in lines:
    family, steps = family_of(line), steps_of(line)
    ptbxl_version = line["sets"].get("ptbxl", {}).get("version") or "0"
    if (family is None or steps is None or not line["generator"]
        or tuple(int(p) for p in ptbxl_version.split(".")) < (1, 2, 0)):
      continue
    curve.setdefault((line["generator"], family), {})[steps] = _median(
        *twelve_lead_median(line))
  return curve_table(curve)


def curve_table(curve: dict[tuple, dict[int, str]]) -> list[str]:
  """A row per (generator, training stream), a column per step count, cells as given."""
  all_steps = sorted({s for points in curve.values() for s in points})
  out = ["| generator | pretrained on | " + " | ".join(f"{s:,} steps" for s in all_steps)
         + " |", "|---" * (2 + len(all_steps)) + "|"]
  for (generator, family), points in curve.items():
    out.append(f"| {generator} | {family} | "
               + " | ".join(points.get(s, "-") for s in all_steps) + " |")
  return out


def lead_i_scaling_table(lines: list[dict]) -> list[str]:
  """Per generator version and training stream, the lead-I model on CinC 2017's 5,000
  recordings by steps: the median [95% CI] and each label's AUROC; the last line of
  each (version, stream, steps) counts."""
  curve: dict[tuple, dict[int, str]] = {}
  for line in lines:
    family, steps, s = family_of(line), steps_of(line), line["sets"].get(LARGE_SET)
    if family is None or steps is None or not s or not line["generator"]:
      continue
    per_label = ", ".join(f"{name.replace('_', ' ')} {v['auroc']:.3f}"
                          for name, v in s["labels"].items()
                          if v["auroc"] is not None and v["n_pos"] >= line["min_positives"])
    curve.setdefault((line["generator"], family), {})[steps] = (
        _median(s["median_auroc"], s.get("median_auroc_ci")) + f" ({per_label})")
  return curve_table(curve)


def _interval(entry: dict | None) -> str:
  if not entry:
    return "-"
  low, high = entry["ci"]
  return f"{entry['value']:+.3f} [{low:+.3f}, {high:+.3f}]"


def paired_table(lines: list[dict]) -> list[str]:
  """A row per comparison and set (and the sample sets pooled, where there are two):
  each model's median over the labels counted, and B - A with its paired CI."""
  out = ["| date | comparison (A vs B) | set | labels | A | B | B - A [95% CI] |",
         "|---" * 7 + "|"]
  for line in lines:
    label = line["label"]
    if line.get("steps_a") and line.get("steps_b"):   # what the two cards say they are
      label += (f" ({(line.get('generator_a') or '?').split()[-1]}, {line['steps_a']:,} vs "
                f"{(line.get('generator_b') or '?').split()[-1]}, {line['steps_b']:,})")
    rows = [(dict(SETS).get(name, name), s) for name, s in line["sets"].items()]
    if sum(name in TWELVE_LEAD for name in line["sets"]) > 1:
      rows.append(("PTB-XL and CPSC pooled", line["pooled"]))
    for title, s in rows:
      if not s["labels_counted"]:
        continue
      out.append(f"| {line.get('date', '-')} | {label} | {title} | "
                 f"{s['labels_counted']} | {s['median_a']['value']:.3f} | "
                 f"{s['median_b']['value']:.3f} | {_interval(s['difference'])} |")
  return out


def render(lines: list[dict], paired: list[dict] = ()) -> str:
  return "\n".join([
      BEGIN, "",
      "### Every run: median AUROC over the labels with at least 3 positives", "",
      *runs_table(lines), "",
      "### Every run, per label: AUROC (positives)", "",
      *labels_table(lines), "",
      "### Scaling: the 12-lead median (PTB-XL and CPSC pooled) by pretraining steps", "",
      "Pretraining runs without BatchNorm adaptation, scored with the label definitions "
      "of ptbxl 1.2.0 or later; [95% CI] where the run scored the 12-lead sets alone; "
      "(labels counted).", "",
      *scaling_table(lines), "",
      "### Scaling: the lead-I model on CinC 2017's 5,000 recordings by pretraining steps",
      "",
      "`sim_to_real.py --large_sets`: median AUROC [95% CI] over the labels with enough "
      "positives (of 5,000: about 3,000 in sinus rhythm, 450 in atrial fibrillation), and "
      "each label's AUROC.", "",
      *lead_i_scaling_table(lines), "",
      "### Paired: two pretrainings on the same ECGs", "",
      "`sim_to_real_paired.py --a A --b B`: each resample scores both models on the same "
      "records, so B - A has a CI of its own, narrower than the two medians' CIs side by "
      "side. A CI across zero shows no difference, not equality.", "",
      *paired_table(paired), "",
      END])


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--results", default=os.path.join(HERE, "results", "sim_to_real.jsonl"))
  parser.add_argument("--paired",
                      default=os.path.join(HERE, "results", "sim_to_real_paired.jsonl"))
  parser.add_argument("--readme", default=os.path.join(HERE, "README.md"))
  args = parser.parse_args()
  with open(args.readme, encoding="utf-8") as f:
    text = f.read()
  paired = []
  if os.path.exists(args.paired):
    with open(args.paired, encoding="utf-8") as f:
      paired = [json.loads(row) for row in f if row.strip()]
  table = render(read(args.results), paired)
  if BEGIN in text and END in text:
    text = text[:text.index(BEGIN)] + table + text[text.index(END) + len(END):]
  else:
    text = text.rstrip("\n") + "\n\n## Sim-to-real history\n\n" + table + "\n"
  with open(args.readme, "w", encoding="utf-8") as f:
    f.write(text)


if __name__ == "__main__":
  main()
