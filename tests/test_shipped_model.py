"""The models that ship in the package (ecgjax/shipped_models/, written by
ecgjax/release.py): found by name, complete, with the record their cards promise,
and able to read real ECG files as the README's first example does. `synthetic_foundation`
reads 12 leads; `synthetic_foundation_lead_i` reads lead I (a handheld recorder's)."""

import csv
import os

import numpy as np
import pytest

from ecgjax.ecg.labels import exclusions, lead_support
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
  # Thresholds set on PTB-XL's training folds: at most 10% of their normal ECGs flagged
  # (the rule's choice), and of the held-out folds' (README: 12 of 199 for the 12-lead).
  real = release["real_calibration"]
  assert real["chosen_on"] == "train" and real["held_out"] == "validation+test"
  assert real["chosen_on_normals_flagged"]["fraction"] <= 0.10
  assert real["normals_flagged"]["fraction"] <= 0.10
  assert set(real["labels_refitted"]).isdisjoint(real["labels_raised_on_normals"])
  if name == NAME:
    assert (real["normals_flagged"]["flagged"], real["normals_flagged"]["normal_ecgs"]) == (12, 199)
  else:
    # One lead claims what one limb lead shows; the normal-rhythm CinC recordings given
    # any label beyond sinus rhythm (README: 5% of the first 200, 8% of all).
    kept, left_out = card["label_scope"]["kept"], card["label_scope"]["left_out"]
    assert list(kept) == card["labels"] and set(kept) <= set(lead_support.ONE_LEAD)
    assert len(left_out) == 26 and "left_bundle_branch_block" in left_out
    for s, most in (("cinc2017", 0.06), ("cinc2017_5000", 0.08)):
      if s in s2r["sets"]:
        assert s2r["sets"][s]["normals_flagged_any_label"]["fraction"] <= most
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


def test_predict_never_gives_labels_that_exclude_each_other(tmp_path):
  """On the packaged twelve-lead samples the model calls contradictory sets (AF with
  sinus rhythm); predict's `positive` holds none, and `dropped` says what lost."""
  from ecgjax import samples
  out = tmp_path / "p.csv"
  score_files.predict_files(NAME, [samples.path("ptbxl"), samples.path("cpsc2018")], str(out))
  with open(out) as f:
    rows = list(csv.DictReader(f))
  resolved = 0
  for row in rows:
    positive = [n for n in row["positive"].split(";") if n]
    dropped = [d.split(" (")[0] for d in row["dropped"].split(";") if d]
    assert exclusions.violated(positive) == []
    assert set(positive).isdisjoint(dropped)
    resolved += bool(exclusions.violated(positive + dropped))
  assert resolved > 0          # the calls did contradict: the rule had work to do
