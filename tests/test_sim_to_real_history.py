"""benchmarks/sim_to_real_history.py: the results file's lines as README tables, the
scaling curve from the runs it is meant to compare, rewritten in place."""

import json
import os
import sys

from tests.helpers import REPO

sys.path.insert(0, os.path.join(REPO, "benchmarks"))
import sim_to_real_history as history  # noqa: E402


def line(recipe, median, generator="synthetic_ecg/demo 1.5.0", steps=None, adapted=False,
         ptbxl_version="1.3.0"):
  labels = {"ptbxl:sinus_rhythm": {"n_pos": 30, "n_neg": 10, "auroc": median,
                                   "auroc_ci": [0.7, 1.0]},
            "cpsc2018:right_bundle_branch_block": {"n_pos": 8, "n_neg": 32, "auroc": 0.9,
                                                   "auroc_ci": [0.7, 1.0]},
            "ptbxl:left_axis_deviation": {"n_pos": 1, "n_neg": 11, "auroc": 0.1,
                                          "auroc_ci": [0.0, 1.0]}}
  out = {"recipe": recipe, "generator": generator, "median_auroc": median,
         "median_auroc_ci": [median - 0.1, median + 0.05], "labels_counted": 2,
         "min_positives": 3, "batch_norm_adapted": adapted, "date": "2026-12-03",
         "labels": labels,
         "sets": {"ptbxl": {"version": ptbxl_version, "median_auroc": median,
                            "median_auroc_ci": None, "labels_counted": 1},
                  "cpsc2018": {"version": "1.1.0", "median_auroc": 0.9,
                               "median_auroc_ci": [0.8, 1.0], "labels_counted": 1}}}
  if steps:
    out["steps"] = steps
  return out


def test_history_tables_and_the_scaling_curve(tmp_path, monkeypatch):
  results = tmp_path / "sim_to_real.jsonl"
  rows = [line("demo", 0.80, generator="synthetic_ecg/demo 1.4.0"),
          line("2000 steps, the built draw", 0.70, generator="synthetic_ecg/demo 1.4.0"),
          line("demo (600 steps)", 0.95, steps=600),
          line("demo (600 steps), BatchNorm adapted per set", 0.99, steps=600, adapted=True),
          line("2000 steps, fresh ECGs", 0.99, steps=2000),
          line("long", 0.85, steps=5000),
          line("long, seed 1", 0.88, steps=5000),
          line("old definitions", 0.5, generator="synthetic_ecg/demo 1.1.0",
               ptbxl_version="1.1.0")]
  results.write_text("".join(json.dumps(r) + "\n" for r in rows))
  readme = tmp_path / "README.md"
  readme.write_text("# Benchmarks\n\nintro\n")
  for _ in range(2):      # the second run replaces the section it wrote
    monkeypatch.setattr(sys, "argv", ["sim_to_real_history.py", f"--results={results}",
                                      f"--paired={tmp_path / 'none.jsonl'}",
                                      f"--readme={readme}"])
    history.main()
  text = readme.read_text()
  assert text.startswith("# Benchmarks\n\nintro\n") and text.count(history.BEGIN) == 1
  assert "| 2026-12-03 | synthetic_ecg/demo 1.5.0 | long | 5000 | 0.850 [0.75, 0.90] (2) |" in text
  assert "0.900 [0.80, 1.00] (1)" in text          # a set's median with its CI
  # The per-label table counts labels with enough positives only.
  assert "ptbxl:sinus rhythm" in text and "left axis deviation" not in text
  scaling = text[text.index("### Scaling"):]
  # 12-lead median of each run: median(sinus rhythm, RBBB 0.9), by training stream; the
  # adapted and old-definition runs are left out.
  assert ("| synthetic_ecg/demo 1.5.0 | built draw | 0.925 [0.85, 1.00] (2) | - | "
          "0.875 [0.75, 0.90] (2) |" in scaling)
  assert "| synthetic_ecg/demo 1.5.0 | fresh ECGs | - | 0.945 [0.89, 1.04] (2) | - |" in scaling
  # Another seed is a curve of its own, not a later point of seed 0's.
  assert "| synthetic_ecg/demo 1.5.0 | built draw, seed 1 | - | - | 0.890 [0.78, 0.93] (2) |" \
      in scaling
  assert ("| synthetic_ecg/demo 1.4.0 | built draw | 0.850 [0.70, 0.85] (2) | "
          "0.800 [0.60, 0.75] (2) | - |" in scaling)
  assert "1.1.0" not in scaling.split("### Scaling: the lead-I")[0]


def test_the_lead_i_curve_on_the_large_set(tmp_path, monkeypatch):
  """Lines that scored CinC 2017's 5,000 recordings make the lead-I curve; the others
  are not in it."""
  def lead_i(recipe, steps, af, generator="synthetic_ecg/demo 1.6.0"):
    out = line(recipe, 0.9, generator=generator, steps=steps)
    out["sets"]["cinc2017_5000"] = {
        "version": "1.1.0", "median_auroc": (af + 0.8) / 2, "median_auroc_ci": [0.7, 0.9],
        "labels_counted": 2,
        "labels": {"sinus_rhythm": {"n_pos": 3000, "n_neg": 1000, "auroc": 0.8},
                   "atrial_fibrillation": {"n_pos": 446, "n_neg": 4000, "auroc": af},
                   "noise": {"n_pos": 1, "n_neg": 4000, "auroc": 0.1}}}
    return out
  results = tmp_path / "sim_to_real.jsonl"
  rows = [lead_i("short", 600, 0.9), lead_i("long", 5000, 0.96),
          lead_i("lead-I model, augment=handheld", 600, 0.94),
          line("12-lead only", 0.9, steps=600)]
  results.write_text("".join(json.dumps(r) + "\n" for r in rows))
  readme = tmp_path / "README.md"
  readme.write_text("# Benchmarks\n")
  monkeypatch.setattr(sys, "argv", ["sim_to_real_history.py", f"--results={results}",
                                    f"--paired={tmp_path / 'none.jsonl'}",
                                    f"--readme={readme}"])
  history.main()
  curve = readme.read_text().split("### Scaling: the lead-I")[1]
  assert ("| synthetic_ecg/demo 1.6.0 | built draw | 0.850 [0.70, 0.90] (sinus rhythm 0.800, "
          "atrial fibrillation 0.900) | 0.880 [0.70, 0.90] (sinus rhythm 0.800, atrial "
          "fibrillation 0.960) |" in curve)
  assert ("| synthetic_ecg/demo 1.6.0 | built draw, augment=handheld | 0.870 [0.70, 0.90] "
          "(sinus rhythm 0.800, atrial fibrillation 0.940) | - |" in curve)
  assert "1.5.0" not in curve and "noise" not in curve


def test_paired_comparisons_are_tabled_with_the_difference_and_its_ci(tmp_path, monkeypatch):
  """results/sim_to_real_paired.jsonl: a row per set, and the 12-lead sets pooled
  where both were scored; a set with no counted label gives no row."""
  def summary(a, b, low, high, counted=3):
    return {"labels_counted": counted, "median_a": {"value": a, "ci": [a - 0.1, a]},
            "median_b": {"value": b, "ci": [b - 0.1, b]},
            "difference": {"value": b - a, "ci": [low, high]}}
  twelve = {"label": "600 vs 5,000 steps", "date": "2026-12-03",
            "sets": {"ptbxl": summary(0.94, 0.92, -0.06, 0.01),
                     "cpsc2018": summary(0.90, 0.85, -0.15, 0.05)},
            "pooled": summary(0.92, 0.89, -0.09, 0.03, counted=6)}
  lead_i = {"label": "lead I", "date": "2026-12-03", "generator_a": "synthetic_ecg/demo 1.6.0",
            "steps_a": 600, "generator_b": "synthetic_ecg/demo 1.7.0", "steps_b": 5000,
            "sets": {"cinc2017": summary(0.5, 0.5, 0, 0, counted=0),
                     "cinc2017_5000": summary(0.82, 0.87, 0.04, 0.07, counted=2)},
            "pooled": summary(0.5, 0.5, 0, 0, counted=0)}
  paired = tmp_path / "paired.jsonl"
  paired.write_text(json.dumps(twelve) + "\n" + json.dumps(lead_i) + "\n")
  results = tmp_path / "sim_to_real.jsonl"
  results.write_text(json.dumps(line("demo", 0.9, steps=600)) + "\n")
  readme = tmp_path / "README.md"
  readme.write_text("# Benchmarks\n")
  monkeypatch.setattr(sys, "argv", ["sim_to_real_history.py", f"--results={results}",
                                    f"--paired={paired}", f"--readme={readme}"])
  history.main()
  table = readme.read_text().split("### Paired")[1]
  assert ("| 2026-12-03 | 600 vs 5,000 steps | PTB-XL and CPSC pooled | 6 | 0.920 | 0.890 | "
          "-0.030 [-0.090, +0.030] |" in table)
  assert "| 600 vs 5,000 steps | CPSC 2018 1-40 | 3 | 0.900 | 0.850 | -0.050" in table
  # The cards' generator versions and steps beside the label, where the line has them.
  assert ("| lead I (1.6.0, 600 vs 1.7.0, 5,000) | CinC 2017 1-5000, lead I | 2 | 0.820 | "
          "0.870 | +0.050 [+0.040, +0.070] |" in table)
  assert "CinC 2017 1-200" not in table and "| lead I (1.6.0, 600 vs 1.7.0, 5,000) | PTB-XL" \
      not in table
