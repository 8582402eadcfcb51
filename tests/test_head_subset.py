"""A model restricted to some of its labels (training.head_subset), and the one-lead
labels a lead-I model keeps (ecg.labels.lead_support)."""

import os

import numpy as np
import pytest

from ecgjax.ecg.labels import lead_support
from ecgjax.inference import scoring, serving_export
from ecgjax.models import model_card
from ecgjax.training import checkpoints, head_subset

pytestmark = pytest.mark.slow     # reads a trained model


def test_the_kept_labels_score_exactly_as_before(tiny_pretrained, tmp_path):
  """Each kept label's log-odds are the full model's for it, to the bit: an independent
  label is its own column of the head."""
  saved = checkpoints.read_pretrained(tiny_pretrained)
  keep = saved.card["labels"][1::2]
  scope = {"reads": "all 12 leads", "kept": {n: "a test" for n in keep}, "left_out": {}}
  subset = head_subset.keep_labels(saved, list(reversed(keep)), scope)
  written = checkpoints.write_model_directory(subset, str(tmp_path / "subset"))
  model_card.write(written, subset.card)
  full, part = scoring.load(tiny_pretrained), scoring.load(written)
  assert part.labels == keep                       # in the head's order, whatever was asked
  assert part.card["label_scope"] == scope
  assert "## What it claims" in (tmp_path / "subset" / "model_card.md").read_text()
  assert part.card["model"]["num_labels"] == len(keep)
  assert part.card["thresholds"] == {n: full.card["thresholds"][n] for n in keep}
  windows = serving_export.probe_signals(full.card, 6)
  columns = [full.labels.index(n) for n in keep]
  np.testing.assert_array_equal(scoring.Scorer(part)(windows),
                                scoring.Scorer(full)(windows)[:, columns])
  with pytest.raises(head_subset.HeadSubsetError, match="no label takotsubo"):
    head_subset.keep_labels(saved, ["takotsubo"])


def test_an_exclusive_group_is_kept_whole_or_not_at_all(tiny_pretrained):
  saved = checkpoints.read_pretrained(tiny_pretrained)
  labels = saved.card["labels"]
  grouped = {**saved.card, "exclusive_groups": [labels[:3]]}
  import dataclasses
  saved = dataclasses.replace(saved, card=grouped)
  with pytest.raises(head_subset.HeadSubsetError, match="share one softmax"):
    head_subset.keep_labels(saved, labels[1:4])
  assert head_subset.keep_labels(saved, labels[:4]).card["exclusive_groups"] == [labels[:3]]
  assert head_subset.keep_labels(saved, labels[3:5]).card["exclusive_groups"] == []


def test_a_one_lead_model_keeps_rhythm_conduction_and_ectopy_only():
  """Of the shipped twelve-lead model's 39 labels, lead I keeps the 13 read from the
  timing of P and QRS; every territorial, axis, block-shape and voltage label is left
  out with its reason."""
  labels = model_card.read(os.path.join(os.fspath(checkpoints.shipped.SHIPPED_MODELS),
                                        "synthetic_foundation"))["labels"]
  kept, left_out = lead_support.one_lead_scope(labels)
  assert len(kept) + len(left_out) == len(labels) == 39
  assert {"atrial_fibrillation", "first_degree_av_block", "third_degree_av_block",
          "premature_ventricular_contractions", "ventricular_pacing"} <= set(kept)
  assert {"left_bundle_branch_block", "left_anterior_fascicular_block", "left_axis_deviation",
          "st_elevation_lateral", "wolff_parkinson_white", "low_qrs_voltage"} <= set(left_out)
  assert all(why and why != lead_support.NOT_LISTED for why in left_out.values())
  assert lead_support.one_lead_scope(["takotsubo"])[1] == {"takotsubo": lead_support.NOT_LISTED}
