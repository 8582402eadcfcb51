"""Fine-tunes that cannot be measured say so: the build prints positives per label and
split, a fine-tune warns before training, and the sweep's table marks thin cells."""

import types

from ecgjax.ecg import build_report
from ecgjax.evaluation import results, sweep_tables
from ecgjax.experiments import fine_tuning


def test_the_build_prints_positives_per_label_and_split_marking_the_thin_ones():
  report = build_report.BuildReport("cinc/small", ["normal", "af", "noisy"])
  for split, labels in (("train", ["normal"] * 30 + ["af"] * 12),
                        ("validation", ["normal"] * 12 + ["af"])):
    for label in labels:
      report.add(split, [label], patient=f"{split}{len(report.patients[split])}")
  table = report.positives_table(few=10).splitlines()
  assert table[0] == "cinc/small: positives per label and split (* fewer than 10)"
  assert table[1].split() == ["label", "train", "validation"]
  assert table[2].split() == ["normal", "30", "12"]
  assert table[3].split() == ["af", "12", "1*"]       # one AF ECG in validation: marked
  assert len(table) == 4                             # noisy has no positive anywhere


def test_a_fine_tune_warns_of_labels_it_cannot_measure():
  source = types.SimpleNamespace(positives=lambda split: {
      "validation": {"normal": 40, "af": 1}, "test": {"normal": 3, "af": 0}}[split])
  config = types.SimpleNamespace(dataset=types.SimpleNamespace(eval_split="validation",
                                                               test_split="test"))
  lines = fine_tuning.too_few_to_measure(source, config)
  assert lines[0] == ("validation split: fewer than 10 positives for af (1): its threshold "
                      "falls back to 0.5")
  assert lines[1].startswith("test split: fewer than 10 positives for normal (3), af (0): ")
  assert len(lines) == 2
  many = types.SimpleNamespace(positives=lambda split: {"af": results.MIN_THRESHOLD_POSITIVES})
  assert fine_tuning.too_few_to_measure(many, config) == []


def test_the_sweep_table_marks_cells_with_few_test_positives():
  summary = {"modes": ["scratch", "full"], "table": [
      {"label": "af", "train_size": 100, "n_test_pos": 3,
       "modes": {"scratch": (0.7, 0.4, 0.9, 1), "full": (0.8, 0.5, 0.95, 1)}},
      {"label": "normal", "train_size": 100, "n_test_pos": 40,
       "modes": {"scratch": (0.7, 0.6, 0.8, 1), "full": (0.8, 0.7, 0.9, 1)}}]}
  lines = sweep_tables.summary_table(summary)
  assert "| af (3 test positives) † | 100 |" in lines[2]
  assert lines[3].startswith("| normal | 100 |")
  assert lines[-1].startswith("† Fewer than 10 positives in the test split")
