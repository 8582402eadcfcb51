"""The models that ship in the package (ecgjax/shipped_models/, written by
ecgjax/release.py): found by name, complete, with the record their cards promise,
and able to read real ECG files as the README's first example does. `synthetic_foundation`
reads 12 leads; `synthetic_foundation_lead_i` reads lead I (a handheld recorder's)."""

import csv
import os

import numpy as np
import pytest

from ecgjax.inference import score_files, scoring
from ecgjax.models import shipped as shipped_models
from ecgjax.training import checkpoints

NAME = "synthetic_foundation"
LEAD_I = "synthetic_foundation_lead_i"
# Per shipped model: the leads it reads and the real sets its card was scored on.
SHIPPED = {NAME: (["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"],
                  {"ptbxl", "cpsc2018"}),
           LEAD_I: (["I"], {"cinc2017", "cinc2017_5000"})}


@pytest.fixture(scope="module", params=sorted(SHIPPED))
def shipped(request):
  """(name, the model loaded by that name)."""
  return request.param, scoring.load(request.param)


def test_every_shipped_model_is_listed():
  assert shipped_models.names() == sorted(SHIPPED)


def test_it_ships_by_name_without_optimiser_state(shipped):
  name, shipped = shipped
  assert shipped.directory.startswith(os.fspath(shipped_models.SHIPPED_MODELS))
  assert checkpoints.read_pretrained(name).step == shipped.step
  size = sum(os.path.getsize(os.path.join(root, f)) for root, _, files
             in os.walk(shipped_models.SHIPPED_MODELS / name) for f in files)
  assert size < 5e6, "small enough for the wheel"


def test_its_card_records_how_it_was_made_and_how_it_reads_real_ecgs(shipped):
  name, shipped = shipped
  card = shipped.card
  leads, sets = SHIPPED[name]
  assert card["input"]["leads"] == leads
  assert all(card["thresholds"][name] is not None for name in card["labels"])
  release = card["release"]
  assert release["generator"].startswith("synthetic_ecg/")
  assert release["steps"] == card["training"]["steps"] == shipped.step
  assert release["training_cost"]["wall_s"] > 0
  assert card["threshold_rule"] in release["thresholds"]
  assert card["threshold_rule"].startswith("specificity:")
  s2r = release["sim_to_real"]
  assert sets <= set(s2r["sets"])
  for entry in s2r["sets"].values():
    for v in entry["labels"].values():
      if v["auroc"] is not None:
        assert v["auroc_ci"][1] > v["auroc_ci"][0]      # an interval, never a point
    n = entry["normals_flagged"]
    assert n["normal_ecgs"] > 0 and n["flagged"] <= sum(n["labels_called"].values())
    assert (n["flagged"] == 0) == (not n["labels_called"])
  if name == NAME:
    # What the README says of it: 7 of the 28 normal PTB-XL samples flagged, none of
    # CPSC's 7.
    flagged = {s: (e["normals_flagged"]["flagged"], e["normals_flagged"]["normal_ecgs"])
               for s, e in s2r["sets"].items()}
    assert flagged == {"ptbxl": (7, 28), "cpsc2018": (0, 7)}
  assert release["synthetic_normals_flagged"]["normal_ecgs"] > 0
  markdown = open(os.path.join(shipped_models.SHIPPED_MODELS, name, "model_card.md")).read()
  assert "## Release" in markdown


def predicted(name, files, out):
  summary = score_files.predict_files(name, files, str(out))
  assert summary.scored == len(files) and summary.failed == 0
  with open(out) as f:
    rows = list(csv.DictReader(f))
  model = scoring.load(name)
  probabilities = np.array([[float(r[label]) for label in model.labels] for r in rows])
  assert np.all((probabilities >= 0) & (probabilities <= 1))
  return rows


def test_it_scores_real_ptbxl_files_by_name(shared_data, tmp_path):
  records = os.path.join(shared_data, "ptbxl", "records500", "00000")
  files = sorted(os.path.join(records, f) for f in os.listdir(records)
                 if f.endswith(".hea"))[:4]
  rows = predicted(NAME, files, tmp_path / "predictions.csv")
  # The first record of PTB-XL is a normal ECG in sinus rhythm (scp_codes NORM, SR).
  assert "sinus_rhythm" in rows[0]["positive"].split(";")


def test_the_lead_i_model_scores_handheld_recordings_by_name(shared_data, tmp_path):
  records = os.path.join(shared_data, "cinc2017")
  # A00001 is in normal sinus rhythm, A00004 in AF (REFERENCE.csv: N, A).
  files = [os.path.join(records, f"A0000{i}.hea") for i in (1, 4)]
  rows = predicted(LEAD_I, files, tmp_path / "predictions.csv")
  assert "sinus_rhythm" in rows[0]["positive"].split(";")
  assert float(rows[1]["atrial_fibrillation"]) > float(rows[0]["atrial_fibrillation"])
