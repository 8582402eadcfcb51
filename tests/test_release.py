"""Releasing a model into the package (ecgjax/release.py): thresholds refitted on
synthetic validation by the stated rule, the real sample sets scored zero-shot with
the normals it flags, and a model directory whose card records all of it."""

import csv
import json
import os

import pytest

from ecgjax import release
from ecgjax.inference import scoring
from ecgjax.models import shipped



def test_training_cost_reads_the_log_and_the_metrics(tmp_path):
  (tmp_path / "metrics.jsonl").write_text(
      "".join(json.dumps({"step": s, "ecg_per_sec": r}) + "\n"
              for s, r in ((50, 100.0), (100, 300.0), (150, 200.0))) + json.dumps(
          {"step": 150, "split": "validation"}) + "\n")
  (tmp_path / "ecgjax.log").write_text(
      "2026-12-02 10:00:00,500 INFO loop.py:1] start\n"
      "a traceback line without a time stamp\n"
      "2026-12-02 10:05:30,000 INFO loop.py:2] done\n")
  cost = release.training_cost(str(tmp_path))
  assert cost["wall_s"] == pytest.approx(329.5)
  assert cost["median_ecg_per_sec"] == 200.0
  (tmp_path / "ecgjax.log").unlink()
  assert release.training_cost(str(tmp_path))["wall_s"] is None
  # A model directory (no metrics.jsonl): the cost its card's release entry records.
  recorded = {"wall_s": 60.0, "median_ecg_per_sec": 100.0, "cpus": 2}
  (tmp_path / "metrics.jsonl").unlink()
  assert release.training_cost(str(tmp_path), {"release": {"training_cost": recorded}}) == recorded
  assert release.training_cost(str(tmp_path), {}) is None


def test_importing_the_release_defines_no_flags():
  """Flags are the command's, defined when it runs (`define_flags`), so importing the
  module beside other absl programs changes none of theirs."""
  from absl import flags
  assert "recipe" not in flags.FLAGS and "one_lead" not in flags.FLAGS
  assert callable(release.define_flags)


LARGE_SET_RECORDS = 120


def with_fewer_ptbxl_records(shared_data: str, root, records: int) -> str:
  """`shared_data` again under `root` (every folder linked), except that `ptbxl_train/`
  holds only its first `records` PTB-XL records (every fold among them): the large set
  is found, built and scored as the whole one is, in seconds instead of a minute."""
  root.mkdir()
  for name in os.listdir(shared_data):
    if name != "ptbxl_train":
      (root / name).symlink_to(os.path.join(shared_data, name))
  source, subset = os.path.join(shared_data, "ptbxl_train"), root / "ptbxl_train"
  subset.mkdir()
  for name in os.listdir(source):
    if name != "ptbxl_database.csv":
      (subset / name).symlink_to(os.path.join(source, name))
  with open(os.path.join(source, "ptbxl_database.csv"), newline="") as f:
    reader = csv.DictReader(f)
    rows = [row for _, row in zip(range(records), reader)]
  assert len({row["strat_fold"] for row in rows}) == 10
  with open(subset / "ptbxl_database.csv", "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=reader.fieldnames)
    writer.writeheader()
    writer.writerows(rows)
  return str(root)


@pytest.mark.slow     # evaluates a model and builds the real sample sets
def test_release_writes_a_model_directory_with_its_record(tiny_pretrained, shared_data,
                                                          tmp_path, monkeypatch):
  real_data = with_fewer_ptbxl_records(shared_data, tmp_path / "real", LARGE_SET_RECORDS)
  written = release.release(tiny_pretrained, "tiny_release", "8 steps on synthetic_ecg/tiny",
                            "specificity:0.98", real_data, str(tmp_path),
                            note="Released for the test.")
  assert written == os.path.join(str(tmp_path), "tiny_release")
  # Usable by name, as a shipped model is, once it lies in the shipped folder.
  monkeypatch.setattr(shipped, "SHIPPED_MODELS", tmp_path)
  model = scoring.load("tiny_release")
  card = model.card
  assert card["threshold_rule"] == "specificity:0.98"
  assert card["operating_points"]["split"] == "validation"
  assert card["operating_points"]["dataset"].startswith("synthetic_ecg/tiny")
  rel = card["release"]
  assert rel["generator"].startswith("synthetic_ecg/tiny ") and rel["steps"] == 8
  assert rel["training_cost"]["median_ecg_per_sec"] > 0
  assert "`specificity:0.98` on synthetic_ecg/tiny validation" in rel["thresholds"]
  # The synthetic validation split's normals (sinus rhythm alone) under the same rule.
  assert rel["synthetic_normals_flagged"]["normal_ecgs"] > 0
  sets = rel["sim_to_real"]["sets"]
  # The samples' sets and, for a twelve-lead model, the large PTB-XL set (here its first
  # records); CinC 2017's one-lead sets, large or not, are not this model's to read.
  assert set(sets) == {"ptbxl", "cpsc2018", "ptbxl_2055"}
  assert sets["ptbxl_2055"]["examples"] == LARGE_SET_RECORDS
  assert "ptbxl (ptbxl/vocabulary_100 " in rel["sim_to_real"]["real_data"]
  ci = rel["sim_to_real"]["median_auroc_ci"]
  assert (ci is None) == (rel["sim_to_real"]["median_auroc"] is None)
  for name, s in sets.items():
    n = s["normals_flagged"]
    assert n["normal_ecgs"] > 0, name      # both sets label their normal ECGs
    assert n["flagged"] <= sum(n["labels_called"].values())   # each at least one label
    assert n["fraction"] == pytest.approx(n["flagged"] / n["normal_ecgs"])
    assert set(n["labels_called"]) <= set(model.labels) - {"sinus_rhythm", "sinus_arrhythmia"}
    # A flagged ECG has at least one label called; no label is called more often
    # than there are normal ECGs.
    assert (max(n["labels_called"].values(), default=0) <= n["normal_ecgs"])
    assert (n["flagged"] > 0) == bool(n["labels_called"])
  markdown = (tmp_path / "tiny_release" / "model_card.md").read_text()
  assert "## Release" in markdown and "normal ECGs" in markdown
  assert rel["note"] == "Released for the test." and "\nReleased for the test.\n" in markdown
  assert json.loads((tmp_path / "tiny_release" / "model_card.json").read_text()) == card
  # A release never overwrites one.
  with pytest.raises(FileExistsError, match="tiny_release"):
    release.release(tiny_pretrained, "tiny_release", "again", "youden", real_data,
                    str(tmp_path))


@pytest.mark.slow     # evaluates a model three times on a built PTB-XL set
def test_thresholds_set_on_ptbxl_training_folds(tiny_pretrained, shared_data, tmp_path):
  """refit_on_ptbxl: the labels PTB-XL annotates refitted on its training folds (normal
  findings by Youden's J), every other label's threshold only ever raised, on the
  training folds' normal ECGs; the held-out folds reported."""
  before = scoring.load(tiny_pretrained).card
  written, real = release.refit_on_ptbxl(tiny_pretrained, "specificity:0.98",
                                         os.path.join(shared_data, "ptbxl"), str(tmp_path))
  card = scoring.load(written).card
  assert real["chosen_on"] == "train" and real["held_out"] == "validation+test"
  assert real["chosen_on_examples"] + real["held_out_examples"] == 40
  assert "sinus_rhythm" in real["labels_refitted"]
  assert set(real["labels_refitted"]).isdisjoint(real["labels_raised_on_normals"])
  assert card["operating_points"]["dataset"].startswith("ptbxl/vocabulary_100")
  assert card["threshold_rule"] == "specificity:0.98"
  for label in real["labels_raised_on_normals"]:
    assert card["thresholds"][label] >= before["thresholds"][label]
    assert label in card["thresholds_from_normals"]
  assert set(real["labels_raised_on_normals"]) == (
      {n for n in before["labels"] if before["thresholds"][n] is not None}
      - set(real["labels_refitted"]))
  assert real["normals_flagged"]["normal_ecgs"] > 0
