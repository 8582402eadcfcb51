"""Fine-tunes of one shape trained as one program: a stacked group.

The runs of a sweep with one mode differ only in what is each run's own: its seed (its
starting network or probe head, its dropout stream), its patients (training-set size
and subset) and its data order. Their train states are stacked on a leading run axis,
and one compiled step updates all of them (steps.stacked_train_step_fn: jax.vmap of the
step a run takes alone, over parameters, BatchNorm statistics, optimiser states, dropout
keys and batches); one pass over the validation split scores all of them
(steps.stacked_eval_step_fn). One compilation and one launch per step serve the group.

Each run keeps everything else of its own, as training.loop gives a run alone: its input
stream, metrics.jsonl, the model it selects (best validation mean AUROC), and its
conclusion (operating points, test, card, checkpoint, results.json), made by the loop's
own `_conclude`. A run trained in a group and the same run trained alone give the same
losses, the same selected step and the same test figures to float32 rounding
(tests/test_stacked_runs.py).

Resume: the group's stacked train state and the models its runs keep so far are one
checkpoint (GROUP_DIR/resume), committed as one unit, as a lone fine-tune's resume/ is.
A run whose results were committed before a kill is not trained again: the group goes on
with the others' rows of that checkpoint. The stack axis is not sharded: each device
holds every run's state and its share of every run's batch (the mesh's `data` axis is
the batch's second axis). Tested on 8 simulated devices; a group across two processes
is written for (every host array here is replicated or gathered) but not yet run.
"""

import contextlib
import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

from ecgjax import failpoints, storage
from ecgjax.evaluation import metrics as eval_metrics
from ecgjax.training import (checkpoints, eval_outputs, evaluating, interrupt, keeping, loop,
                             mesh as mesh_lib, model_init, nonfinite, optimizers, parallel,
                             progress as progress_lib, run_spec, selection, steps)
from ecgjax.training.metric_writer import MetricWriter

RESUME_DIR = "resume"
# The modes a group trains. The probes train a head on cached features in seconds
# (training.linear_probe): their cost is the features, not steps to share.
STACKABLE_MODES = ("scratch", "full")
# stack_size=0 (auto): the group size on an accelerator. On a CPU a vmapped convolution
# with a kernel per run becomes a grouped convolution that XLA:CPU runs at 0.59-0.74x the
# ECGs per second of one run's (benchmarks/stacked_sweep.py, 2-core CPU, 2-8 runs), more
# than the compilations it saves: there the default is one run at a time.
ACCELERATOR_STACK_SIZE = 8


def resolve_stack_size(stack_size: int, backend: str | None = None) -> int:
  """`config.stack_size`, with 0 (auto) resolved for the backend that will train."""
  if stack_size:
    return stack_size
  return 1 if (backend or jax.default_backend()) == "cpu" else ACCELERATOR_STACK_SIZE


# Config fields that may differ between the runs of one group; every other must be equal.
PER_RUN_FIELDS = ("seed", "train_size")


class GroupTooLargeError(ValueError):
  """A stacked group whose compiled step needs more memory than a device has."""


# The share of a device's memory a group's step may plan for: the rest is the input
# pipeline's and the allocator's.
MEMORY_HEADROOM = 0.9


def bytes_needed(compiled) -> int | None:
  """What a compiled program holds at once on a device, by XLA's buffer assignment:
  its peak where the backend reports one, else arguments, outputs and temporaries."""
  stats = compiled.memory_analysis()
  if stats is None:
    return None
  planned = (stats.argument_size_in_bytes + stats.output_size_in_bytes
             - stats.alias_size_in_bytes + stats.temp_size_in_bytes)
  return max(getattr(stats, "peak_memory_in_bytes", 0) or 0, planned)


def check_fits(needed: int | None, limit: int | None, runs: int, device_kind: str) -> None:
  """Refuses a group whose step needs more than MEMORY_HEADROOM of the device's memory
  (`limit`: the device's bytes_limit; a CPU reports none, and is not checked)."""
  if not needed or not limit or needed <= MEMORY_HEADROOM * limit:
    return
  gib = 2 ** 30
  raise GroupTooLargeError(
      f"a stacked group of {runs} runs needs {needed / gib:.1f} GiB per device for its train "
      f"step, more than {MEMORY_HEADROOM:.0%} of the {limit / gib:.1f} GiB of a {device_kind} "
      f"(about {needed / runs / gib:.2f} GiB per run): lower --config.stack_size, to "
      f"{max(1, int(MEMORY_HEADROOM * limit // (needed / runs)))} or fewer")


@dataclasses.dataclass
class Member:
  """One run of a group, set up as fine_tuning sets up a run alone."""
  config: object
  spec: run_spec.RunSpec
  workdir: str
  source: object          # its own input: its patients, its order (loop.InputSource)
  start: model_init.Start


def why_not_stacked(configs) -> str | None:
  """Why these runs cannot share one program, or None when they can."""
  first = configs[0]
  if first.mode not in STACKABLE_MODES:
    return (f"{first.mode} trains a head on cached backbone features, in seconds "
            "(training.linear_probe): it runs one run at a time")
  if first.parallelism != "jit":
    return "parallelism=pmap maps the step over its own device axis; stacking needs jit"
  if first.dataset.mixture:
    return "a mixture's sources are scored one by one"
  if first.decay_to_start:
    return ("decay_to_start pulls each run toward its own start, which its optimiser "
            "holds: one optimiser cannot serve the group")
  fields = _shared_fields(first)
  for c in configs[1:]:
    if _shared_fields(c) != fields:
      differs = sorted(k for k in fields if _shared_fields(c).get(k) != fields[k])
      return f"the runs differ in {', '.join(differs)}"
  return None


def _shared_fields(config) -> dict:
  flat = {}

  def walk(tree, prefix):
    for key, value in tree.items():
      if hasattr(value, "items"):
        walk(value, f"{prefix}{key}.")
      elif f"{prefix}{key}" not in PER_RUN_FIELDS:
        flat[f"{prefix}{key}"] = value
  walk(config.to_dict() if hasattr(config, "to_dict") else config, "")
  return flat


def run_group(members: list[Member], group_dir: str) -> list[dict]:
  """Trains (or resumes) the members as one program, then concludes each; returns
  their results.json contents ({} for every run when an announced preemption stopped
  the group after a save). Raises interrupt.Interrupted after saving on SIGTERM or
  SIGINT, as a lone run does."""
  with interrupt.StopRequest() as stop, stop.during("training"):
    return _Group(members, group_dir, stop).run()


class _Group:

  def __init__(self, members: list[Member], group_dir: str, stop):
    reason = why_not_stacked([m.config for m in members])
    if reason:
      raise ValueError(f"these runs cannot train as one group: {reason}")
    self.members, self.stop = members, stop
    self.config = members[0].config
    # The conclusions run as a lone run's, on its mesh; the stacked steps on a mesh of
    # the same devices whose axis XLA shards (mesh_lib.make_data_mesh).
    self.par = parallel.make("jit", mesh_lib.make_data_mesh())
    self.mesh = mesh_lib.make_data_mesh(explicit=False)
    self.runs = [loop._Run.make(m.config, m.spec, m.workdir, m.source, m.start, self.par)
                 for m in members]
    self.graphdef = nnx.graphdef(members[0].start.model)
    self.replicated = mesh_lib.replicated(self.mesh)
    # (run, batch, ...): every run's batch split over the devices like a lone run's.
    self.batch_sharding = NamedSharding(self.mesh, PartitionSpec(None, mesh_lib.DATA_AXIS))
    self.resume = checkpoints.Checkpointer(storage.join(group_dir, RESUME_DIR), max_to_keep=1,
                                           save_every=self.config.checkpoint_every)
    self.kept: list[keeping.Kept | None] = [None] * len(members)
    self.eval_batch_sharding = mesh_lib.batch_sharded(self.mesh)
    self.eval_step = jax.jit(steps.stacked_eval_step_fn(self.graphdef),
                             in_shardings=(self.replicated, self.eval_batch_sharding),
                             out_shardings=self.eval_batch_sharding)

  @property
  def workdirs(self) -> list[str]:
    return [m.workdir for m in self.members]

  # ---- The stacked state and its checkpoint.
  def _initial_state(self):
    states = [steps.TrainState(step=jnp.zeros((), jnp.int32), params=m.start.params,
                               batch_stats=m.start.batch_stats,
                               opt_state=m.start.tx.init(m.start.params))
              for m in self.members]
    return jax.device_put(jax.tree.map(lambda *rows: jnp.stack(rows), *states),
                          self.replicated)

  def _restore(self, step: int, state):
    """The saved group's rows of these members (a member whose run finished since is
    not among them); None when the saved group does not hold every member."""
    saved = self.resume.restore_config(step)["members"]
    if not set(self.workdirs) <= set(saved):
      logging.warning("the group saved at step %d held %s: its runs start again", step,
                      ", ".join(saved))
      return None
    rows = np.array([saved.index(w) for w in self.workdirs])

    def like(x):
      return jax.ShapeDtypeStruct((len(saved), *x.shape[1:]), x.dtype, sharding=x.sharding)

    restored = self.resume.restore_state(step, jax.tree.map(like, state))
    weights = {"params": state.params, "batch_stats": state.batch_stats}
    kept = self.resume.restore_kept(step, jax.tree.map(like, weights))
    if kept is not None:
      host, info = jax.device_get(kept[0]), kept[1]
      for k, row in enumerate(rows):
        if info["steps"][row] is not None:
          score = info["scores"][row]
          self.kept[k] = keeping.Kept(
              info["steps"][row], -np.inf if score is None else score,
              jax.tree.map(lambda x: x[row], host["params"]),
              jax.tree.map(lambda x: x[row], host["batch_stats"]))
    return jax.tree.map(lambda x: x[rows], restored)

  def _save(self, step: int, state, *, force: bool) -> bool:
    if not self.resume.would_save(step, force):
      return False
    if not bool(jax.device_get(nonfinite.all_finite((state.params, state.batch_stats)))):
      self.resume.wait()
      raise nonfinite.NonFiniteError(
          f"step {step}: a run of the group {', '.join(self.workdirs)} holds NaN or "
          f"infinity; not saved. Try: {nonfinite.ADVICE}")
    # A run that kept no model yet saves its current weights in its row, marked so.
    host = jax.device_get({"params": state.params, "batch_stats": state.batch_stats})
    rows = [{"params": kept.params, "batch_stats": kept.batch_stats} if kept else
            jax.tree.map(lambda x, k=k: x[k], host) for k, kept in enumerate(self.kept)]
    weights = jax.tree.map(lambda *r: np.stack(r), *rows)
    info = {"steps": [kept.step if kept else None for kept in self.kept],
            "scores": [None if not kept or kept.score == -np.inf else kept.score
                       for kept in self.kept]}
    group = {"members": self.workdirs, "seeds": [m.config.seed for m in self.members]}
    return self.resume.save(step, state, group, {"stacked_group": group}, force=True,
                            kept=(weights, info))

  # ---- Scoring every run on one split in one pass.
  def _evaluate(self, split: str, state, step: int) -> list[evaluating.Scored]:
    source = self.members[0].source
    scores, labels, patients, recordings = eval_outputs.collect_outputs(
        source, split, lambda local: self.eval_step(
            state, mesh_lib.global_batch(local, self.eval_batch_sharding)))
    groups = self.members[0].start.model.exclusive_groups
    out = []
    for k, run in enumerate(self.runs):
      try:
        nonfinite.check_predictions(scores[:, k], split)
      except nonfinite.NonFiniteError as e:
        raise nonfinite.NonFiniteError(f"step {step}: {run.workdir}: {e}") from e
      pooled = eval_outputs.aggregate_recordings(
          scores[:, k], labels, patients, recordings, self.config.dataset.eval_aggregate,
          groups)
      summary = eval_metrics.per_label_auroc(pooled[1], pooled[0], run.names)
      summary["examples"] = len(pooled[1])
      out.append(evaluating.Scored(summary, pooled, {None: pooled}))
    return out

  def _observe(self, step: int, scored: list[evaluating.Scored], state) -> None:
    """Each run keeps its model where its validation score improved."""
    better = []
    for k, (run, s) in enumerate(zip(self.runs, scored)):
      score = selection.score(s.summary["auroc_mean"], run.names)
      if self.kept[k] is None or selection.keeps(score, self.kept[k].score):
        better.append((k, score))
    if not better:
      return
    params, batch_stats = jax.device_get((state.params, state.batch_stats))
    for k, score in better:
      self.kept[k] = keeping.Kept(step, score, jax.tree.map(lambda x: x[k], params),
                                  jax.tree.map(lambda x: x[k], batch_stats))

  def _last_finite(self, k: int):
    return lambda: (f"the model kept so far is from step {self.kept[k].step}"
                    if self.kept[k] is not None else "no model of this run was kept")

  # ---- The run.
  def run(self) -> list[dict]:
    config, total = self.config, self.config.total_steps
    logging.info("stacked group of %d runs (%s) on %d devices, %d processes: %s",
                 len(self.members), config.mode, jax.device_count(), jax.process_count(),
                 ", ".join(self.workdirs))
    with self.resume:
      state = self._initial_state()
      first_step = self.resume.latest_step() or 0
      if first_step:
        restored = self._restore(first_step, state)
        if restored is None:
          first_step = 0
        else:
          state = restored
          logging.info("group resumed from step %d", first_step)
      start = self.members[0].start
      if not first_step and start.score_start:
        self._observe(0, self._evaluate(config.dataset.eval_split, state, 0), state)
      if first_step < total:
        state = self._train(state, first_step)
        if state is None:
          return [{} for _ in self.members]
    # ---- Each run's conclusion, as a lone run's: its kept model, operating points on
    # validation, test, card, checkpoint, commit. A signal now lets them be written.
    results = []
    lone_eval = self.par.eval_step(self.graphdef)
    with self.stop.during("concluding"):
      for k, (member, run) in enumerate(zip(self.members, self.runs)):
        kept = self.kept[k]
        evaluate = evaluating.Evaluator(
            member.source, self.par, self.graphdef, aggregate=config.dataset.eval_aggregate,
            groups=member.start.model.exclusive_groups, names=run.names,
            last_finite=self._last_finite(k), eval_step=lone_eval)
        final = run.placed(kept.params, kept.batch_stats, kept.step)
        with keeping.model_checkpointer(member.workdir) as model_ckpt:
          results.append(loop._conclude(run, evaluate, model_ckpt, final, kept.step,
                                        last_finite=self._last_finite(k)))
        failpoints.reached("group_member_concluded")
    return results

  def _train(self, state, first_step: int):
    """Steps first_step+1 .. total for every run; None when a preemption stopped it."""
    config, total, members = self.config, self.config.total_steps, self.members
    streams = [m.source.train_batches(first_step) for m in members]
    # Made by a program over the mesh: a key array made on this process's devices and
    # then put on the mesh would not be addressable from here with two processes.
    seeds = np.asarray([m.config.seed for m in members], np.uint32)
    keys = jax.jit(jax.vmap(jax.random.key), out_shardings=self.replicated)(seeds)

    def next_batch():
      local = jax.tree.map(lambda *rows: np.stack(rows), *[next(s) for s in streams])
      return mesh_lib.global_batch(local, self.batch_sharding)

    logging.info("compiling the stacked train step (%d runs)", len(members))
    failpoints.reached("compiling")
    batch = next_batch()
    start = members[0].start
    step_fn = jax.jit(
        steps.stacked_train_step_fn(self.graphdef, start.tx, start.freeze_batch_norm,
                                    config.nonfinite == "skip_step"),
        in_shardings=(self.replicated, self.batch_sharding, self.replicated),
        out_shardings=(self.replicated, None), donate_argnums=0)
    train_step = step_fn.lower(state, batch, keys).compile()
    device = jax.local_devices()[0]
    check_fits(bytes_needed(train_step), (device.memory_stats() or {}).get("bytes_limit"),
               len(members), device.device_kind)
    guards = [nonfinite.Guard(config.nonfinite, config.max_consecutive_skips) for _ in members]
    schedule = optimizers.learning_rate_schedule(self.members[0].spec.optimizer, total)
    progress = progress_lib.Progress(total, first_step)
    pending, window_start = [], time.perf_counter()
    in_flight = None
    with contextlib.ExitStack() as files:
      writers = [files.enter_context(MetricWriter(m.workdir, resume_step=first_step))
                 for m in members]
      for step in range(first_step + 1, total + 1):
        if batch is None:
          batch = next_batch()
        state, metrics = train_step(state, batch, keys)
        batch = None
        pending.append(metrics)
        if in_flight is not None:         # at most two steps in flight (training.loop)
          jax.block_until_ready(in_flight)
        in_flight = metrics
        failpoints.reached("step")
        interrupted = self.stop.requested and step < total
        evaluating_now = step % config.eval_every == 0 or step == total
        if step % config.log_every == 0 or evaluating_now or interrupted:
          self._log(step, pending, time.perf_counter() - window_start, schedule, writers,
                    guards, progress)
          pending, window_start = [], time.perf_counter()
          failpoints.reached("logged")
        if evaluating_now:
          split = config.dataset.eval_split
          scored = self._evaluate(split, state, step)
          for writer, s in zip(writers, scored):
            writer.write(step, {"split": split, **s.summary})
          logging.info("step %d: %s mean AUROC per run %s", step, split,
                       ", ".join(evaluating.fmt(s.summary["auroc_mean"]) for s in scored))
          self._observe(step, scored, state)
          window_start = time.perf_counter()       # evaluation time is not training time
          failpoints.reached("evaluated")
        if step == total:
          break                 # each run's conclusion saves its kept model
        preempted = self.resume.reached_preemption(step)
        saved = self._save(step, state, force=preempted or interrupted)
        if saved:
          for writer in writers:
            writer.sync()
          failpoints.reached("checkpoint_saving")
        if interrupted:
          self.resume.wait()
          raise interrupt.Interrupted(
              f"{self.stop.signal_name} at step {step}: saved the group's checkpoint "
              f"{step} in {self.resume.directory}; run the same command again to resume")
        if preempted:
          logging.warning("preemption announced: saved step %d and stopping", step)
          return None
    return state

  def _log(self, step, pending, elapsed, schedule, writers, guards, progress) -> None:
    """Each run's training line in its metrics.jsonl: one host sync for the group."""
    host = jax.device_get(pending)
    n, batch = len(host), self.config.batch_size
    losses = np.array([m["loss"] for m in host])            # (steps, runs)
    norms = np.array([m["grad_norm"] for m in host])
    flags = np.array([m["finite"] for m in host], bool)
    for k, (writer, guard) in enumerate(zip(writers, guards)):
      writer.write(step, {
          "loss": nonfinite.finite_mean(losses[:, k], flags[:, k]),
          "grad_norm": nonfinite.finite_mean(norms[:, k], flags[:, k]),
          "nonfinite_steps": int((~flags[:, k]).sum()),
          "learning_rate": float(schedule(step - 1)),
          # This run's ECGs per second of the group's time; the group trains
          # `stacked_runs` times as many.
          "ecg_per_sec": n * batch / elapsed,
          "ecg_per_sec_per_device": n * batch / elapsed / jax.device_count(),
          "step_time_s": elapsed / n, "stacked_runs": len(self.members)})
      skipped = guard.check_window(step - n + 1, flags[:, k], losses[:, k],
                                   self._last_finite(k))
      if skipped:
        logging.warning("step %d: %s: %d non-finite steps in this window were skipped", step,
                        self.members[k].workdir, skipped)
    logging.info("step %d/%d: train loss per run %s; %d runs, %.1f ECG/s in all; %s", step,
                 self.config.total_steps,
                 ", ".join(f"{nonfinite.finite_mean(losses[:, k], flags[:, k]):.4f}"
                           for k in range(losses.shape[1])),
                 len(self.members), n * batch * len(self.members) / elapsed, progress.text(step))
