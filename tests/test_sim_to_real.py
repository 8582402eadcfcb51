"""benchmarks/sim_to_real.py on the shared real samples, with the tiny pretrained
model: every 12-lead set built and scored zero-shot, only the labels each set
annotates, the median over labels with enough positives, the generator named."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import REPO
from tfds_builders.synthetic_ecg import synthetic_ecg_dataset_builder as synthetic

pytestmark = pytest.mark.slow     # trains a model or runs a command end to end

TINY = f"synthetic_ecg/tiny {synthetic.Builder.VERSION}"


def test_zero_shot_line_on_the_shared_samples(tiny_pretrained, shared_data, tmp_path):
  out = tmp_path / "sim_to_real.jsonl"
  proc = subprocess.run(
      [sys.executable, os.path.join(REPO, "benchmarks", "sim_to_real.py"),
       f"--model={tiny_pretrained}", f"--shared={shared_data}", "--recipe=test",
       f"--scratch={tmp_path / 'scratch'}", f"--out={out}"],
      cwd=REPO, capture_output=True, text=True, timeout=600,
      env={**os.environ, "PYTHONPATH": REPO})
  assert proc.returncode == 0, proc.stderr[-3000:]
  [line] = [json.loads(row) for row in out.read_text().splitlines()]
  assert line["generator"] == TINY and line["recipe"] == "test"
  sets = line["sets"]
  assert set(sets) == {"ptbxl", "cpsc2018"}      # no one-lead model: no CinC 2017
  assert sets["ptbxl"]["examples"] == sets["cpsc2018"]["examples"] == 40
  # CPSC 2018 annotates its nine classes: its sinus_rhythm (normal ECGs only) is not scored.
  assert "sinus_rhythm" not in sets["cpsc2018"]["labels"]
  assert "sinus_rhythm" in sets["ptbxl"]["labels"]
  # PTB-XL's heart_axis: only its one ALAD record is left axis deviation (LAD, the
  # Linkstyp of ten records, is inside the normal range).
  assert sets["ptbxl"]["labels"]["left_axis_deviation"]["n_pos"] == 1
  # Only the 12 records with a stated axis type are scored on it (the blank ones
  # leave it unknown): 10 LAD and 1 RAD are its negatives.
  assert sets["ptbxl"]["labels"]["left_axis_deviation"]["n_neg"] == 11
  counted = [(name, v) for name, v in line["labels"].items()
             if v["auroc"] is not None and v["n_pos"] >= 3]
  assert line["labels_counted"] == len(counted) > 0
  values = sorted(v["auroc"] for _, v in counted)
  middle = len(values) // 2
  median = values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
  assert abs(line["median_auroc"] - median) < 1e-12
  for _, v in counted:
    low, high = v["auroc_ci"]
    assert high > low                       # an interval at these few positives, not a point
  # The medians' CIs: records resampled per set, every counted label's AUROC recomputed.
  low, high = line["median_auroc_ci"]
  assert 0 <= low < high <= 1
  for s in sets.values():
    assert (s["median_auroc_ci"] is None) == (s["labels_counted"] == 0)
  # docs/sim-to-real.md's table row, printed for the one who ran it.
  assert (f"| {TINY} | test | **{line['median_auroc']:.3f}** [{low:.2f}, {high:.2f}] over "
          in proc.stderr)


def test_two_models_paired_on_the_same_samples(tiny_pretrained, shared_data, tmp_path):
  """benchmarks/sim_to_real_paired.py: the tiny model (A) against the shipped one (B,
  by name), each set's records scored by both, B - A per label and over the labels."""
  out = tmp_path / "paired.jsonl"
  proc = subprocess.run(
      [sys.executable, os.path.join(REPO, "benchmarks", "sim_to_real_paired.py"),
       f"--a={tiny_pretrained}", "--b=synthetic_foundation", f"--shared={shared_data}",
       "--label=test", "--resamples=200", f"--scratch={tmp_path / 'scratch'}", f"--out={out}"],
      cwd=REPO, capture_output=True, text=True, timeout=600,
      env={**os.environ, "PYTHONPATH": REPO})
  assert proc.returncode == 0, proc.stderr[-3000:]
  [line] = [json.loads(row) for row in out.read_text().splitlines()]
  assert line["label"] == "test" and line["generator_a"] == TINY
  assert line["model_b"].endswith(os.path.join("shipped_models", "synthetic_foundation"))
  assert {name: s["records"] for name, s in line["sets"].items()} == {"ptbxl": 40,
                                                                      "cpsc2018": 40}
  assert "sinus_rhythm" not in line["sets"]["cpsc2018"]["labels"]   # not annotated there
  for s in line["sets"].values():
    for v in s["labels"].values():
      assert v["n_pos"] >= 3
      assert v["difference"] == pytest.approx(v["auroc_b"] - v["auroc_a"])
      low, high = v["difference_ci"]
      assert low <= v["difference"] <= high
  pooled = line["pooled"]
  assert pooled["labels_counted"] == sum(len(s["labels"]) for s in line["sets"].values()) > 0
  every_b = [v["auroc_b"] for s in line["sets"].values() for v in s["labels"].values()]
  assert pooled["median_b"]["value"] == pytest.approx(float(np.median(every_b)))
  low, high = pooled["difference"]["ci"]
  assert low <= pooled["difference"]["value"] <= high
  assert "pooled samples: A " in proc.stderr


def test_demo_without_real_ecgs_says_how_to_give_them(tmp_path, monkeypatch):
  """--config.real_data="": the report's last section says which flag scores the model
  on real archives, and nothing is scored."""
  from ecgjax.experiments import demo
  from ecgjax.sim_to_real import zero_shot
  monkeypatch.setattr(zero_shot, "score", lambda *a, **k: (_ for _ in ()).throw(
      AssertionError("nothing to score")))
  (tmp_path / "report.md").write_text("# Fine-tuning comparison\n")
  demo.zero_shot_on_real_ecgs("", str(tmp_path / "pretrain"), str(tmp_path))
  text = (tmp_path / "report.md").read_text()
  assert text.startswith("# Fine-tuning comparison\n")
  assert "## Zero-shot on real ECGs" in text and "--config.real_data=DIR" in text
  assert not (tmp_path / "sim_to_real.json").exists()


def test_a_set_scored_adapted_reads_only_its_signals(tiny_pretrained, shared_data, tmp_path,
                                                     monkeypatch):
  """--adapt_batch_norm: the model adapted to the set's 40 ECGs (never their labels)
  is what scores it."""
  import numpy as np
  import jax
  from ecgjax.inference import scoring
  from ecgjax.sim_to_real import sample_sets, scored_sets, zero_shot
  monkeypatch.setenv("ECGJAX_PATIENT_SALT", "sim-to-real")
  scratch = str(tmp_path / "scratch")
  dataset, _, _ = sample_sets.build("ptbxl", "vocabulary_100",
                                    [os.path.join(shared_data, "ptbxl")], scratch)
  adapted_dir = scored_sets.adapted_to(tiny_pretrained, dataset, scratch,
                                       str(tmp_path / "adapted"))
  adapted, original = scoring.load(adapted_dir), scoring.load(tiny_pretrained)
  assert adapted.card["training"]["batch_norm_adaptation"]["windows"] == 40
  assert adapted.card["labels"] == original.card["labels"]
  assert not all(np.allclose(a, b) for a, b in zip(jax.tree.leaves(adapted.batch_stats),
                                                   jax.tree.leaves(original.batch_stats)))
  real = tmp_path / "real"            # PTB-XL's samples only, to save time
  real.mkdir()
  (real / "ptbxl").symlink_to(os.path.join(shared_data, "ptbxl"))
  result = zero_shot.score(tiny_pretrained, str(real), scratch, adapt_batch_norm=True)
  assert result["sets"]["ptbxl"]["model"].endswith(os.path.join("adapted", "ptbxl"))


def test_the_demo_reads_the_samples_shipped_in_the_package_by_default():
  """`real_data=auto`: the package's own samples, present in any install, every set of
  the demo's zero-shot section among them."""
  from ecgjax import samples
  from ecgjax.experiments import demo
  from ecgjax.sim_to_real import sample_sets
  assert demo.real_data_dir("auto") == samples.root()
  assert sample_sets.present_sets(samples.root()) == ["ptbxl", "cpsc2018", "cinc2017"]
