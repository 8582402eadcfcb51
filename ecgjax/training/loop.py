"""THE training loop: pretraining and every fine-tuning mode.

Read top to bottom, in sections: `run` (finished earlier?), `_run` (mesh, card,
keeping, resume, evaluation, conclusion), `_train` (the steps: compile, log,
evaluate, save) and `_conclude` (operating points on validation, test with CIs, the
save, the commit). What differs between runs comes in as a `model_init.Start`:
where the network starts, which model is kept (training.keeping: pretraining the
last step, fine-tuning the best validation mean AUROC) and, for the linear probe, a
head-only update rule on cached features. The input comes in as an `InputSource`
(ecgjax.data provides the tf.data one), so this module, like the rest of training/,
runs on a host without TensorFlow.

A run is finished when its results are committed (training.completion), not when
its last checkpoint is. Every run resumes: pretraining from `checkpoints/` (a final
checkpoint without results concludes, it does not train again); a fine-tune from
`resume/` (its latest train state and the model kept so far, one checkpoint),
removed once its results are committed.
"""

import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Protocol

import jax
import numpy as np
from absl import logging
from flax import nnx

from ecgjax import failpoints
from ecgjax.evaluation import results as eval_results
from ecgjax.models import model_card
from ecgjax.training import (completion, evaluating, interrupt, keeping, linear_probe,
                             mesh as mesh_lib, model_init, nonfinite, optimizers, parallel,
                             progress as progress_lib, representation, run_spec, selection)
from ecgjax.training.card_entries import card_metrics, describe_model, exclusive_names
from ecgjax.training.evaluating import fmt
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


def run(config, spec: run_spec.RunSpec, workdir: str, source: InputSource,
        start: model_init.Start, probe: InputSource | None = None) -> dict:
  """Trains (or resumes) in `workdir` and concludes; returns results.json's contents
  ({} when an announced preemption stopped it after a save). A run that finished
  earlier (training.completion) returns its results and trains nothing.

  A self-supervised start (`start.ssl`) trains its objective and is scored by its
  embeddings (training.representation), on `probe`'s labels where one is given.

  Raises interrupt.Interrupted after saving when SIGTERM or SIGINT arrives while it
  trains (compilation included: it then stops after the first step); one during the
  conclusion lets the results be written first.
  """
  done = completion.finished_earlier(workdir, config.total_steps)
  if done is not None:
    return done
  with interrupt.StopRequest() as stop, stop.during("training"):
    return _run(config, spec, workdir, source, start, stop, probe)


@dataclasses.dataclass
class _Run:
  """What every section of a run reads, set up once before its first step."""
  config: object
  spec: run_spec.RunSpec
  workdir: str
  source: InputSource
  start: model_init.Start
  par: object                # training.parallel: jit over the mesh, or pmap
  arch_json: dict            # the config saved with each checkpoint (model_init.Start.arch)
  data: dict                 # source.describe(): the card's dataset and input contract
  model_entry: dict          # the card's `model`

  @property
  def self_supervised(self) -> bool:
    return self.start.ssl is not None

  @classmethod
  def make(cls, config, spec, workdir, source, start, par) -> "_Run":
    """A run's record, its card's entries read once from its start and input (a stacked
    group makes one per run: training.stacked)."""
    return cls(config, spec, workdir, source, start, par,
               arch_json=json.loads(start.arch.to_json_best_effort()), data=source.describe(),
               model_entry=describe_model(start.model_config, start.model,
                                          source.signal_shape[-1]))

  @property
  def names(self) -> list[str]:
    return self.source.label_names

  @property
  def groups(self) -> list[list[str]]:
    return exclusive_names(self.start.model, self.names)

  def card(self, step: int, points=None, points_from=None, metrics=None) -> dict:
    return model_card.build(task=self.start.task, label_names=self.names, data=self.data,
                            model=self.model_entry, exclusive_groups=self.groups, steps=step,
                            operating_points=points, points_from=points_from,
                            metrics=metrics, init_from=self.start.init_from,
                            extra_training=self.start.card_training or None,
                            embedding=self.start.embedding_entry)

  def placed(self, params, batch_stats, step: int, opt_state=()):
    return keeping.place(self.par, params, batch_stats, step, opt_state)

  def operating_points(self, validation, step: int) -> tuple[dict, dict]:
    """Thresholds and calibration chosen on `validation`, and where they come from."""
    val_probs, val_labels, _ = validation
    points = eval_results.operating_points(
        self.names, val_labels, val_probs, self.spec.threshold_rule,
        exclusive_groups=self.groups)
    return points, {"split": self.config.dataset.eval_split, "step": step,
                    "examples": len(val_labels)}


def _run(config, spec: run_spec.RunSpec, workdir: str, source: InputSource,
         start: model_init.Start, stop: interrupt.StopRequest, probe=None) -> dict:
  # ---- Mesh: every device of every process on one `data` axis; the step compiled
  # with sharded jit over it or mapped with pmap over each process's devices.
  mesh = mesh_lib.make_data_mesh()
  par = parallel.make(config.parallelism, mesh)
  logging.info("mesh %s over %d devices (%s), %d processes, %s", dict(mesh.shape),
               jax.device_count(), jax.devices()[0].device_kind, jax.process_count(), par.name)
  run = _Run.make(config, spec, workdir, source, start, par)
  logging.info("ResNet1D: %d parameters", run.model_entry["parameters"])

  if start.head_only:
    # The probe trains in seconds and keeps no train state to resume from: a signal
    # lets it finish and write its results.
    with stop.during("concluding"):
      probed = linear_probe.train(config, spec.optimizer, nnx.graphdef(start.model),
                                  start.params, start.batch_stats, source,
                                  mesh_lib.replicated(mesh), mesh_lib.batch_sharded(mesh),
                                  start.carried_columns, score_start=start.score_start)
      final = run.placed({**start.params, "head": probed.head}, start.batch_stats,
                         probed.step)
      with keeping.model_checkpointer(workdir) as model_ckpt:
        return _conclude(run, None, model_ckpt, final, probed.step,
                         validation=probed.validation, test=probed.test,
                         last_finite=lambda: "no checkpoint of this run was saved")

  # ---- Keeping: the train state to resume from and the model the run keeps.
  keeper = (keeping.KeepBest(workdir, config, run.placed, start.score_start)
            if start.keep == "best" else keeping.KeepLast(workdir, config))
  with keeper:
    first_step = keeper.latest_step()
    state = run.placed(start.params, start.batch_stats, 0, start.tx.init(start.params))
    if first_step:
      state = keeper.restore(first_step, state)
      logging.info("resumed from step %d", first_step)
    if run.self_supervised:
      evaluate = representation.RepresentationMonitor(
          source, par, nnx.graphdef(start.model), probe=probe,
          probe_split=config.probe.split, last_finite=keeper.last_finite)
    else:
      evaluate = evaluating.Evaluator(
          source, par, nnx.graphdef(start.model), aggregate=config.dataset.eval_aggregate,
          groups=start.model.exclusive_groups, names=run.names,
          last_finite=keeper.last_finite)
    if keeper.wants_start_scored():
      scored = evaluate(config.dataset.eval_split, state, 0)
      keeper.observe(0, selection.score(scored.summary["auroc_mean"], run.names), state,
                     scored.pooled)
      logging.info("step 0: %s mean AUROC %s", config.dataset.eval_split,
                   fmt(scored.summary["auroc_mean"]))

    validation = points = card = None
    if first_step < config.total_steps:
      trained = _train(run, keeper, evaluate, stop, state, first_step)
      if trained.preempted:
        return {}
      state, card = trained.state, trained.card
      if not keeper.keeps_best:       # the last evaluation scored the model kept
        validation, points = trained.validation, trained.points
    else:
      logging.info("step %d of %d was saved but the run did not conclude: concluding from "
                   "it", first_step, config.total_steps)

    # ---- The conclusion: the model kept, its operating points, test, card, save,
    # commit. A signal now lets the results be written (seconds) before the run ends.
    with stop.during("concluding"):
      final, step, model_ckpt, kept_validation = keeper.final(state, config.total_steps)
      if keeper.keeps_best:
        validation = kept_validation      # None: scored again (resumed after it was kept)
      with model_ckpt:
        if run.self_supervised:
          return _conclude_self_supervised(run, evaluate, model_ckpt, final, step,
                                           last_finite=keeper.last_finite)
        return _conclude(run, evaluate, model_ckpt, final, step, validation=validation,
                         points=points, card=card, last_finite=keeper.last_finite)


@dataclasses.dataclass
class _Trained:
  state: object                     # the last step's, in the checkpoint layout
  card: dict | None                 # pretraining: the card of its last evaluation
  validation: tuple | None          # that evaluation's (probabilities, labels, patients)
  points: tuple | None              # and its operating points
  preempted: bool = False


class _Window:
  """The train steps since the last logged line: their metrics (on the device until
  read) and their wall time."""

  def __init__(self, par):
    self.par = par
    self.restart()

  def restart(self) -> None:
    self.pending, self.steps, self.start = [], 0, time.perf_counter()

  def add(self, step_metrics) -> None:
    self.pending.append(self.par.host_metrics(step_metrics))
    self.steps += 1

  def record(self, config, step: int, schedule, step_flops) -> tuple[dict, np.ndarray, list]:
    """metrics.jsonl's training line for the window: one host sync."""
    host_metrics = jax.device_get(self.pending)
    elapsed = time.perf_counter() - self.start
    ecg_per_sec = self.steps * config.batch_size / elapsed
    flags = np.array([m["finite"] for m in host_metrics], bool)
    losses = [m["loss"] for m in host_metrics]
    record = {
        "loss": nonfinite.finite_mean(losses, flags),
        "grad_norm": nonfinite.finite_mean([m["grad_norm"] for m in host_metrics], flags),
        "nonfinite_steps": int((~flags).sum()),
        "learning_rate": float(schedule(step - 1)),
        "ecg_per_sec": ecg_per_sec,
        "ecg_per_sec_per_device": ecg_per_sec / jax.device_count(),
        "step_time_s": elapsed / self.steps,
    }
    if step_flops:   # XLA reports an SPMD (or a mapped) program's FLOPs per device
      record["tflops_per_sec_per_device"] = step_flops / (elapsed / self.steps) / 1e12
    return record, flags, losses


def _train(run: _Run, keeper, evaluate, stop, state, first_step: int) -> _Trained:
  """Steps first_step+1 .. total_steps: log, evaluate, save; raises Interrupted after a
  save on a signal. The last step is not saved here: the conclusion saves it with its
  results."""
  config, par, total = run.config, run.par, run.config.total_steps

  # ---- Steps (jit's compiled ahead of time), with the step's FLOPs.
  state = par.from_checkpoint(state)
  train_batches = run.source.train_batches(first_step)
  logging.info("compiling the train step")
  failpoints.reached("compiling")
  batch = par.put_batch(next(train_batches))
  train_step, step_flops = par.compile_train_step(
      nnx.graphdef(run.start.model), run.start.tx, config.seed, state, batch,
      freeze_batch_norm=run.start.freeze_batch_norm,
      skip_nonfinite=config.nonfinite == "skip_step", ssl=run.start.ssl)
  guard = nonfinite.Guard(config.nonfinite, config.max_consecutive_skips)
  schedule = optimizers.learning_rate_schedule(run.spec.optimizer, total)
  progress = progress_lib.Progress(total, first_step)
  card = (keeper.restored_card(first_step) if first_step else None) or run.card(first_step)
  validation = points = None
  window = _Window(par)

  in_flight = None
  with MetricWriter(run.workdir, resume_step=first_step) as writer:
    for step in range(first_step + 1, total + 1):
      if batch is None:
        batch = par.put_batch(next(train_batches))
      state, step_metrics = train_step(state, batch)
      batch = None
      window.add(step_metrics)
      # At most two steps in flight: the previous one is waited for while this one runs.
      # Without the wait the host runs ahead of the device until the next step line
      # (up to log_every steps), and a stop request read below would first wait for all
      # of them (benchmarks/interrupt_latency.py: up to 36 steps, 12 s, on 2 cores).
      if in_flight is not None:
        jax.block_until_ready(in_flight)
      in_flight = step_metrics
      failpoints.reached("step")

      # A stop request is read here, on the host, after the step.
      interrupted = stop.requested and step < total
      evaluating_now = step % config.eval_every == 0 or step == total
      # An evaluation follows a training line, so a non-finite window stops the run
      # before its model is scored.
      if step % config.log_every == 0 or evaluating_now or interrupted:
        record, flags, losses = window.record(config, step, schedule, step_flops)
        writer.write(step, record)
        logging.info("step %d/%d: train loss %.4f, %.1f ECG/s (%.1f per device); %s", step,
                     total, record["loss"], record["ecg_per_sec"],
                     record["ecg_per_sec_per_device"], progress.text(step))
        # After the line is written, so metrics.jsonl shows the window that diverged.
        skipped = guard.check_window(step - window.steps + 1, flags, losses,
                                     keeper.last_finite)
        if skipped:
          logging.warning("step %d: %d non-finite steps in this window were skipped", step,
                          skipped)
        window.restart()
        failpoints.reached("logged")

      if evaluating_now and run.self_supervised:
        split = config.dataset.eval_split
        summary = evaluate(split, par.to_checkpoint(state), step)
        writer.write(step, {"split": split, **summary})
        _log_representation(step, split, summary)
        card = run.card(step, metrics={"split": split, "step": step, **summary})
        window.restart()   # evaluation time is not training time
        failpoints.reached("evaluated")
      elif evaluating_now:
        split = config.dataset.eval_split
        evaluated = par.to_checkpoint(state)      # one layout change for both uses
        scored = evaluate(split, evaluated, step)
        writer.write(step, {"split": split, **scored.summary})
        logging.info("step %d: %s median AUROC %s, mean %s over %d/%d labels", step, split,
                     fmt(scored.summary["auroc_median"]), fmt(scored.summary["auroc_mean"]),
                     scored.summary["labels_defined"], scored.summary["labels_total"])
        keeper.observe(step, selection.score(scored.summary["auroc_mean"], run.names),
                       evaluated, scored.pooled)
        if not keeper.keeps_best:
          # Thresholds and calibration from this evaluation: the card of every later
          # checkpoint says which step and split chose them.
          validation, points = scored.pooled, run.operating_points(scored.pooled, step)
          card = run.card(step, *points, metrics={
              "split": split, "step": step, "examples": scored.summary["examples"],
              "auroc": scored.summary["auroc"],
              "auroc_median": scored.summary["auroc_median"]})
        window.restart()   # evaluation time is not training time
        failpoints.reached("evaluated")

      if step == total:
        break                    # the conclusion saves the last step, with its results
      card = {**card, "training": {**card["training"], "steps": step}}
      preempted = keeper.train_states.reached_preemption(step)
      saved = keeper.save(step, par.to_checkpoint(state), run.arch_json, card,
                          force=preempted or interrupted)
      if saved:
        writer.sync()        # a bucket's metrics reach it with each checkpoint
        failpoints.reached("checkpoint_saving")     # its commit runs in the background
      if saved and jax.process_index() == 0 and not keeper.keeps_best:
        model_card.write(run.workdir, card)
      if interrupted:
        keeper.train_states.wait()     # synchronously: the process is about to exit
        raise interrupt.Interrupted(
            f"{stop.signal_name} at step {step}: saved checkpoint {step} in "
            f"{keeper.train_states.directory}; run the same command again to resume from it")
      if preempted:
        logging.warning("preemption announced: saved step %d and stopping", step)
        return _Trained(par.to_checkpoint(state), card, None, None, preempted=True)
  return _Trained(par.to_checkpoint(state), card, validation, points)


def _conclude(run: _Run, evaluate, model_ckpt, state, step: int, *, validation=None,
              test=None, points=None, card=None, last_finite) -> dict:
  """Every run's end: operating points chosen on validation (the last evaluation's for
  pretraining), the test split scored once with CIs, the model saved with its card by
  `model_ckpt`, then the commit (training.completion): the card, predictions.npz and
  results.json. `state` is in the checkpoint layout; `card` is the card to save when
  there is no test split."""
  config, names = run.config, run.names
  by_source = None
  if validation is None:
    validation = evaluate(config.dataset.eval_split, state, step).pooled
  if points is None:
    points = run.operating_points(validation, step)
  for name, why in points[0]["thresholds_fallback"].items():
    logging.warning("threshold of %s: %s", name, why)
  if test is None and config.dataset.test_split:
    scored = evaluate(config.dataset.test_split, state, step)
    test, by_source = scored.pooled, scored.by_source
  if test is None:            # no test split: the last evaluation's card
    card = card or run.card(step, *points)
    results = {"step": step, "split": None,
               "dataset": config.dataset.mixture or config.dataset.name}
  else:
    results = _test_results(config, run.workdir, names, points[0], step, test, by_source,
                            groups=run.groups)
    results.update(run.start.results)
    if run.start.keep == "best":
      results["best_step"] = int(step)
    card = run.card(step, *points,
                    metrics=card_metrics(results, config.dataset.test_split, step))
  results["total_steps"] = config.total_steps     # what the commit concluded
  keeping.save_finite(model_ckpt, step, state, run.arch_json, card, force=True,
                      last_finite=last_finite)
  model_ckpt.wait()
  failpoints.reached("final_checkpoint_committed")
  predictions = None
  if test is not None:
    (val_s, val_y, _), (test_s, test_y, test_p) = validation, test
    predictions = dict(names=np.array(names), val_labels=val_y, val_log_odds=val_s,
                       test_labels=test_y, test_log_odds=test_s, test_patients=test_p)
  completion.commit(run.workdir, card, results, predictions)
  if "challenge2017" in results:
    score = results["challenge2017"]["score"]
    logging.info("step %d: Challenge 2017 score (mean F1 of normal, AF, other) %s [%s, %s] "
                 "over %d recordings", step, *(fmt(score[k]) for k in
                                              ("value", "ci_low", "ci_high")),
                 results["challenge2017"]["records"])
  return results


def _log_representation(step: int, split: str, summary: dict) -> None:
  probe = ""
  if "knn_auroc_mean" in summary:
    probe = (f"; k-NN probe mean AUROC {fmt(summary['knn_auroc_mean'])} over "
             f"{summary['probe_examples']} ECGs of {summary['probe_split']}")
  logging.info("step %d: %s embedding rank %.1f of %d, spread %.3f%s", step, split,
               summary["embedding_rank"], summary["embedding_width"],
               summary["embedding_std"], probe)


def _conclude_self_supervised(run: _Run, monitor, model_ckpt, state, step: int, *,
                              last_finite) -> dict:
  """A self-supervised run's end: the test split's embeddings scored (and the probe's),
  the encoder saved with a card that has no labels and no thresholds, the commit."""
  config = run.config
  results = {"step": step, "split": config.dataset.test_split or None,
             "dataset": config.dataset.mixture or config.dataset.name,
             # As results.json holds it (lists, not tuples): what a rerun returns.
             "self_supervised": json.loads(json.dumps(
                 dataclasses.asdict(run.start.ssl.objective)))}
  if config.dataset.test_split:
    # The probe's test split too, where it has one: the figures training never chose by.
    summary = monitor(config.dataset.test_split, state, step,
                      probe_split=config.dataset.test_split
                      if config.dataset.test_split in monitor.probe_splits() else None)
    _log_representation(step, config.dataset.test_split, summary)
    results["representation"] = summary
  metrics = ({"split": config.dataset.test_split, "step": step, **results["representation"]}
             if "representation" in results else None)
  card = run.card(step, metrics=metrics)
  results["total_steps"] = config.total_steps     # what the commit concluded
  keeping.save_finite(model_ckpt, step, state, run.arch_json, card, force=True,
                      last_finite=last_finite)
  model_ckpt.wait()
  failpoints.reached("final_checkpoint_committed")
  completion.commit(run.workdir, card, results, None)
  return results


def _test_results(config, workdir, names, points, step, scored, by_source=None,
                  groups=()) -> dict:
  """results.json: the test split at the validation operating points, with CIs (and
  an exclusive group's F1s and confusion matrix); a mixture's adds each source's
  results under `sources` (the top level is the pool)."""
  scores, labels, patients = scored
  results = eval_results.evaluate_predictions(
      names, labels, scores, patients, points, resamples=config.bootstrap_resamples,
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
