"""`evaluate_checkpoint(config, workdir)`: results.json for a saved model, on any
built dataset whose signals fit the model's input contract.

Labels are matched to the head by name or SNOMED CT code, never by position
(ecgjax.inference.label_matching): a model pretrained on one archive is scored on
another with no training (zero-shot transfer) on the labels both have, and the
labels on either side without a partner are listed in results.json.
Operating points (calibration, thresholds) are chosen on `dataset.eval_split`;
with an empty eval_split they come from the model card, as predict uses them.
"""

import dataclasses
import os

import jax
import ml_collections
from absl import logging
from flax import nnx

from ecgjax import storage
from ecgjax.configs import common, evaluate as evaluate_config
from ecgjax.data import datasets, run_input
from ecgjax.evaluation import results as eval_results
from ecgjax.experiments import validation
from ecgjax.inference import label_matching
from ecgjax.models import head, model_card, resnet1d
from ecgjax.training import (card_entries, checkpoints, evaluating, keeping, mesh as mesh_lib,
                             model_init, parallel, transfer, workdir_files)


def _run_config(config, saved: dict, labels: str, card: dict | None = None
                ) -> ml_collections.ConfigDict:
  """The saved run's config with this evaluation's dataset, labels and batch; the
  leads the model reads (its card's, else the saved run's)."""
  run = common.pretrain_defaults()
  with run.unlocked():
    if card is not None:
      run.dataset.leads = ",".join(card["input"]["leads"])
    else:
      run.dataset.leads = saved["dataset"].get("leads", "all")
    run.labels = labels
    run.eval_batch_size = config.eval_batch_size
    run.batch_size = config.eval_batch_size
    run.dataset.name = config.dataset.name or saved["dataset"]["name"]
    run.dataset.data_dir = config.dataset.data_dir or saved["dataset"]["data_dir"]
    run.dataset.build_if_missing = False
    run.dataset.eval_aggregate = config.dataset.eval_aggregate
    # A model trained on crops reads crops: evaluated on windows as its run was.
    run.dataset.crop_s = saved["dataset"].get("crop_s", 0.0)
    run.dataset.eval_stride_s = saved["dataset"].get("eval_stride_s", 0.0)
    run.model = ml_collections.ConfigDict(
        {k: tuple(v) if isinstance(v, list) else v for k, v in saved["model"].items()})
  return run


def _legacy_head_names(saved) -> list[str]:
  """A checkpoint without a card: its head's labels as its run resolved them, on the
  dataset it was trained on (the only way to know their order)."""
  cfg = saved.config
  data_dir = os.path.expanduser(cfg["dataset"]["data_dir"])
  try:
    info = datasets.load_builder(cfg["dataset"]["name"], data_dir).info
  except datasets.DatasetNotBuiltError as e:
    raise validation.ConfigError(
        f"checkpoint {saved.directory} step {saved.step} has no model card, and the dataset "
        f"it was trained on is not there to say which output is which label: {e}") from e
  return datasets.resolve_labels(info, cfg["labels"])[0]


def _check_input(card_input: dict, data_input: dict, dataset: str) -> None:
  differ = [f"{k}: model {card_input[k]!r}, dataset {data_input[k]!r}"
            for k in ("sampling_rate", "samples", "leads", "units") if card_input[k] != data_input[k]]
  if differ:
    raise validation.ConfigError(
        f"config.dataset.name={dataset}: its signals do not fit the model's input "
        f"({'; '.join(differ)}); build it with the model's recipe {card_input['recipe']}")


def evaluate_checkpoint(config, workdir: str) -> dict:
  validation.check_fields(config, evaluate_config.get_config())
  validation.check_eval_aggregate(config)
  threshold_rule = validation.threshold_rule_of(config)
  if not config.checkpoint:
    raise validation.ConfigError("config.checkpoint is empty: give a workdir to evaluate")
  saved = checkpoints.read_pretrained(config.checkpoint, config.checkpoint_step or None)
  card = saved.card
  if card is None and not config.dataset.eval_split:
    raise validation.ConfigError(
        "config.dataset.eval_split is empty (operating points from the model card), but "
        f"checkpoint {saved.directory} step {saved.step} has no model card")
  if config.write_card and card is not None:
    raise validation.ConfigError(
        f"config.write_card: checkpoint {saved.directory} step {saved.step} has a model card")
  if config.write_model and (card is None or not config.dataset.eval_split):
    raise validation.ConfigError(
        "config.write_model refits the model card's operating points on "
        "config.dataset.eval_split: it needs a checkpoint with a card (--config.write_card "
        "first) and a non-empty eval_split")
  if card is not None and model_card.is_self_supervised(card):
    raise validation.ConfigError(
        f"checkpoint {saved.directory} is a self-supervised encoder: it has no labels to "
        "evaluate. Fine-tune it (init_from) and evaluate that, or read its embeddings "
        "(python -m ecgjax.predict --embeddings)")
  head_names = card["labels"] if card else _legacy_head_names(saved)
  heads = saved.params["head"]["kernel"].shape[1]
  if heads != len(head_names):
    raise validation.ConfigError(
        f"checkpoint {saved.directory}: a head of {heads} outputs, {len(head_names)} labels named")

  # ---- Which dataset labels to score, matched to the head by name or code.
  target = _run_config(config, saved.config, "all").dataset
  info = datasets.load_builder(target.name, os.path.expanduser(target.data_dir)).info
  chosen = datasets.resolve_labels(info, config.labels or "all")[0]
  matching = label_matching.match(head_names, card["snomed"] if card else {}, chosen)
  if not matching.dataset_labels:
    raise validation.ConfigError(
        f"none of the dataset's labels ({', '.join(chosen)}) matches a model label by name or "
        f"SNOMED code; the model predicts {', '.join(head_names)}")
  if matching.unmatched_dataset:
    logging.warning("dataset labels the model does not predict (not scored): %s",
                    ", ".join(matching.unmatched_dataset))
  run = _run_config(config, saved.config, ",".join(matching.dataset_labels), card)
  run_spec = validation.run_spec_of(run)
  source = run_input.make_input(run, run_spec)
  data_input = source.describe()["input"]
  if card:
    _check_input(card["input"], data_input, run.dataset.name)
  if config.write_card and (matching.unmatched_model or set(matching.by) != {"name"}):
    raise validation.ConfigError(
        f"config.write_card: the dataset does not name every model label "
        f"({', '.join(matching.unmatched_model) or 'some match only by SNOMED code'}); write "
        "the card on the dataset the model was trained on")

  # ---- The saved model, head included, through the same shape checks.
  card_groups = (card or {}).get("exclusive_groups") or []
  model = model_init.build_model(run_spec.model, heads, source.signal_shape[-1], run.seed,
                                 head.group_indices(head_names, card_groups),
                                 weights="abstract")
  graphdef, params, batch_stats = nnx.split(model, nnx.Param, nnx.BatchStat)
  source_name = f"checkpoint {saved.directory} step {saved.step}"
  params, _, _, _ = transfer.transfer(nnx.to_pure_dict(params), saved.params, reinit="^$",
                                      source=source_name)
  batch_stats, _, _, _ = transfer.transfer(nnx.to_pure_dict(batch_stats), saved.batch_stats,
                                           reinit="^$", source=source_name)
  # ---- Scored as the training loop scores its evaluations (training.evaluating).
  par = parallel.make("jit", mesh_lib.make_data_mesh())
  state = keeping.place(par, params, batch_stats, saved.step)
  evaluate = evaluating.Evaluator(source, par, graphdef, aggregate=run.dataset.eval_aggregate,
                                  groups=model.exclusive_groups,
                                  names=matching.dataset_labels, columns=matching.head_indices)

  def scored(split):
    out = evaluate(split, state, saved.step)
    return (*out.pooled, out.top)

  # ---- Operating points: the eval split's, or the card's for the matched labels.
  names = matching.dataset_labels
  # The card's exclusive groups by dataset name, each cut to the classes evaluated: a
  # class is called only where it is its whole group's most probable (Scored.top), as
  # predict calls it, even when the others are not evaluated.
  by_head_name = dict(zip((head_names[h] for h in matching.head_indices), names))
  cut = [[by_head_name[n] for n in g if n in by_head_name] for g in card_groups]
  groups = [g for g in cut if g]
  whole = [g for g, full in zip(cut, card_groups) if len(g) == len(full)]
  if config.dataset.eval_split:
    val_s, val_y, _, val_top = scored(config.dataset.eval_split)
    points = eval_results.operating_points(names, val_y, val_s, threshold_rule,
                                           exclusive_groups=groups, top=val_top)
    points_from = {"split": config.dataset.eval_split, "step": saved.step,
                   "examples": len(val_y), "dataset": run.dataset.name}
    for name, why in points["thresholds_fallback"].items():
      logging.warning("threshold of %s: %s", name, why)
  else:
    points = _card_points(card, names, matching.head_indices)
    points_from = {"model_card": card.get("operating_points")}
  test_s, test_y, test_p, test_top = scored(config.dataset.test_split)
  results = eval_results.evaluate_predictions(
      names, test_y, test_s, test_p, points, resamples=config.bootstrap_resamples,
      seed=config.seed, exclusive_groups=groups, top=test_top)
  # A group's F1s and confusion matrix need all its classes' labels.
  if "exclusive_groups" in results:
    results["exclusive_groups"] = [e for e in results["exclusive_groups"]
                                   if e["classes"] in whole]
  results.update(checkpoint=saved.directory, checkpoint_step=saved.step,
                 dataset=run.dataset.name, split=config.dataset.test_split,
                 operating_points_from=points_from, **matching.describe(head_names))
  if jax.process_index() == 0:
    workdir_files.write_config(config, workdir)
    storage.write_json(storage.join(workdir, "results.json"), results)
    if config.write_card:
      _write_legacy_card(saved, source, model, head_names, points, points_from, results,
                         config.dataset.test_split)
    if config.write_model:
      head_of = {name: head_name for head_name, name in by_head_name.items()}
      refitted = model_card.refit(card, points, head_of, points_from,
                                  card_entries.card_metrics(results, config.dataset.test_split,
                                                    saved.step))
      written = checkpoints.write_model_directory(
          dataclasses.replace(saved, card=refitted), config.write_model)
      model_card.write(written, refitted)
      logging.info("wrote %s: the model with operating points refitted on %s %s", written,
                   run.dataset.name, config.dataset.eval_split)
  logging.info("test median AUROC %s over %d/%d labels",
               evaluating.fmt(results["medians"]["auroc"]["value"]),
               results["medians"]["auroc"]["labels_covered"], len(names))
  return results


def _card_points(card: dict, names, head_indices) -> dict:
  """The card's calibration and thresholds, keyed by the dataset's label names."""
  head = [card["labels"][i] for i in head_indices]
  return {"threshold_rule": card["threshold_rule"],
          "thresholds": {n: card["thresholds"][h] for n, h in zip(names, head)},
          "thresholds_undefined": {n: card.get("thresholds_undefined", {}).get(h, "")
                                   for n, h in zip(names, head) if card["thresholds"][h] is None},
          "thresholds_fallback": {n: card["thresholds_fallback"][h] for n, h in zip(names, head)
                                  if h in card.get("thresholds_fallback", {})},
          "calibration": {"method": card["calibration"]["method"],
                          "labels": {n: card["calibration"]["labels"][h]
                                     for n, h in zip(names, head)}}}


def _write_legacy_card(saved, source, model, head_names, points, points_from, results,
                       test_split) -> None:
  """A card for a checkpoint written before cards existed, in its step directory
  (where checkpoints.read_pretrained looks when the checkpoint holds none)."""
  model_config = resnet1d.config_from(saved.config["model"])
  card = model_card.build(
      task=saved.config.get("experiment", "pretrain"), label_names=head_names,
      data=source.describe(),
      model=card_entries.describe_model(model_config, model, source.signal_shape[-1]),
      steps=saved.step, operating_points=points, points_from=points_from,
      metrics=card_entries.card_metrics(results, test_split, saved.step))
  directory = os.path.join(saved.directory, str(saved.step))
  model_card.write(directory, card)
  logging.info("wrote %s", os.path.join(directory, model_card.CARD_FILE))
