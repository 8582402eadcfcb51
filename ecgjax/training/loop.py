"""The pretraining loop: mesh, model, sharding, step, checkpoint, evals, loop.

Read top to bottom. The input comes in as an `InputSource` (ecgjax.data
provides the tf.data one), so this module, like the rest of training/, runs on
a host without TensorFlow.
"""

import dataclasses
import json
import os
import time
from collections.abc import Iterator
from typing import Protocol

import jax
import numpy as np
from absl import logging
from flax import nnx

from ecgjax.evaluation import metrics as eval_metrics, results as eval_results
from ecgjax.models import model_card, resnet1d
from ecgjax.training import (checkpoints, eval_outputs, interrupt, mesh as mesh_lib, nonfinite,
                             optimizers, parallel, progress as progress_lib, steps, workdir_files)
from ecgjax.training.metric_writer import MetricWriter


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


def build_model(config, num_labels: int, in_leads: int) -> resnet1d.ResNet1D:
  return resnet1d.ResNet1D(resnet1d.config_from(config.model), num_labels, in_leads,
                           rngs=nnx.Rngs(params=config.seed))


def describe_model(config, model: resnet1d.ResNet1D, in_leads: int) -> dict:
  """The card's `model` entry: enough to rebuild the network without the config."""
  return {"architecture": "ResNet1D",
          "config": {k: list(v) if isinstance(v, tuple) else v
                     for k, v in dataclasses.asdict(resnet1d.config_from(config.model)).items()},
          "parameters": resnet1d.parameter_count(model), "in_leads": in_leads}


def card_metrics(results: dict, split: str, step: int) -> dict:
  """The card's `metrics`: results.json's discrimination and operating-point figures."""
  keep = ("n_pos", "n_neg", "auroc", "auprc", "sensitivity", "specificity", "undefined")
  return {"split": split, "step": step, "examples": results["test_examples"],
          "medians": {k: results["medians"][k] for k in ("auroc", "sensitivity", "specificity")},
          "macro_auroc": results.get("macro_auroc"),
          "labels": {name: {k: v for k, v in entry.items() if k in keep}
                     for name, entry in results["labels"].items()}}


def run(config, workdir: str, source: InputSource) -> dict:
  """Pretrains (or resumes pretraining) in `workdir`; returns the last evaluation.

  Raises interrupt.Interrupted after saving when SIGTERM or SIGINT arrives (from
  here on: a signal during start-up stops after the first step).
  """
  with interrupt.StopRequest() as stop:
    return _run(config, workdir, source, stop)


def _run(config, workdir: str, source: InputSource, stop: interrupt.StopRequest) -> dict:
  config_json = json.loads(config.to_json_best_effort())

  # ---- Mesh: every device of every process on one `data` axis; the step compiled
  # with sharded jit over it or mapped with pmap over each process's devices.
  mesh = mesh_lib.make_data_mesh()
  par = parallel.make(config.parallelism, mesh)
  devices = jax.device_count()
  logging.info("mesh %s over %d devices (%s), %d processes, %s", dict(mesh.shape), devices,
               jax.devices()[0].device_kind, jax.process_count(), par.name)

  # ---- Model and optimiser.
  leads = source.signal_shape[-1]
  model = build_model(config, len(source.label_names), leads)
  logging.info("ResNet1D: %d parameters", resnet1d.parameter_count(model))
  tx = optimizers.make_optimizer(config.optimizer, config.total_steps)
  schedule = optimizers.learning_rate_schedule(config.optimizer, config.total_steps)
  graphdef, state = steps.init_state(model, tx)
  state = jax.device_put(state, par.state_sharding)    # the checkpoint layout

  # ---- Checkpoint: resume where the workdir left off.
  ckpt = checkpoints.Checkpointer(checkpoints.checkpoint_dir(workdir),
                                  max_to_keep=config.keep_checkpoints,
                                  save_every=config.checkpoint_every)
  start = ckpt.latest_step() or 0
  if start >= config.total_steps:
    logging.info("workdir already holds step %d of %d: nothing to train", start,
                 config.total_steps)
    ckpt.close()
    return {}
  if start:
    state = ckpt.restore_state(start, state)
    logging.info("resumed from step %d", start)
  state = par.from_checkpoint(state)

  # ---- Update and eval steps (jit's compiled ahead of time), with the step's FLOPs.
  train_batches = source.train_batches(start)
  first = par.put_batch(next(train_batches))
  train_step, step_flops = par.compile_train_step(
      graphdef, tx, config.seed, state, first, skip_nonfinite=config.nonfinite == "skip_step")
  eval_step = par.eval_step(graphdef)

  guard = nonfinite.Guard(config.nonfinite, config.max_consecutive_skips)

  def last_finite() -> str:
    return nonfinite.last_checkpoint_text(ckpt.latest_step(), ckpt.directory)

  def evaluate(split: str):
    """Per-label AUROCs of `split` and its (probs, labels, patients); a mixture is
    scored source by source, its pool being their concatenation, and the result
    adds each source's AUROCs under `sources`."""
    parts = source.parts() if hasattr(source, "parts") else [(None, source)]
    scored = []
    for _, part in parts:
      try:
        scored.append(eval_outputs.collect_predictions(
            part, split,
            lambda local: eval_step(state, local),
            aggregate=config.dataset.eval_aggregate))
      except nonfinite.NonFiniteError as e:
        raise nonfinite.NonFiniteError(f"step {step}: {e} ({last_finite()})") from e
    probs, labels, patients = (np.concatenate([p[k] for p in scored]) for k in range(3))
    result = eval_metrics.per_label_auroc(labels, probs, source.label_names)
    result["examples"] = len(labels)
    by_source = {}
    if len(parts) > 1:
      for (name, _), part_scored in zip(parts, scored):
        entry = eval_metrics.per_label_auroc(part_scored[1], part_scored[0], source.label_names)
        by_source[name] = {"examples": len(part_scored[1]), "auroc": entry["auroc"],
                           "auroc_median": entry["auroc_median"],
                           "auroc_mean": entry["auroc_mean"]}
      result["sources"] = by_source
    return result, (probs, labels, patients), dict(zip([n for n, _ in parts], scored))

  # ---- Model card: rewritten at every evaluation, saved with every checkpoint.
  names = source.label_names
  data = source.describe()
  model_entry = describe_model(config, model, leads)

  def make_card(step: int, points=None, points_from=None, metrics=None) -> dict:
    return model_card.build(task="pretrain", label_names=names, data=data, model=model_entry,
                            steps=step, operating_points=points, points_from=points_from,
                            metrics=metrics)

  card = make_card(start)
  if start:
    card = ckpt.restore_card(start) or card

  # ---- Loop.
  writer = MetricWriter(workdir, resume_step=start)
  pending, window_start, window_steps = [], time.perf_counter(), 0
  last_eval: dict = {}
  batch = first
  progress = progress_lib.Progress(config.total_steps, start)
  try:
    for step in range(start + 1, config.total_steps + 1):
      if batch is None:
        batch = par.put_batch(next(train_batches))
      state, step_metrics = train_step(state, batch)
      batch = None
      pending.append(par.host_metrics(step_metrics))
      window_steps += 1

      # A stop request is read here, on the host, after the step: no device sync.
      interrupted = stop.requested and step < config.total_steps
      if step % config.log_every == 0 or step == config.total_steps or interrupted:
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
        logging.info("step %d: loss %.4f, %.1f ECG/s (%.1f per device); %s", step,
                     record["loss"], ecg_per_sec, ecg_per_sec / devices,
                     progress.text(step))
        # After the line is written, so metrics.jsonl shows the window that diverged.
        skipped = guard.check_window(step - window_steps + 1, flags,
                                     [m["loss"] for m in host_metrics], last_finite)
        if skipped:
          logging.warning("step %d: %d non-finite steps in this window were skipped", step,
                          skipped)
        pending, window_steps = [], 0
        window_start = time.perf_counter()

      if step % config.eval_every == 0 or step == config.total_steps:
        split = config.dataset.eval_split
        last_eval, (val_probs, val_labels, _), _ = evaluate(split)
        writer.write(step, {"split": split, **last_eval})
        logging.info("step %d: %s median AUROC %s over %d/%d labels", step, split,
                     last_eval["auroc_median"], last_eval["labels_defined"],
                     last_eval["labels_total"])
        # Thresholds and calibration from this evaluation: the card of every later
        # checkpoint says which step and split chose them.
        points = eval_results.operating_points(names, val_labels, val_probs,
                                               config.threshold_rule)
        points_from = {"split": split, "step": step, "examples": len(val_labels)}
        card = make_card(step, points, points_from, metrics={
            "split": split, "step": step, "examples": len(val_labels),
            "auroc": last_eval["auroc"], "auroc_median": last_eval["auroc_median"]})
        if step == config.total_steps and config.dataset.test_split:
          _, pooled, by_source = evaluate(config.dataset.test_split)
          results = _final_test(config, workdir, names, points, step, pooled, by_source)
          card = make_card(step, points, points_from,
                           metrics=card_metrics(results, config.dataset.test_split, step))
        window_start = time.perf_counter()   # evaluation time is not training time

      card = {**card, "training": {**card["training"], "steps": step}}
      preempted = ckpt.reached_preemption(step)
      force = step == config.total_steps or preempted or interrupted
      saved = False
      if ckpt.would_save(step, force):
        # One small sync per save: a checkpoint holding NaN must never become the latest.
        saved_state = par.to_checkpoint(state)
        if not bool(jax.device_get(nonfinite.all_finite((saved_state.params,
                                                         saved_state.batch_stats)))):
          ckpt.wait()
          raise nonfinite.NonFiniteError(
              f"step {step}: parameters or BatchNorm statistics hold NaN or infinity; not saved, "
              f"{last_finite()}. Try: {nonfinite.ADVICE}")
        saved = ckpt.save(step, saved_state, config_json, card, force=force)
      if saved and jax.process_index() == 0:
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
    ckpt.close()
    writer.close()
  return last_eval


def _fmt(value) -> str:
  return "n/a" if value is None else f"{value:.3f}"


def _final_test(config, workdir, names, points, step, scored, by_source=None) -> dict:
  """results.json: the test split at the validation operating points, with CIs; a
  mixture's adds each source's results under `sources` (the top level is the pool)."""
  probs, labels, patients = scored
  results = eval_results.evaluate_predictions(
      names, labels, probs, patients, points, resamples=config.bootstrap_resamples,
      seed=config.seed)
  if by_source and len(by_source) > 1:
    results["sources"] = {}
    for name, (p, y, patient) in by_source.items():
      part = eval_results.evaluate_predictions(names, y, p, patient, points,
                                               resamples=config.bootstrap_resamples,
                                               seed=config.seed)
      results["sources"][name] = {k: part[k] for k in ("labels", "medians", "macro_auroc",
                                                        "test_examples", "test_patients")}
      logging.info("step %d: %s %s: macro AUROC %s over %d labels", step,
                   config.dataset.test_split, name, _fmt(part["macro_auroc"]["value"]),
                   part["macro_auroc"]["labels_covered"])
  results.update(step=step, split=config.dataset.test_split,
                 dataset=config.dataset.mixture or config.dataset.name)
  if jax.process_index() == 0:
    workdir_files.write_json(os.path.join(workdir, "results.json"), results)
  logging.info("step %d: %s median AUROC %s, macro AUROC %s over %d/%d labels (results.json)",
               step, config.dataset.test_split, _fmt(results["medians"]["auroc"]["value"]),
               _fmt(results["macro_auroc"]["value"]),
               results["medians"]["auroc"]["labels_covered"], len(names))
  return results
