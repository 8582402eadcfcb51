"""A model directory (export --model_directory): the weights, statistics and card
without optimiser state, read wherever a workdir is, and by name once shipped."""

import ast
import json
import os

import jax
import numpy as np
import pytest

from ecgjax.inference import scoring, serving_export
from ecgjax.models import shipped as shipped_models
from ecgjax.training import checkpoints


def size_of(directory: str) -> int:
  return sum(os.path.getsize(os.path.join(root, f))
             for root, _, files in os.walk(directory) for f in files)


def saved_trees(step_directory: str) -> set[str]:
  """The top-level entries of a checkpoint's saved state, from Orbax's metadata."""
  with open(os.path.join(step_directory, "state", "_METADATA")) as f:
    keys = json.load(f)["tree_metadata"]
  return {ast.literal_eval(key)[0] for key in keys}


@pytest.fixture(scope="module")
def model_directory(tiny_pretrained, tmp_path_factory):
  out = str(tmp_path_factory.mktemp("model") / "tiny")
  return serving_export.write_model_directory(tiny_pretrained, out)


def test_a_relative_model_path_is_read(model_directory, monkeypatch):
  """`predict --model=runs/wd` from the directory above it: Orbax reads only absolute
  paths, and a relative one raised from inside it."""
  monkeypatch.chdir(os.path.dirname(model_directory))
  model = scoring.load(os.path.basename(model_directory))
  assert model.directory == os.path.join(model_directory, "checkpoints")


def test_a_model_directory_scores_as_its_workdir_without_the_optimiser_state(
    tiny_pretrained, model_directory):
  workdir, slim = scoring.load(tiny_pretrained), scoring.load(model_directory)
  assert slim.step == workdir.step and slim.card == workdir.card
  for a, b in zip(jax.tree.leaves((workdir.params, workdir.batch_stats)),
                  jax.tree.leaves((slim.params, slim.batch_stats)), strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  probe = serving_export.probe_signals(workdir.card)
  np.testing.assert_array_equal(scoring.Scorer(workdir)(probe), scoring.Scorer(slim)(probe))
  # The saved state: weights and statistics, no optimiser state (the Adam moments).
  latest = os.path.join(tiny_pretrained, "checkpoints", str(workdir.step))
  slim_state = os.path.join(model_directory, "checkpoints", str(workdir.step))
  assert saved_trees(latest) == {"step", "params", "batch_stats", "opt_state"}
  assert saved_trees(slim_state) == {"params", "batch_stats"}
  assert size_of(model_directory) < size_of(latest)
  assert os.path.exists(os.path.join(model_directory, "model_card.md"))
  with pytest.raises(checkpoints.InitFromError, match="already holds checkpoints"):
    serving_export.write_model_directory(tiny_pretrained, model_directory)


def test_a_shipped_model_is_found_by_name_and_a_wrong_name_lists_them(
    model_directory, tmp_path, monkeypatch):
  shipped = tmp_path / "shipped_models"
  shipped.mkdir()
  os.symlink(model_directory, shipped / "tiny-synthetic")
  monkeypatch.setattr(shipped_models, "SHIPPED_MODELS",
                      type(shipped_models.SHIPPED_MODELS)(shipped))
  monkeypatch.chdir(tmp_path)          # where no folder of that name exists
  assert shipped_models.names() == ["tiny-synthetic"]
  assert scoring.load("tiny-synthetic").card == scoring.load(model_directory).card
  assert checkpoints.read_pretrained("tiny-synthetic").step == scoring.load(model_directory).step
  with pytest.raises(checkpoints.InitFromError,
                     match=r"init_from=tiny-synthtic: no such directory, nor a model shipped "
                           r"with ecgjax \(tiny-synthetic\) \(did you mean "
                           r"init_from=tiny-synthetic\?\)$"):
    checkpoints.read_pretrained("tiny-synthtic")
  # Nothing close: no guess.
  assert "did you mean" not in shipped_models.not_found("my-own-model")
  # A folder of the user's with that name wins over the shipped model.
  (tmp_path / "tiny-synthetic").mkdir()
  with pytest.raises(checkpoints.InitFromError, match="no checkpoint in"):
    checkpoints.read_pretrained("tiny-synthetic")


def test_the_package_ships_its_models_folder():
  """Whatever ships is found where checkpoints looks (the folder is package data)."""
  assert shipped_models.SHIPPED_MODELS.is_dir()
  assert os.path.exists(os.path.join(shipped_models.SHIPPED_MODELS, "README.md"))


def test_evaluate_refits_the_operating_points_into_a_new_model_directory(
    tiny_pretrained, tmp_path):
  """The documented refit: the card's thresholds chosen again on the dataset's
  validation split, by another rule; the model's weights untouched."""
  from ecgjax.configs import evaluate as evaluate_config
  from ecgjax.experiments import checkpoint_evaluation
  config = evaluate_config.get_config()
  config.checkpoint = tiny_pretrained
  config.threshold_rule = "specificity:0.95"
  config.write_model = str(tmp_path / "refit")
  results = checkpoint_evaluation.evaluate_checkpoint(config, str(tmp_path / "eval"))
  before, after = scoring.load(tiny_pretrained).card, scoring.load(config.write_model).card
  assert after["refit"]["threshold_rule"] == "specificity:0.95"
  assert after["refit"]["on"]["split"] == "validation"
  assert sorted(after["refit"]["labels"]) == sorted(before["labels"])
  assert after["thresholds"] != before["thresholds"]
  assert after["metrics"]["step"] == results["checkpoint_step"]
  from ecgjax.experiments import validation
  with pytest.raises(validation.ConfigError, match="needs a checkpoint with a card"):
    config.dataset.eval_split = ""
    checkpoint_evaluation.evaluate_checkpoint(config, str(tmp_path / "eval2"))
