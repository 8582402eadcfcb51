"""`evaluate_checkpoint(config, workdir)`: results.json for a saved model."""

import json
import os

import jax
import jax.numpy as jnp
import ml_collections
from absl import logging
from flax import nnx

from ecgjax import config_validation
from ecgjax.configs import common, evaluate as evaluate_config
from ecgjax.evaluation import results as eval_results
from ecgjax.pretrain import make_input
from ecgjax.training import (checkpoints, finetune, loop, mesh as mesh_lib, predict, steps,
                             transfer)


def _run_config(config, saved: dict) -> ml_collections.ConfigDict:
  """The saved run's config with this evaluation's dataset, labels and batch."""
  run = common.pretrain_defaults()
  with run.unlocked():
    run.labels = config.labels or saved["labels"]
    run.eval_batch_size = config.eval_batch_size
    run.batch_size = config.eval_batch_size
    run.dataset.name = config.dataset.name or saved["dataset"]["name"]
    run.dataset.data_dir = config.dataset.data_dir or saved["dataset"]["data_dir"]
    run.dataset.build_if_missing = False
    run.model = ml_collections.ConfigDict(
        {k: tuple(v) if isinstance(v, list) else v for k, v in saved["model"].items()})
  return run


def evaluate_checkpoint(config, workdir: str) -> dict:
  config_validation.check_fields(config, evaluate_config.get_config())
  if not config.checkpoint:
    raise config_validation.ConfigError("config.checkpoint is empty: give a workdir to evaluate")
  saved = checkpoints.read_pretrained(config.checkpoint, config.checkpoint_step or None)
  run = _run_config(config, saved.config)
  source = make_input(run)
  heads = saved.params["head"]["kernel"].shape[1]
  if heads != len(source.label_names):
    raise config_validation.ConfigError(
        f"config.labels: the checkpoint predicts {heads} labels, the selection has "
        f"{len(source.label_names)} ({', '.join(source.label_names)})")

  # ---- The saved model, head included, through the same shape checks.
  model = loop.build_model(run, heads, source.signal_shape[-1])
  graphdef, params, batch_stats = nnx.split(model, nnx.Param, nnx.BatchStat)
  source_name = f"checkpoint {saved.directory} step {saved.step}"
  params, _, _, _ = transfer.transfer(nnx.to_pure_dict(params), saved.params, reinit="^$",
                                      source=source_name)
  batch_stats, _, _, _ = transfer.transfer(nnx.to_pure_dict(batch_stats), saved.batch_stats,
                                           reinit="^$", source=source_name)
  mesh = mesh_lib.make_data_mesh()
  state_sharding, batch_sharding = mesh_lib.replicated(mesh), mesh_lib.batch_sharded(mesh)
  state = jax.device_put(steps.TrainState(step=jnp.asarray(saved.step, jnp.int32),
                                          params=params, batch_stats=batch_stats, opt_state=()),
                         state_sharding)
  eval_step = steps.make_eval_step(graphdef, state_sharding, batch_sharding)

  def score(local):
    return eval_step(state, mesh_lib.global_batch(local, batch_sharding))

  val_s, val_y, _ = predict.collect_predictions(source, config.dataset.eval_split, score)
  test_s, test_y, test_p = predict.collect_predictions(source, config.dataset.test_split, score)
  results = eval_results.evaluate_predictions(
      source.label_names, val_y, val_s, test_y, test_s, test_p,
      threshold_rule=config.threshold_rule, resamples=config.bootstrap_resamples,
      seed=config.seed)
  results.update(checkpoint=saved.directory, checkpoint_step=saved.step,
                 dataset=run.dataset.name, split=config.dataset.test_split)
  if jax.process_index() == 0:
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "config.json"), "w") as f:
      json.dump(json.loads(config.to_json_best_effort()), f, indent=2)
    finetune.write_json_atomically(os.path.join(workdir, "results.json"), results)
  logging.info("test median AUROC %s over %d/%d labels", results["medians"]["auroc"]["value"],
               results["medians"]["auroc"]["labels_covered"], len(source.label_names))
  return results
