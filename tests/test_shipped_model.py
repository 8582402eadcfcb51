"""The model that ships in the package (ecgjax/shipped_models/synthetic_foundation,
written by experiments/release.py): found by name, complete, with the record its card
promises, and able to read real ECG files as the README's first example does."""

import csv
import os

import numpy as np
import pytest

from ecgjax.inference import score_files, scoring
from ecgjax.training import checkpoints

NAME = "synthetic_foundation"


@pytest.fixture(scope="module")
def shipped():
  return scoring.load(NAME)


def test_it_ships_by_name_without_optimiser_state(shipped):
  assert NAME in checkpoints.shipped_model_names()
  assert shipped.directory.startswith(os.fspath(checkpoints.SHIPPED_MODELS))
  assert checkpoints.read_pretrained(NAME).step == shipped.step
  size = sum(os.path.getsize(os.path.join(root, f)) for root, _, files
             in os.walk(checkpoints.SHIPPED_MODELS / NAME) for f in files)
  assert size < 5e6, "small enough for the wheel"


def test_its_card_records_how_it_was_made_and_how_it_reads_real_ecgs(shipped):
  card = shipped.card
  assert card["input"]["leads"] == ["I", "II", "III", "aVR", "aVL", "aVF",
                                    "V1", "V2", "V3", "V4", "V5", "V6"]
  assert all(card["thresholds"][name] is not None for name in card["labels"])
  release = card["release"]
  assert release["generator"].startswith("synthetic_ecg/")
  assert release["steps"] == card["training"]["steps"] == shipped.step
  assert release["training_cost"]["wall_s"] > 0
  assert card["threshold_rule"] in release["thresholds"]
  assert card["threshold_rule"].startswith("specificity:")
  s2r = release["sim_to_real"]
  assert {"ptbxl", "cpsc2018"} <= set(s2r["sets"])
  for entry in s2r["sets"].values():
    for v in entry["labels"].values():
      if v["auroc"] is not None:
        assert v["auroc_ci"][0] <= v["auroc"] <= v["auroc_ci"][1]
    n = entry["normals_flagged"]
    assert n["normal_ecgs"] > 0 and 0 <= n["flagged"] <= n["normal_ecgs"]
  assert release["synthetic_normals_flagged"]["normal_ecgs"] > 0
  markdown = open(os.path.join(checkpoints.SHIPPED_MODELS, NAME, "model_card.md")).read()
  assert "## Release" in markdown


def test_it_scores_real_ptbxl_files_by_name(shipped, shared_data, tmp_path):
  records = os.path.join(shared_data, "ptbxl", "records500", "00000")
  files = sorted(os.path.join(records, f) for f in os.listdir(records)
                 if f.endswith(".hea"))[:4]
  out = tmp_path / "predictions.csv"
  summary = score_files.predict_files(NAME, files, str(out))
  assert summary.scored == 4 and summary.failed == 0
  with open(out) as f:
    rows = list(csv.DictReader(f))
  probabilities = np.array([[float(r[name]) for name in shipped.labels] for r in rows])
  assert np.all((probabilities >= 0) & (probabilities <= 1))
  # The first record of PTB-XL is a normal ECG in sinus rhythm (scp_codes NORM, SR).
  assert "sinus_rhythm" in rows[0]["positive"].split(";")
