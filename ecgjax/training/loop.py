"""THE training loop: pretraining and every fine-tuning mode.

Read top to bottom, in sections: mesh, model and optimiser, checkpoints, steps,
evaluation, model card, loop, and the one conclusion every run ends with
(operating points on validation, test with CIs, results.json, predictions.npz,
the card, the save). What differs between runs comes in as a `model_init.Start`:
where the network starts, which model is kept (pretraining: the last step;
fine-tuning: the best validation mean AUROC) and, for the linear probe, a
head-only update rule on cached features. The input comes in as an
`InputSource` (ecgjax.data provides the tf.data one), so this module, like the
rest of training/, runs on a host without TensorFlow.

Every run resumes: pretraining from `checkpoints/`; a fine-tune, whose
`checkpoints/` holds only the model it keeps, from `resume/` (its latest train
state and the model kept so far), removed once the run concludes.
"""

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Iterator
from typing import Protocol

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from flax import nnx

from ecgjax.evaluation import metrics as eval_metrics, results as eval_results
from ecgjax.models import model_card, resnet1d
from ecgjax.training import (checkpoints, eval_outputs, interrupt, linear_probe,
                             mesh as mesh_lib, model_init, nonfinite, optimizers, parallel,
                             progress as progress_lib, run_spec, selection, steps,
                             workdir_files)
from ecgjax.training.metric_writer import MetricWriter

RESUME_DIR = "resume"     # a fine-tune's train state and kept model while it runs


class InputSource(Protocol):
  label_names: list[str]
  signal_shape: tuple[int, int]

  def train_batches(self, start_step: int) -> Iterator[dict]: ...

  def eval_batches(self, split: str, training_set: bool = False) -> Iterator[dict]:
    """Local batches of `signal`, `labels`, `label_mask` (0: not annotated), hashed
    `patient` and `recording` (a recording's windows share it), and `mask` (False
    on padding)."""

  def describe(self) -> dict:
    """{'dataset': {name, version, splits, ...}, 'input': model_card.input_contract(...)}"""


def describe_model(model_config: resnet1d.ResNet1DConfig, model: resnet1d.ResNet1D,
                   in_leads: int) -> dict:
  """The card's `model` entry: enough to rebuild the network without the config."""
  return {"architecture": "ResNet1D",
          "config": {k: list(v) if isinstance(v, tuple) else v
                     for k, v in dataclasses.asdict(model_config).items()},
          "parameters": resnet1d.parameter_count(model), "in_leads": in_leads}


def exclusive_names(model: resnet1d.ResNet1D, names) -> list[list[str]]:
  """The model's exclusive groups by label name (models.head)."""
  return [[names[k] for k in group] for group in model.exclusive_groups]


def card_metrics(results: dict, split: str, step: int) -> dict:
  """The card's `metrics`: results.json's discrimination and operating-point figures."""
  keep = ("n_pos", "n_neg", "auroc", "auprc", "sensitivity", "specificity", "undefined")
  return {"split": split, "step": step, "examples": results["test_examples"],
          "medians": {k: results["medians"][k] for k in ("auroc", "sensitivity", "specificity")},
          "macro_auroc": results.get("macro_auroc"),
          "labels": {name: {k: v for k, v in entry.items() if k in keep}
                     for name, entry in results["labels"].items()}}


def fmt(value) -> str:
  return "n/a" if value is None else f"{value:.3f}"


def run(config, spec: run_spec.RunSpec, workdir: str, source: InputSource,
        start: model_init.Start) -> dict:
  """Trains (or resumes) in `workdir`; returns results.json's contents ({} when there
  is no test split, or when a pretraining workdir already holds its last step).

  Raises interrupt.Interrupted after saving when SIGTERM or SIGINT arrives while it
  trains (compilation included: it then stops after the first step); one during the
  conclusion lets the results be written first.
  """
  with interrupt.StopRequest() as stop, stop.during("training"):
    return _run(config, spec, workdir, source, start, stop)


@dataclasses.dataclass
class _Kept:
  """The model a fine-tune keeps so far, on the host."""
  step: int
  score: float
  params: dict
  batch_stats: dict


def _run(config, spec: run_spec.RunSpec, workdir: str, source: InputSource,
         start: model_init.Start, stop: interrupt.StopRequest) -> dict:
  names = source.label_names
  keep_best = start.keep == "best"

  # ---- Mesh: every device of every process on one `data` axis; the step compiled
  # with sharded jit over it or mapped with pmap over each process's devices.
  mesh = mesh_lib.make_data_mesh()
  par = parallel.make(config.parallelism, mesh)
  devices = jax.device_count()
  logging.info("mesh %s over %d devices (%s), %d processes, %s", dict(mesh.shape), devices,
               jax.devices()[0].device_kind, jax.process_count(), par.name)

  # ---- Model card: rewritten at every evaluation, saved with every checkpoint.
  leads = source.signal_shape[-1]
  data = source.describe()
  model_entry = describe_model(start.model_config, start.model, leads)
  groups = exclusive_names(start.model, names)         # exclusive classes, by name
  logging.info("ResNet1D: %d parameters", model_entry["parameters"])

  def make_card(step: int, points=None, points_from=None, metrics=None) -> dict:
    return model_card.build(task=start.task, label_names=names, data=data, model=model_entry,
                            exclusive_groups=groups,
                            steps=step, operating_points=points, points_from=points_from,
                            metrics=metrics, init_from=start.init_from,
                            extra_training=start.card_training or None)

  graphdef = nnx.graphdef(start.model)
  # The config saved with each checkpoint (pretraining: the run's; a fine-tune: its
  # architecture's), from which a reader rebuilds the network.
  arch_json = json.loads(start.arch.to_json_best_effort())

  def placed(params, batch_stats, step: int, opt_state=()):
    return jax.device_put(steps.TrainState(step=jnp.asarray(step, jnp.int32), params=params,
                                           batch_stats=batch_stats, opt_state=opt_state),
                          par.state_sharding)

  if start.head_only:
    # The probe trains in seconds and keeps no train state to resume from: a signal
    # lets it finish and write its results.
    with stop.during("concluding"):
      probed = linear_probe.train(config, spec.optimizer, graphdef, start.params,
                                  start.batch_stats, source,
                                  mesh_lib.replicated(mesh), mesh_lib.batch_sharded(mesh),
                                  start.carried_columns, score_start=start.score_start)
      final = placed({**start.params, "head": probed.head}, start.batch_stats, probed.step)
      return _conclude(config, spec, workdir, source, start, make_card,
                       _kept_checkpointer(workdir), arch_json, final, probed.step,
                       validation=probed.validation, test=probed.test)

  # ---- Checkpoints: pretraining keeps its train states; a fine-tune keeps its train
  # state under resume/ and the model it keeps (no optimiser state) in checkpoints/.
  if keep_best:
    ckpt = checkpoints.Checkpointer(os.path.join(workdir, RESUME_DIR, "state"),
                                    max_to_keep=1, save_every=config.checkpoint_every)
    kept_ckpt = checkpoints.Checkpointer(os.path.join(workdir, RESUME_DIR, "kept"),
                                         max_to_keep=1, save_every=1)
  else:
    ckpt = checkpoints.Checkpointer(checkpoints.checkpoint_dir(workdir),
                                    max_to_keep=config.keep_checkpoints,
                                    save_every=config.checkpoint_every)
    kept_ckpt = None
  first_step = ckpt.latest_step() or 0
  if first_step >= config.total_steps and not keep_best:
    logging.info("workdir already holds step %d of %d: nothing to train", first_step,
                 config.total_steps)
    ckpt.close()
    return {}

  state = placed(start.params, start.batch_stats, 0, start.tx.init(start.params))
  if first_step:
    state = ckpt.restore_state(first_step, state)
    logging.info("resumed from step %d", first_step)
  kept = _restore_kept(kept_ckpt, state) if keep_best else None
  state = par.from_checkpoint(state)

  # ---- Steps (jit's compiled ahead of time), with the step's FLOPs.
  train_batches = source.train_batches(first_step)
  batch = None
  train_step = step_flops = None
  if first_step < config.total_steps:
    logging.info("compiling the train step")
    batch = par.put_batch(next(train_batches))
    train_step, step_flops = par.compile_train_step(
        graphdef, start.tx, config.seed, state, batch,
        freeze_batch_norm=start.freeze_batch_norm,
        skip_nonfinite=config.nonfinite == "skip_step")

  guard = nonfinite.Guard(config.nonfinite, config.max_consecutive_skips)

  def last_finite() -> str:
    if keep_best:
      return (f"the model kept so far is from step {kept.step}" if kept is not None
              else "no model of this run was kept")
    return nonfinite.last_checkpoint_text(ckpt.latest_step(), ckpt.directory)

  # ---- Evaluation: per-label AUROCs of a split, a mixture's also per source.
  eval_step = par.eval_step(graphdef)

  def evaluate(split: str, state, step: int):
    """(per-label AUROCs of `split`, its pooled (probs, labels, patients), the same per
    source), for a state in the checkpoint layout. A mixture is scored source by
    source; its pool is their concatenation."""
    parts = source.parts() if hasattr(source, "parts") else [(None, source)]
    on_path = par.from_checkpoint(state)

    def score(local):
      return eval_step(on_path, local)
    scored = []
    for _, part in parts:
      try:
        scored.append(eval_outputs.collect_predictions(
            part, split, score, aggregate=config.dataset.eval_aggregate,
            groups=start.model.exclusive_groups))
      except nonfinite.NonFiniteError as e:
        raise nonfinite.NonFiniteError(f"step {step}: {e} ({last_finite()})") from e
    pooled = tuple(np.concatenate([p[k] for p in scored]) for k in range(3))
    result = eval_metrics.per_label_auroc(pooled[1], pooled[0], names)
    result["examples"] = len(pooled[1])
    if len(parts) > 1:
      result["sources"] = {}
      for (name, _), (p, y, _) in zip(parts, scored):
        entry = eval_metrics.per_label_auroc(y, p, names)
        result["sources"][name] = {"examples": len(y), "auroc": entry["auroc"],
                                   "auroc_median": entry["auroc_median"],
                                   "auroc_mean": entry["auroc_mean"]}
    return result, pooled, dict(zip([n for n, _ in parts], scored))

  if keep_best and kept is None and start.score_start:
    # Step 0: a head carried from the checkpoint may already be better than what a
    # small training set makes of it.
    at_start = par.to_checkpoint(state)
    result, _, _ = evaluate(config.dataset.eval_split, at_start, 0)
    kept = _keep(0, selection.score(result["auroc_mean"], names), at_start)
    logging.info("step 0: %s mean AUROC %s", config.dataset.eval_split,
                 fmt(result["auroc_mean"]))

  card = make_card(first_step)
  if first_step and not keep_best:
    card = ckpt.restore_card(first_step) or card

  # ---- Loop.
  writer = MetricWriter(workdir, resume_step=first_step)
  schedule = optimizers.learning_rate_schedule(spec.optimizer, config.total_steps)
  pending, window_start, window_steps = [], time.perf_counter(), 0
  progress = progress_lib.Progress(config.total_steps, first_step)
  last_points = last_validation = None
  preempted = False
  try:
    for step in range(first_step + 1, config.total_steps + 1):
      if batch is None:
        batch = par.put_batch(next(train_batches))
      state, step_metrics = train_step(state, batch)
      batch = None
      pending.append(par.host_metrics(step_metrics))
      window_steps += 1

      # A stop request is read here, on the host, after the step: no device sync.
      interrupted = stop.requested and step < config.total_steps
      evaluating = step % config.eval_every == 0 or step == config.total_steps
      # An evaluation follows a training line, so a non-finite window stops the run
      # before its model is scored.
      if step % config.log_every == 0 or evaluating or interrupted:
        host_metrics = jax.device_get(pending)      # the only host sync on train steps
        elapsed = time.perf_counter() - window_start
        ecg_per_sec = window_steps * config.batch_size / elapsed
        flags = np.array([m["finite"] for m in host_metrics], bool)
        record = {
            "loss": nonfinite.finite_mean([m["loss"] for m in host_metrics], flags),
            "grad_norm": nonfinite.finite_mean([m["grad_norm"] for m in host_metrics], flags),
            "nonfinite_steps": int((~flags).sum()),
            "learning_rate": float(schedule(step - 1)),
            "ecg_per_sec": ecg_per_sec,
            "ecg_per_sec_per_device": ecg_per_sec / devices,
            "step_time_s": elapsed / window_steps,
        }
        if step_flops:   # XLA reports an SPMD (or a mapped) program's FLOPs per device
          record["tflops_per_sec_per_device"] = step_flops / (elapsed / window_steps) / 1e12
        writer.write(step, record)
        logging.info("step %d/%d: train loss %.4f, %.1f ECG/s (%.1f per device); %s", step,
                     config.total_steps, record["loss"], ecg_per_sec, ecg_per_sec / devices,
                     progress.text(step))
        # After the line is written, so metrics.jsonl shows the window that diverged.
        skipped = guard.check_window(step - window_steps + 1, flags,
                                     [m["loss"] for m in host_metrics], last_finite)
        if skipped:
          logging.warning("step %d: %d non-finite steps in this window were skipped", step,
                          skipped)
        pending, window_steps = [], 0
        window_start = time.perf_counter()

      if evaluating:
        split = config.dataset.eval_split
        last_eval, last_validation, _ = evaluate(split, par.to_checkpoint(state), step)
        val_probs, val_labels, _ = last_validation
        writer.write(step, {"split": split, **last_eval})
        logging.info("step %d: %s median AUROC %s, mean %s over %d/%d labels", step, split,
                     fmt(last_eval["auroc_median"]), fmt(last_eval["auroc_mean"]),
                     last_eval["labels_defined"], last_eval["labels_total"])
        if keep_best:
          score = selection.score(last_eval["auroc_mean"], names)
          if kept is None or selection.keeps(score, kept.score):
            kept = _keep(step, score, par.to_checkpoint(state))
        else:
          # Thresholds and calibration from this evaluation: the card of every later
          # checkpoint says which step and split chose them.
          points = eval_results.operating_points(
              names, val_labels, val_probs, spec.threshold_rule,
              exclusive={n for g in groups for n in g})
          points_from = {"split": split, "step": step, "examples": len(val_labels)}
          last_points = (points, points_from)
          card = make_card(step, points, points_from, metrics={
              "split": split, "step": step, "examples": len(val_labels),
              "auroc": last_eval["auroc"], "auroc_median": last_eval["auroc_median"]})
        window_start = time.perf_counter()   # evaluation time is not training time

      if step == config.total_steps:
        break                    # the conclusion saves the last step, with its results
      card = {**card, "training": {**card["training"], "steps": step}}
      preempted = ckpt.reached_preemption(step)
      saved = _save_finite(ckpt, step, par.to_checkpoint(state), arch_json, card,
                           force=preempted or interrupted, last_finite=last_finite)
      if saved and keep_best and kept is not None and kept.step not in kept_ckpt.all_steps():
        # The model kept so far goes with the train state it was kept by.
        kept_ckpt.save(kept.step, placed(kept.params, kept.batch_stats, kept.step), arch_json,
                       make_card(kept.step, metrics={"selection_score": None if
                                                     kept.score == -np.inf else kept.score}),
                       force=True)
      if saved and jax.process_index() == 0 and not keep_best:
        model_card.write(workdir, card)
      if interrupted:
        ckpt.wait()     # synchronously: the process is about to exit
        raise interrupt.Interrupted(
            f"{stop.signal_name} at step {step}: saved checkpoint {step} in {ckpt.directory}; "
            f"run the same command again to resume from it")
      if preempted:
        logging.warning("preemption announced: saved step %d and stopping", step)
        break
  finally:
    # Also when the loop raises: a save in flight (of a finite state) still lands,
    # and the metrics written so far reach the disk.
    ckpt.wait()
    writer.close()
    if kept_ckpt is not None:
      kept_ckpt.wait()
  if preempted:
    ckpt.close()
    return {}

  # ---- The conclusion: the model kept, its operating points, test, card, save. A
  # signal now lets the results be written (seconds) before the run ends.
  with stop.during("concluding"):
    if keep_best:
      ckpt.close()
      kept_ckpt.close()
      final = placed(kept.params, kept.batch_stats, kept.step)
      results = _conclude(config, spec, workdir, source, start, make_card,
                          _kept_checkpointer(workdir), arch_json, final, kept.step,
                          evaluate=evaluate)
      if jax.process_index() == 0:
        shutil.rmtree(os.path.join(workdir, RESUME_DIR), ignore_errors=True)
      return results
    return _conclude(config, spec, workdir, source, start, make_card, ckpt, arch_json,
                     par.to_checkpoint(state), config.total_steps, evaluate=evaluate,
                     validation=last_validation, points=last_points, card=card,
                     last_finite=last_finite)


def concluded_results(workdir: str) -> dict | None:
  """A fine-tune's results.json once the run concluded (nothing left under resume/);
  None while there is something to train."""
  path = os.path.join(workdir, "results.json")
  if not os.path.exists(path) or os.path.exists(os.path.join(workdir, RESUME_DIR)):
    return None
  with open(path) as f:
    return json.load(f)


def _kept_checkpointer(workdir: str) -> checkpoints.Checkpointer:
  """A fine-tune's checkpoints/: the one model it keeps."""
  return checkpoints.Checkpointer(checkpoints.checkpoint_dir(workdir), max_to_keep=1,
                                  save_every=1)


def _save_finite(ckpt, step, state, config_json, card, *, force, last_finite) -> bool:
  """Saves when the checkpointer would, after one small sync: a checkpoint holding NaN
  must never become the latest."""
  if not ckpt.would_save(step, force):
    return False
  if not bool(jax.device_get(nonfinite.all_finite((state.params, state.batch_stats)))):
    ckpt.wait()
    raise nonfinite.NonFiniteError(
        f"step {step}: parameters or BatchNorm statistics hold NaN or infinity; not saved, "
        f"{last_finite()}. Try: {nonfinite.ADVICE}")
  return ckpt.save(step, state, config_json, card, force=force)


def _keep(step: int, score: float, state) -> _Kept:
  """A fine-tune's new kept model, copied to the host. It is saved under resume/ with
  the next train state (its validation score in the card's metrics)."""
  params, batch_stats = jax.device_get((state.params, state.batch_stats))
  return _Kept(step, score, params, batch_stats)


def _restore_kept(kept_ckpt, like) -> "_Kept | None":
  """The model a resumed fine-tune had kept when its train state was saved."""
  step = kept_ckpt.latest_step()
  if step is None:
    return None
  state = kept_ckpt.restore_state(step, like.replace(opt_state=()))
  score = (kept_ckpt.restore_card(step) or {}).get("metrics", {}).get("selection_score")
  params, batch_stats = jax.device_get((state.params, state.batch_stats))
  return _Kept(step, -np.inf if score is None else score, params, batch_stats)


def _conclude(config, spec, workdir, source, start, make_card, ckpt, config_json, state, step, *,
              evaluate=None, validation=None, test=None, points=None, card=None,
              last_finite=None) -> dict:
  """Every run's end: operating points chosen on validation (the last evaluation's for
  pretraining), the test split scored once with CIs into results.json, predictions.npz,
  the model card, and the model saved by `ckpt` with that card. `state` is in the
  checkpoint layout; `card` is the card to save when there is no test split."""
  names = source.label_names
  groups = exclusive_names(start.model, names)
  by_source = None
  if validation is None:
    _, validation, _ = evaluate(config.dataset.eval_split, state, step)
  if points is None:
    val_s, val_y, _ = validation
    points = (eval_results.operating_points(names, val_y, val_s, spec.threshold_rule,
                                            exclusive={n for g in groups for n in g}),
              {"split": config.dataset.eval_split, "step": step, "examples": len(val_y)})
  if test is None and config.dataset.test_split:
    _, test, by_source = evaluate(config.dataset.test_split, state, step)
  if test is None:            # no test split: the last evaluation's card
    card = card or make_card(step, *points)
    results = {}
  else:
    results = _test_results(config, workdir, names, points[0], step, test, by_source,
                            groups=groups)
    results.update(start.results)
    if start.keep == "best":
      results["best_step"] = int(step)
    card = make_card(step, *points,
                     metrics=card_metrics(results, config.dataset.test_split, step))
  _save_finite(ckpt, step, state, config_json, card, force=True,
               last_finite=last_finite or (lambda: "no checkpoint of this run was saved"))
  ckpt.wait()
  ckpt.close()
  if jax.process_index() == 0:
    model_card.write(workdir, card)
    if test is not None:
      (val_s, val_y, _), (test_s, test_y, test_p) = validation, test
      np.savez_compressed(os.path.join(workdir, "predictions.npz"), names=np.array(names),
                          val_labels=val_y, val_scores=val_s, test_labels=test_y,
                          test_scores=test_s, test_patients=test_p)
      workdir_files.write_json(os.path.join(workdir, "results.json"), results)
  if "challenge2017" in results:
    score = results["challenge2017"]["score"]
    logging.info("step %d: Challenge 2017 score (mean F1 of normal, AF, other) %s [%s, %s] "
                 "over %d recordings", step, *(fmt(score[k]) for k in
                                              ("value", "ci_low", "ci_high")),
                 results["challenge2017"]["records"])
  return results


def _test_results(config, workdir, names, points, step, scored, by_source=None,
                  groups=()) -> dict:
  """results.json: the test split at the validation operating points, with CIs (and
  an exclusive group's F1s and confusion matrix); a mixture's adds each source's
  results under `sources` (the top level is the pool)."""
  probs, labels, patients = scored
  results = eval_results.evaluate_predictions(
      names, labels, probs, patients, points, resamples=config.bootstrap_resamples,
      seed=config.seed, exclusive_groups=groups)
  for group in results.get("exclusive_groups", []):
    if group["macro_f1"] is not None:
      logging.info("step %d: %s %s: macro F1 %s [%s, %s], accuracy %s over %d ECGs", step,
                   config.dataset.test_split, "/".join(group["classes"]),
                   *(fmt(group["macro_f1"][k]) for k in ("value", "ci_low", "ci_high")),
                   fmt(group["accuracy"]), group["examples"])
  if by_source and len(by_source) > 1:
    results["sources"] = {}
    for name, (p, y, patient) in by_source.items():
      part = eval_results.evaluate_predictions(names, y, p, patient, points,
                                               resamples=config.bootstrap_resamples,
                                               seed=config.seed)
      results["sources"][name] = {k: part[k] for k in ("labels", "medians", "macro_auroc",
                                                        "test_examples", "test_patients")}
      logging.info("step %d: %s %s: macro AUROC %s over %d labels", step,
                   config.dataset.test_split, name, fmt(part["macro_auroc"]["value"]),
                   part["macro_auroc"]["labels_covered"])
  results.update(step=step, split=config.dataset.test_split,
                 dataset=config.dataset.mixture or config.dataset.name)
  logging.info("step %d: %s median AUROC %s, macro AUROC %s over %d/%d labels (results.json "
               "in %s)", step, config.dataset.test_split,
               fmt(results["medians"]["auroc"]["value"]), fmt(results["macro_auroc"]["value"]),
               results["medians"]["auroc"]["labels_covered"], len(names), workdir)
  return results
