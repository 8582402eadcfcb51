"""Fine-tuning: scratch, linear probe or full, then one evaluation on test.

Read top to bottom. Like loop.py, the input comes in as an argument, so this
module runs without TensorFlow.

- `linear_probe`: backbone features are computed once (BatchNorm in inference
  mode), and only the head trains on them, full batch. The backbone is frozen
  by construction and has no optimiser state.
- `full`: everything trains; `lr_multipliers` scale learning rates by regex
  over parameter paths (e.g. `^backbone/=0.1`). By default the head starts from
  the linear probe's (LP-FT) and BatchNorm keeps the pretraining statistics
  (`full_head_init`, `freeze_batch_norm`).
- `scratch`: the same architecture from random initialisation.

In the first two, a label the checkpoint's head already predicts (by name) starts
from that head's column (`head_from_checkpoint`), and the starting model is then a
candidate for selection too (step 0). With `decay_to_start` (decoupled L2-SP,
`optimizers.pull_to_start`) the probe's carried columns and the full fine-tune's
kernels are pulled back toward that start at every step. The model kept is the one
with the best mean validation AUROC (the last one when the validation split can score
no label: a small archive's fold); the test split is evaluated once, at the end, with
thresholds chosen on validation.
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging
from flax import nnx

from ecgjax.evaluation import metrics as eval_metrics, results as eval_results
from ecgjax.models import model_card
from ecgjax.training import (checkpoints, eval_outputs, loop, mesh as mesh_lib, nonfinite,
                             optimizers, progress as progress_lib, steps, transfer, workdir_files)

MODES = ("linear_probe", "full", "scratch")
LEAD_TRANSFERS = ("select", "reinit")


def parse_multipliers(spec: str) -> dict[str, float]:
  """'^backbone/=0.1;^head/=1' -> {'^backbone/': 0.1, '^head/': 1.0}."""
  out = {}
  for item in filter(None, (p.strip() for p in spec.split(";"))):
    pattern, _, value = item.rpartition("=")
    if not pattern:
      raise ValueError(f"lr_multipliers item {item!r}: expected REGEX=FACTOR")
    out[pattern] = float(value)
  return out


def _architecture(config, pretrained):
  """The fine-tuned model's config: the pretraining run's architecture by default."""
  cfg = config.copy_and_resolve_references()
  if pretrained is not None and config.model_from_checkpoint:
    with cfg.unlocked():
      for key, value in pretrained.config["model"].items():
        cfg.model[key] = tuple(value) if isinstance(value, list) else value
  return cfg


class InputContractError(ValueError):
  """The fine-tuning data is not what the pretrained model was trained to read."""


def check_input_contract(pretrained, data_input: dict, init_from: str) -> list[str] | None:
  """Refuses a pretrained backbone whose card expects other signals than the
  fine-tuning dataset holds: filters learnt at 100 Hz mean nothing at 500 Hz.

  Returns the checkpoint's leads when the dataset reads a proper subset of them
  (the stem is then adapted, `lead_transfer`), else None. Leads the checkpoint
  never read are refused: there are no filters to start them from.
  """
  if pretrained.card is None:
    logging.warning("init_from=%s has no model card (written before cards existed): its "
                    "input contract cannot be checked against the dataset", init_from)
    return None
  expected = pretrained.card["input"]
  differ = [f"{key}: checkpoint {expected[key]!r}, dataset {data_input[key]!r}"
            for key in ("sampling_rate", "samples", "units")
            if expected[key] != data_input[key]]
  if differ:
    raise InputContractError(
        f"init_from={init_from}: the pretrained model's input differs from the dataset's "
        f"({'; '.join(differ)}). Build the dataset with the checkpoint's recipe "
        f"({expected['recipe']}) or pretrain on this one.")
  if expected["leads"] == data_input["leads"]:
    return None
  unseen = [n for n in data_input["leads"] if n not in expected["leads"]]
  if unseen:
    raise InputContractError(
        f"init_from={init_from}: the pretrained model read leads {expected['leads']}, the "
        f"dataset gives {data_input['leads']}: no pretrained filters for {unseen}. Choose "
        f"leads among the checkpoint's (config.dataset.leads) or pretrain with them.")
  return list(expected["leads"])


def adapt_stem(pretrained_params: dict, checkpoint_leads, leads, how: str
               ) -> tuple[dict, str, str]:
  """The checkpoint's parameters with a stem for `leads` (a subset of its
  `checkpoint_leads`), the regex of paths to leave freshly initialised, and a
  line for transfer.json.

  `select` keeps the stem's input channels of the chosen leads: the network is
  then exactly the pretrained one fed zeros on the other leads. `reinit` leaves
  the whole stem fresh (its kernel is the only array shaped by the lead count).
  """
  if how == "reinit":
    return pretrained_params, r"^head/|^backbone/stem/", (
        f"backbone/stem re-initialised for leads {list(leads)} (checkpoint read "
        f"{list(checkpoint_leads)})")
  columns = [list(checkpoint_leads).index(n) for n in leads]
  backbone = dict(pretrained_params["backbone"])
  stem = dict(backbone["stem"])
  stem["kernel"] = np.asarray(stem["kernel"])[:, columns, :]
  backbone["stem"] = stem
  return {**pretrained_params, "backbone": backbone}, r"^head/", (
      f"backbone/stem/kernel: input channels of {list(leads)} selected from the "
      f"checkpoint's {list(checkpoint_leads)}")


def _mean_auroc(labels, scores, names) -> float:
  value = eval_metrics.per_label_auroc(labels, scores, names)["auroc_mean"]
  if value is None:
    logging.warning("the validation split scores none of %s (each lacks positives or "
                    "negatives there): the last model is kept, not the best", ", ".join(names))
    return -np.inf
  return value


def keeps(score: float, best_score: float) -> bool:
  """Whether a model scoring `score` on validation replaces the kept one: a better
  score, or, while validation can score no label at all (a small archive's fold
  without positives), the later model."""
  return score > best_score or score == best_score == -np.inf


def run(config, workdir: str, source) -> dict:
  """One fine-tuning run in `workdir`; returns the contents of results.json."""
  os.makedirs(workdir, exist_ok=True)
  names = source.label_names

  # ---- Mesh.
  mesh = mesh_lib.make_data_mesh()
  state_sharding, batch_sharding = mesh_lib.replicated(mesh), mesh_lib.batch_sharded(mesh)

  # ---- Model: a new head on the pretrained backbone, or all new for scratch.
  pretrained = None
  if config.mode != "scratch" or config.init_from:
    pretrained = checkpoints.read_pretrained(config.init_from, config.init_step or None)
  checkpoint_leads = None
  if config.mode != "scratch":
    checkpoint_leads = check_input_contract(pretrained, source.describe()["input"],
                                            config.init_from)
  arch = _architecture(config, pretrained)
  model = loop.build_model(arch, len(names), source.signal_shape[-1])
  graphdef, params, batch_stats = nnx.split(model, nnx.Param, nnx.BatchStat)
  params, batch_stats = nnx.to_pure_dict(params), nnx.to_pure_dict(batch_stats)
  report, leads_entry = None, {}
  if config.mode != "scratch":
    pretrained_params, reinit = pretrained.params, r"^head/"
    if checkpoint_leads is not None:
      pretrained_params, reinit, how = adapt_stem(
          pretrained.params, checkpoint_leads, source.lead_names, config.lead_transfer)
      logging.info("%s", how)
      leads_entry = {"leads": {"checkpoint": checkpoint_leads,
                               "dataset": list(source.lead_names),
                               "lead_transfer": config.lead_transfer, "stem": how}}
    params, batch_stats, report = transfer.load_backbone(
        params, batch_stats, pretrained_params, pretrained.batch_stats,
        source=f"checkpoint {pretrained.directory} step {pretrained.step}", reinit=reinit)
    logging.info("backbone from %s step %d: %s", pretrained.directory, pretrained.step,
                 report.summary())
  carried = []
  if config.mode != "scratch" and config.head_from_checkpoint:
    if pretrained.card is None:
      logging.warning("%s has no model card naming its labels: every head column starts "
                      "fresh", config.init_from)
    else:
      params["head"], carried = transfer.carry_head(
          params["head"], pretrained.params["head"], names, pretrained.card["labels"])
      if carried:
        logging.info("head columns from the checkpoint for %s; the starting model is a "
                     "candidate for selection", ", ".join(carried))
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "transfer.json"), "w") as f:
      json.dump({"mode": config.mode, "init_from": config.init_from,
                 "init_step": pretrained.step if pretrained else None, **leads_entry,
                 **({"loaded": report.loaded, "reinitialised": report.reinitialised,
                     "unused": report.unused, "head_from_checkpoint": carried}
                    if report else {})}, f, indent=2)

  # ---- Train, keeping the best model by validation AUROC.
  carried_columns = np.array([name in carried for name in names], np.float32)
  if config.mode == "linear_probe":
    val_scores, test_scores, best_step, best_params = _linear_probe(
        config, graphdef, params, batch_stats, source, state_sharding, batch_sharding,
        score_start=bool(carried), carried_columns=carried_columns)
    best = (best_params, batch_stats)
  else:
    if config.mode == "full" and config.full_head_init == "linear_probe":
      _, _, probe_step, probed = _linear_probe(config, graphdef, params, batch_stats, source,
                                               state_sharding, batch_sharding, score_test=False,
                                               score_start=bool(carried),
                                               carried_columns=carried_columns)
      params = {**params, "head": probed["head"]}
      logging.info("full fine-tune starts from the linear probe's head (probe step %d)",
                   probe_step)
    # The pull keeps a head column near its start only where that start was trained
    # (carried from the checkpoint, or every column after the probe), not random.
    head_columns_pulled = (np.ones_like(carried_columns) if config.mode == "full" and
                           config.full_head_init == "linear_probe" else carried_columns)
    best_step, best = _train_network(config, graphdef, params, batch_stats, source,
                                     state_sharding, batch_sharding, score_start=bool(carried),
                                     head_columns_pulled=head_columns_pulled)
    eval_step = steps.make_eval_step(graphdef, state_sharding, batch_sharding)
    best_state = jax.device_put(steps.TrainState(step=jnp.zeros((), jnp.int32), params=best[0],
                                                 batch_stats=best[1], opt_state=()),
                                state_sharding)

    def score(local):
      return eval_step(best_state, mesh_lib.global_batch(local, batch_sharding))
    aggregate = config.dataset.eval_aggregate
    val_scores = eval_outputs.collect_predictions(source, config.dataset.eval_split, score,
                                             aggregate=aggregate)
    test_scores = eval_outputs.collect_predictions(source, config.dataset.test_split, score,
                                              aggregate=aggregate)

  # ---- Checkpoint of the selected model, then the one evaluation on test.
  (val_s, val_y, _), (test_s, test_y, test_patients) = val_scores, test_scores
  points = eval_results.operating_points(names, val_y, val_s, config.threshold_rule)
  results = eval_results.evaluate_predictions(
      names, test_y, test_s, test_patients, points, resamples=config.bootstrap_resamples,
      seed=config.seed)
  results.update(mode=config.mode, train_size=config.train_size, seed=config.seed,
                 train_examples=source.train_examples, best_step=int(best_step),
                 split=config.dataset.test_split)
  card = model_card.build(
      task=f"finetune/{config.mode}", label_names=names, data=source.describe(),
      model=loop.describe_model(arch, model, source.signal_shape[-1]), steps=int(best_step),
      operating_points=points,
      points_from={"split": config.dataset.eval_split, "step": int(best_step),
                   "examples": len(val_y)},
      metrics=loop.card_metrics(results, config.dataset.test_split, int(best_step)),
      init_from={"directory": pretrained.directory, "step": pretrained.step} if (
          pretrained is not None and config.mode != "scratch") else None,
      extra_training={"mode": config.mode, "train_size": config.train_size,
                      "seed": config.seed})
  ckpt = checkpoints.Checkpointer(checkpoints.checkpoint_dir(workdir),
                                  max_to_keep=1, save_every=1)
  final = steps.TrainState(step=jnp.asarray(best_step, jnp.int32), params=best[0],
                           batch_stats=best[1], opt_state=())
  ckpt.save(max(best_step, 1), jax.device_put(final, state_sharding),
            json.loads(arch.to_json_best_effort()), card, force=True)
  ckpt.wait()
  ckpt.close()
  if jax.process_index() == 0:
    np.savez_compressed(os.path.join(workdir, "predictions.npz"), names=np.array(names),
                        val_labels=val_y, val_scores=val_s, test_labels=test_y,
                        test_scores=test_s, test_patients=test_patients)
    model_card.write(workdir, card)
    workdir_files.write_json(os.path.join(workdir, "results.json"), results)
  logging.info("%s: test median AUROC %s over %d/%d labels", config.mode,
               results["medians"]["auroc"]["value"],
               results["medians"]["auroc"]["labels_covered"], len(names))
  if "challenge2017" in results:
    score = results["challenge2017"]["score"]
    logging.info("%s: Challenge 2017 score (mean F1 of normal, AF, other) %s [%s, %s] over "
                 "%d recordings", config.mode, *(loop._fmt(score[k]) for k in
                                                 ("value", "ci_low", "ci_high")),
                 results["challenge2017"]["records"])
  return results


def _train_network(config, graphdef, params, batch_stats, source, state_sharding,
                   batch_sharding, score_start: bool = False, head_columns_pulled=None):
  """Full fine-tune or scratch: the sharded step, validation every `eval_every`; with
  `score_start`, the starting model too (step 0: a head carried from the checkpoint
  may already be better than what a small training set makes of it). A full fine-tune
  with `decay_to_start` pulls every kernel toward its start, the head's kernel only in
  `head_columns_pulled` (1 per label column pulled, 0 for a random one)."""
  full = config.mode == "full"
  multipliers = parse_multipliers(config.lr_multipliers) if full else {}
  pulled = None
  if full and config.decay_to_start:
    pulled = optimizers.kernels_only(params)
    pulled["head"]["kernel"] = jnp.asarray(head_columns_pulled)
  tx = optimizers.make_optimizer(config.optimizer, config.total_steps, params=params,
                                 lr_multipliers=multipliers,
                                 decay_to_start=config.decay_to_start if full else 0.0,
                                 start_weights=pulled)
  state = jax.device_put(steps.TrainState(step=jnp.zeros((), jnp.int32), params=params,
                                          batch_stats=batch_stats, opt_state=tx.init(params)),
                         state_sharding)
  train_step = steps.make_train_step(
      graphdef, tx, config.seed, state_sharding, batch_sharding,
      freeze_batch_norm=config.mode == "full" and config.freeze_batch_norm,
      skip_nonfinite=config.nonfinite == "skip_step")
  eval_step = steps.make_eval_step(graphdef, state_sharding, batch_sharding)
  batches = source.train_batches(0)

  def validation_score(state) -> float:
    scores, labels, _ = eval_outputs.collect_predictions(
        source, config.dataset.eval_split,
        lambda local: eval_step(state, mesh_lib.global_batch(local, batch_sharding)),
        aggregate=config.dataset.eval_aggregate)
    return _mean_auroc(labels, scores, source.label_names)

  best_score, best_step, best = -np.inf, 0, None
  if score_start:
    best_score = validation_score(state)
    best = jax.device_get((state.params, state.batch_stats))
    logging.info("step 0: validation mean AUROC %.4f", best_score)
  guard = nonfinite.Guard(config.nonfinite, config.max_consecutive_skips)
  progress = progress_lib.Progress(config.total_steps)
  pending = []
  for step in range(1, config.total_steps + 1):
    state, m = train_step(state, mesh_lib.global_batch(next(batches), batch_sharding))
    pending.append(m)
    if step % config.eval_every == 0 or step == config.total_steps:
      window = jax.device_get(pending)
      flags = np.array([w["finite"] for w in window], bool)
      # Nothing of this run is saved until it ends; the best model so far is finite.
      guard.check_window(step - len(window) + 1, flags, [w["loss"] for w in window],
                         lambda: f"the best model so far is from step {best_step}"
                         if best is not None else "no model of this run was kept")
      score = validation_score(state)
      logging.info("step %d: train loss %.4f, validation mean AUROC %.4f%s; %s", step,
                   nonfinite.finite_mean([w["loss"] for w in window], flags), score,
                   f" ({(~flags).sum()} non-finite steps skipped)" if not flags.all() else "",
                   progress.text(step))
      pending = []
      if keeps(score, best_score):
        best_score, best_step = score, step
        best = jax.device_get((state.params, state.batch_stats))
  return best_step, best


def _linear_probe(config, graphdef, params, batch_stats, source, state_sharding,
                  batch_sharding, carried_columns: np.ndarray, score_test: bool = True,
                  score_start: bool = False):
  """Head-only training on cached backbone features (full batch, AdamW).

  With `score_test=False` (the head for LP-FT) the test split is not read and
  its scores come back as None. With `score_start`, the starting head (carried from
  the checkpoint) is a candidate too, as step 0. `decay_to_start` pulls the kernel
  columns marked in `carried_columns` (1 per carried label) toward their start.
  """
  model = nnx.merge(graphdef, params, batch_stats, copy=True)
  backbone_graph, backbone_state = nnx.split(model.backbone)
  backbone_state = jax.device_put(backbone_state, state_sharding)

  @jax.jit
  def features(state, signal):
    return nnx.merge(backbone_graph, state, copy=True)(steps.signal_to_model_input(signal),
                                                       train=False)

  def extract(split, training_set=False):
    # Features per window; the head's scores are aggregated per recording below.
    return eval_outputs.collect_outputs(source, split, lambda local: features(
        backbone_state, mesh_lib.global_batch(local, batch_sharding)["signal"]),
        training_set=training_set)

  train_x, train_y, _, _ = extract(config.dataset.train_split, training_set=True)
  val_x, val_y, val_p, val_r = extract(config.dataset.eval_split)
  if score_test:
    test_x, test_y, test_p, test_r = extract(config.dataset.test_split)
  logging.info("linear probe on %d training features of width %d", *train_x.shape)
  train_mask = eval_metrics.annotated(train_y).astype(np.float32)   # NaN: not annotated
  train_y = np.nan_to_num(train_y)

  head = params["head"]
  probe_optimizer = config.optimizer.copy_and_resolve_references()
  probe_optimizer.learning_rate = config.probe_learning_rate
  pull = config.decay_to_start if carried_columns.any() else 0.0
  tx = optimizers.make_optimizer(
      probe_optimizer, config.total_steps, decay_to_start=pull,
      start_weights={"kernel": jnp.asarray(carried_columns), "bias": 0.0} if pull else None)
  opt_state = tx.init(head)

  def logits(h, x):
    return x @ h["kernel"] + h["bias"]

  @jax.jit
  def train_chunk(h, opt_state, n):
    def body(_, carry):
      h, opt_state = carry
      grads = jax.grad(lambda h: steps.multilabel_bce(logits(h, train_x), train_y,
                                                      train_mask))(h)
      updates, opt_state = tx.update(grads, opt_state, h)
      return optax.apply_updates(h, updates), opt_state
    return jax.lax.fori_loop(0, n, body, (h, opt_state))

  def scored(h, x, y, patients, recordings):
    """(probabilities, labels, patients), one row per recording."""
    return eval_outputs.aggregate_recordings(np.asarray(jax.nn.sigmoid(logits(h, x))), y, patients,
                                        recordings, config.dataset.eval_aggregate)

  def validation_auroc(h) -> float:
    scores, labels, _ = scored(h, val_x, val_y, val_p, val_r)
    return _mean_auroc(labels, scores, source.label_names)

  best_score, best_step, best_head = -np.inf, 0, head
  if score_start:
    best_score, best_head = validation_auroc(head), jax.device_get(head)
  step = 0
  while step < config.total_steps:
    n = min(config.eval_every, config.total_steps - step)
    head, opt_state = train_chunk(head, opt_state, n)
    step += n
    if not bool(nonfinite.all_finite(head)):
      raise nonfinite.NonFiniteError(
          f"linear probe, step {step}: the head's weights are NaN or infinite; lower "
          f"--config.probe_learning_rate (now {config.probe_learning_rate})")
    score = validation_auroc(head)
    if keeps(score, best_score):
      best_score, best_step, best_head = score, step, jax.device_get(head)
  logging.info("linear probe: best validation mean AUROC %.4f at step %d", best_score,
               best_step)
  val = scored(best_head, val_x, val_y, val_p, val_r)
  test = scored(best_head, test_x, test_y, test_p, test_r) if score_test else None
  return val, test, best_step, {**params, "head": best_head}
