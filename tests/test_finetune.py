"""Fine-tuning three ways from a real pretraining checkpoint, and its refusals."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ecgjax.experiments import checkpoint_evaluation, fine_tuning, validation
from ecgjax.training import checkpoints, transfer
from tests.helpers import REPO, tiny_finetune_config, xla_flags

pytestmark = pytest.mark.slow     # trains a model or runs a command end to end


@pytest.mark.parametrize("mode", ["linear_probe", "full", "scratch", "random_probe"])
def test_each_mode_writes_results_with_intervals(mode, tiny_finetuned):
  workdir, results = tiny_finetuned(mode=mode)
  on_disk = json.load(open(os.path.join(workdir, "results.json")))
  assert on_disk["mode"] == mode and on_disk["train_examples"] == 120
  assert set(on_disk["labels"]) == {"sinus_rhythm", "sinus_bradycardia", "atrial_fibrillation"}
  rhythm = on_disk["labels"]["sinus_rhythm"]
  assert rhythm["n_pos"] + rhythm["n_neg"] == on_disk["test_examples"]
  # The reported interval is the union of the bootstrap's and Newcombe's, and never a
  # point (results.AUROC_INTERVAL_METHOD).
  auroc = rhythm["auroc"]
  assert auroc["ci_low"] == min(auroc["bootstrap_ci_low"], auroc["newcombe_ci_low"])
  assert auroc["ci_high"] == max(auroc["bootstrap_ci_high"], auroc["newcombe_ci_high"])
  assert auroc["ci_high"] > auroc["ci_low"]
  assert on_disk["medians"]["auroc"]["labels_total"] == 3
  assert results["medians"] == on_disk["medians"]
  predictions = np.load(os.path.join(workdir, "predictions.npz"))
  assert predictions["test_log_odds"].shape == predictions["test_labels"].shape
  report = json.load(open(os.path.join(workdir, "transfer.json")))
  if mode in ("scratch", "random_probe"):
    assert "loaded" not in report
  else:
    assert report["reinitialised"] == ["head/bias", "head/kernel",]
    assert len(report["loaded"]) > 10
    # All three labels are pretraining labels: their head columns come along.
    assert report["head_from_checkpoint"] == ["sinus_rhythm", "sinus_bradycardia",
                                              "atrial_fibrillation"]


def test_head_columns_of_known_labels_are_carried_and_the_start_can_be_kept(
    tiny_pretrained, tiny_data_dir, tmp_path):
  """A probe that barely moves (learning rate 1e-9) keeps its starting head (step 0):
  for labels the checkpoint knows that is exactly the checkpoint's columns, which
  head_from_checkpoint=False throws away."""
  before = checkpoints.read_pretrained(tiny_pretrained)
  order = [before.card["labels"].index(n) for n in
           ("sinus_rhythm", "sinus_bradycardia", "atrial_fibrillation")]
  old = {k: np.asarray(v) for k, v in transfer.flatten(before.params).items()}
  for carry in (True, False):
    workdir = str(tmp_path / f"carry_{carry}")
    results = fine_tuning.train_and_evaluate(tiny_finetune_config(
        tiny_data_dir, tiny_pretrained, mode="linear_probe", probe_learning_rate=1e-9,
        head_from_checkpoint=carry), workdir)
    new = transfer.flatten(checkpoints.read_pretrained(workdir).params)
    same = np.array_equal(new["head/kernel"], old["head/kernel"][:, order]) and np.array_equal(
        new["head/bias"], old["head/bias"][order])
    assert same == carry
    assert (results["best_step"] == 0) == carry


def test_standardized_features_train_a_head_that_reads_raw_features():
  """probe_features=standardized: the probe trains on features centred and scaled on
  the training split, and the head it keeps scores raw features exactly as the
  trained head scored the standardized ones (the checkpoint, LP-FT and predict feed
  it raw features)."""
  from ecgjax.training import linear_probe
  rng = np.random.default_rng(0)
  raw = rng.normal(size=(50, 6)) * np.array([1e-3, 1.0, 50.0, 1.0, 7.0, 0.0]) + 3.0
  standardization = linear_probe.Standardization.fit(raw)
  z = standardization(raw)
  np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-4)
  np.testing.assert_allclose(z.std(axis=0), [1, 1, 1, 1, 1, 0], atol=1e-4)  # constant: 0
  head = {"kernel": rng.normal(size=(6, 3)).astype(np.float32),
          "bias": rng.normal(size=3).astype(np.float32)}
  on_raw = standardization.head_to_raw(head)
  np.testing.assert_allclose(raw @ on_raw["kernel"] + on_raw["bias"],
                             z @ head["kernel"] + head["bias"], rtol=1e-4, atol=1e-3)
  back = standardization.head_from_raw(on_raw)
  for k in head:
    np.testing.assert_allclose(back[k], head[k], rtol=1e-4, atol=1e-4)


def test_a_standardized_probe_keeps_its_carried_start_as_raw_columns(
    tiny_pretrained, tiny_data_dir, tmp_path):
  """A probe that barely moves keeps its starting head: with standardized features
  that start is the checkpoint's columns moved into standardized space and back, so
  the kept head is the checkpoint's columns again, not their standardized form."""
  before = checkpoints.read_pretrained(tiny_pretrained)
  order = [before.card["labels"].index(n) for n in
           ("sinus_rhythm", "sinus_bradycardia", "atrial_fibrillation")]
  workdir = str(tmp_path / "standardized")
  results = fine_tuning.train_and_evaluate(tiny_finetune_config(
      tiny_data_dir, tiny_pretrained, mode="linear_probe", probe_learning_rate=1e-9,
      probe_features="standardized"), workdir)
  assert results["best_step"] == 0
  kept = transfer.flatten(checkpoints.read_pretrained(workdir).params)
  start = transfer.flatten(before.params)
  np.testing.assert_allclose(kept["head/kernel"], np.asarray(start["head/kernel"])[:, order],
                             rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(kept["head/bias"], np.asarray(start["head/bias"])[order],
                             rtol=1e-4, atol=1e-4)


def test_carry_head_copies_columns_by_name():
  head = {"kernel": np.zeros((4, 3), np.float32), "bias": np.zeros(3, np.float32)}
  old = {"kernel": np.arange(8, dtype=np.float32).reshape(4, 2), "bias": np.array([5., 6.])}
  new, carried = transfer.carry_head(head, old, ["c", "b", "a"], ["a", "b"])
  assert carried == ["b", "a"]
  np.testing.assert_array_equal(new["kernel"], [[0, 1, 0], [0, 3, 2], [0, 5, 4], [0, 7, 6]])
  np.testing.assert_array_equal(new["bias"], [0, 6, 5])
  assert transfer.carry_head(head, old, ["x"], ["a", "b"]) == (head, [])
  with pytest.raises(transfer.ArchitectureMismatchError, match="head/kernel"):
    transfer.carry_head(head, old, ["a"], ["a", "b", "c"])


def test_linear_probe_leaves_the_backbone_bit_identical(tiny_pretrained, tiny_finetuned):
  workdir, _ = tiny_finetuned(mode="linear_probe")
  before = checkpoints.read_pretrained(tiny_pretrained)
  after = checkpoints.read_pretrained(workdir)
  old, new = transfer.flatten(before.params), transfer.flatten(after.params)
  for path in new:
    if path.startswith("backbone/"):
      np.testing.assert_array_equal(new[path], old[path])
  old_stats, new_stats = transfer.flatten(before.batch_stats), transfer.flatten(after.batch_stats)
  for path in new_stats:
    np.testing.assert_array_equal(new_stats[path], old_stats[path])
  assert new["head/kernel"].shape == (16, 3)


def test_random_probe_trains_a_head_on_the_random_frozen_backbone(tiny_pretrained,
                                                                   tiny_finetuned):
  """The control: the backbone is the architecture's random initialisation (the seed's),
  never the checkpoint's, and it stays frozen while the head trains."""
  from ecgjax.models import resnet1d
  from ecgjax.training import model_init
  from flax import nnx
  workdir, results = tiny_finetuned(mode="random_probe")
  assert results["mode"] == "random_probe"
  # probe_features=auto: the random features standardized, a pretrained encoder's raw.
  assert results["probe_features"] == "standardized"
  assert tiny_finetuned(mode="linear_probe")[1]["probe_features"] == "raw"
  after = transfer.flatten(checkpoints.read_pretrained(workdir).params)
  pretrained = transfer.flatten(checkpoints.read_pretrained(tiny_pretrained).params)
  saved = checkpoints.read_pretrained(workdir)
  fresh = model_init.build_model(resnet1d.config_from(saved.config["model"]), 3, 12,
                                 seed=saved.config["seed"])
  initial = transfer.flatten(nnx.to_pure_dict(nnx.split(fresh, nnx.Param, nnx.BatchStat)[1]))
  for path in after:
    if path.startswith("backbone/"):
      np.testing.assert_array_equal(after[path], initial[path])
  assert not np.array_equal(after["backbone/stem/kernel"], pretrained["backbone/stem/kernel"])


# (head_from_checkpoint=False in the two tests below: with the checkpoint's head, the
# starting model may be the one kept, and these are about what training changes.)
def test_full_fine_tune_changes_the_backbone(tiny_pretrained, tiny_finetuned):
  workdir, _ = tiny_finetuned(mode="full", head_from_checkpoint=False)
  old = transfer.flatten(checkpoints.read_pretrained(tiny_pretrained).params)
  new = transfer.flatten(checkpoints.read_pretrained(workdir).params)
  assert not np.array_equal(new["backbone/stem/kernel"], old["backbone/stem/kernel"])


@pytest.mark.parametrize("freeze", [True, False])
def test_full_fine_tune_batch_norm_statistics_follow_freeze_batch_norm(
    freeze, tiny_pretrained, tiny_finetuned):
  # freeze_batch_norm=True is the default: the run above is read again.
  overrides = {} if freeze else {"freeze_batch_norm": False}
  workdir, _ = tiny_finetuned(mode="full", head_from_checkpoint=False, **overrides)
  old = transfer.flatten(checkpoints.read_pretrained(tiny_pretrained).batch_stats)
  new = transfer.flatten(checkpoints.read_pretrained(workdir).batch_stats)
  unchanged = all(np.array_equal(new[p], old[p]) for p in new)
  assert unchanged == freeze


def test_full_fine_tune_starts_from_the_linear_probe_head(tiny_finetuned):
  """LP-FT (the default) trains the probe first and records the probe's step in
  results.json; a random head does not."""
  workdir, lpft = tiny_finetuned(mode="full")
  config = json.load(open(os.path.join(workdir, "config.json")))
  # The probe's kept step is one it evaluated: 0 (the carried head) or an evaluation step.
  assert lpft["head_init"]["from"] == "linear_probe"
  assert lpft["head_init"]["probe_step"] in range(0, config["total_steps"] + 1,
                                                  config["eval_every"])
  _, random_head = tiny_finetuned(mode="full", full_head_init="random")
  assert random_head["head_init"] == {"from": "random"}


def test_bad_finetune_configs_are_refused(tiny_data_dir, tiny_pretrained):
  with pytest.raises(validation.ConfigError, match="config.init_from is empty"):
    validation.validate_finetune(tiny_finetune_config(tiny_data_dir, "", mode="full"))
  with pytest.raises(validation.ConfigError, match="config.mode='probe'"):
    validation.validate_finetune(tiny_finetune_config(tiny_data_dir, tiny_pretrained,
                                                             mode="probe"))
  with pytest.raises(validation.ConfigError, match="config.full_head_init='probe'"):
    validation.validate_finetune(tiny_finetune_config(tiny_data_dir, tiny_pretrained,
                                                             full_head_init="probe"))
  with pytest.raises(validation.ConfigError, match="config.decay_to_start must be"):
    validation.validate_finetune(tiny_finetune_config(tiny_data_dir, tiny_pretrained,
                                                             decay_to_start=-1.0))
  with pytest.raises(validation.ConfigError, match="bootstrap_resamples"):
    validation.validate_finetune(tiny_finetune_config(tiny_data_dir, tiny_pretrained,
                                                             bootstrap_resamples=100))


def test_command_line_names_a_missing_init_from(tiny_data_dir, tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "ecgjax.finetune", "--config=ecgjax/configs/finetune.py",
       f"--workdir={tmp_path / 'wd'}", f"--config.init_from={tmp_path / 'nothing'}",
       "--config.dataset.name=synthetic_ecg/tiny", f"--config.dataset.data_dir={tiny_data_dir}",
       "--config.labels=sinus_rhythm", "--config.train_size=50"],
      cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "XLA_FLAGS": xla_flags()})
  assert result.returncode == 1
  assert f"init_from={tmp_path / 'nothing'}: no such directory" in result.stderr
  assert "Traceback" not in result.stderr


def test_evaluate_config_reproduces_the_runs_results(tiny_finetuned, tmp_path):
  """Evaluating a fine-tuned checkpoint gives back the AUROCs its run reported."""
  from ecgjax.configs import evaluate as evaluate_config
  run_dir, run = tiny_finetuned(mode="full")
  config = evaluate_config.get_config()
  config.checkpoint = run_dir
  config.eval_batch_size = 64
  again = checkpoint_evaluation.evaluate_checkpoint(config, str(tmp_path / "eval"))
  assert os.path.exists(tmp_path / "eval" / "results.json")
  compared = 0
  for label, entry in run["labels"].items():
    assert again["labels"][label]["undefined"] == entry["undefined"]
    if entry["auroc"] is not None:
      assert again["labels"][label]["auroc"] == pytest.approx(entry["auroc"], rel=1e-5)
      assert again["labels"][label]["threshold"] == pytest.approx(entry["threshold"], rel=1e-5)
      compared += 1
  assert compared >= 2
  # The head's labels in another order, or a subset, are matched by name.
  config.labels = "atrial_fibrillation,sinus_bradycardia,sinus_rhythm"
  reordered = checkpoint_evaluation.evaluate_checkpoint(config, str(tmp_path / "eval2"))
  for label, entry in run["labels"].items():
    if entry["auroc"] is not None:
      assert reordered["labels"][label]["auroc"] == pytest.approx(entry["auroc"], rel=1e-5)
  assert reordered["unmatched_model_labels"] == []
  config.labels = "sinus_rhythm,junctional_rhythm"
  subset = checkpoint_evaluation.evaluate_checkpoint(config, str(tmp_path / "eval3"))
  assert list(subset["labels"]) == ["sinus_rhythm"]
  assert subset["unmatched_dataset_labels"] == ["junctional_rhythm"]
  assert subset["unmatched_model_labels"] == ["sinus_bradycardia", "atrial_fibrillation"]
  config.labels = "junctional_rhythm"
  with pytest.raises(validation.ConfigError, match="matches a model label"):
    checkpoint_evaluation.evaluate_checkpoint(config, str(tmp_path / "eval4"))


def test_a_validation_split_that_scores_no_label_keeps_the_last_model():
  """A small archive's fold can hold no positive of any label in validation: every
  evaluation is -inf, and the kept model must still be a trained one, the last."""
  import numpy as np

  from ecgjax.evaluation import metrics
  from ecgjax.training import selection
  names = ["atrial_fibrillation", "sinus_rhythm"]
  labels = np.array([[0.0, 1.0], [0.0, 1.0], [0.0, np.nan]])
  scores = np.random.default_rng(0).uniform(size=(3, 2))
  assert selection.score(metrics.per_label_auroc(labels, scores, names)["auroc_mean"],
                         names) == -np.inf
  best, kept = -np.inf, []
  for step, score in ((50, -np.inf), (100, -np.inf), (150, -np.inf)):
    if selection.keeps(score, best):
      best, kept = score, kept + [step]
  assert kept[-1] == 150
  assert selection.keeps(0.7, -np.inf) and not selection.keeps(0.6, 0.7)
  assert not selection.keeps(-np.inf, 0.7)


def _kernel_drift(start_params, workdir, prefix):
  """Largest |w - w_start| over the kernels under `prefix` of the model kept in workdir."""
  old = transfer.flatten(start_params)
  new = transfer.flatten(checkpoints.read_pretrained(workdir).params)
  drift = 0.0
  for path, value in new.items():
    if path.startswith(prefix) and path.endswith("kernel"):
      drift = max(drift, float(np.max(np.abs(np.asarray(value) - old[path]))))
  return drift


@pytest.mark.parametrize("mode", ["linear_probe", "full"])
def test_decay_to_start_keeps_the_fine_tune_near_its_start(mode, tiny_pretrained, tiny_data_dir,
                                                           tmp_path, monkeypatch):
  """L2-SP: with decay_to_start the kept model's kernels stay within about 1/strength of
  where fine-tuning started (the probe: the carried head columns; full: the backbone),
  and without it they move further. Selection is made to keep the last step, so the
  drift measured is training's."""
  from ecgjax.training import selection
  monkeypatch.setattr(selection, "keeps", lambda score, best: True)
  before = checkpoints.read_pretrained(tiny_pretrained)
  labels = ("sinus_rhythm", "sinus_bradycardia", "atrial_fibrillation")
  if mode == "linear_probe":
    # The head columns the checkpoint gives these labels, in head order.
    start = {"head": {"kernel": np.asarray(before.params["head"]["kernel"])[
        :, [before.card["labels"].index(n) for n in labels]]}}
    overrides = dict(mode=mode, probe_learning_rate=1e-2, total_steps=60, eval_every=30)
    prefix, strength = "head/", 50.0
  else:
    start = before.params
    overrides = dict(mode=mode, head_from_checkpoint=False, full_head_init="random",
                     lr_multipliers="", total_steps=30, eval_every=15)
    prefix, strength = "backbone/", 2000.0
  drift = {}
  for pull in (0.0, strength):
    workdir = str(tmp_path / f"pull_{pull}")
    fine_tuning.train_and_evaluate(tiny_finetune_config(
        tiny_data_dir, tiny_pretrained, decay_to_start=pull, **overrides), workdir)
    drift[pull] = _kernel_drift(start, workdir, prefix)
  assert drift[strength] < 0.5 * drift[0.0]
  assert drift[strength] <= 2 / strength
