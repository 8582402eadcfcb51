"""Where a run's network starts, and which of its models the run keeps.

Pretraining starts from a fresh initialisation and keeps its last step. A
fine-tuning mode starts from a pretraining checkpoint (`init_from`), the config's
equivalent of big_vision's `model_init`:

- `linear_probe`: backbone features are computed once (BatchNorm in inference
  mode), and only the head trains on them, full batch (training.linear_probe). The
  backbone is frozen by construction and has no optimiser state.
- `full`: everything trains; `lr_multipliers` scale learning rates by regex over
  parameter paths (e.g. `^backbone/=0.1`). By default the head starts from the
  linear probe's (LP-FT) and BatchNorm keeps the pretraining statistics
  (`full_head_init`, `freeze_batch_norm`).
- `scratch`: the same architecture from random initialisation.
- `random_probe`: the linear probe on that random, frozen initialisation: the control
  (Berger et al., arXiv 2602.17531, found it matching pretrained ECG encoders on many
  tasks) that says how much of a probe's score the pretraining earned.

In the first two, a label the checkpoint's head already predicts (by name) starts
from that head's column (`head_from_checkpoint`), and the starting model is then a
candidate for selection too (step 0). With `decay_to_start` (decoupled L2-SP,
`optimizers.pull_to_start`) the probe's carried columns and the full fine-tune's
kernels are pulled back toward that start at every step. A fine-tune keeps the
model with the best mean validation AUROC (the last one when the validation split
can score no label: a small archive's fold).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from flax import nnx

from ecgjax import storage
from ecgjax.models import (construction, head, model_card, resnet1d,
                           self_supervised as ssl_model)
from ecgjax.training import (checkpoints, linear_probe, mesh as mesh_lib, optimizers, run_spec,
                             self_supervised, transfer)

MODES = ("linear_probe", "full", "scratch", "random_probe")
# The modes that start from the checkpoint's weights; the others take only its
# architecture (and need no checkpoint at all).
PRETRAINED_MODES = ("linear_probe", "full")
# The modes that train the head alone, on frozen backbone features.
PROBE_MODES = ("linear_probe", "random_probe")
LEAD_TRANSFERS = ("select", "reinit")


def build_model(model_config: resnet1d.ResNet1DConfig, num_labels: int, in_leads: int,
                seed: int, exclusive_groups: head.Groups = (), *,
                weights: str = "drawn") -> resnet1d.ResNet1D:
  """The network, its weights `drawn` from `seed` (models.construction.initialised) or
  `abstract` (shapes only: every weight is about to be loaded from a checkpoint)."""
  if weights not in ("drawn", "abstract"):
    raise ValueError(f"weights={weights!r}: expected 'drawn' or 'abstract'")
  groups = tuple(tuple(int(k) for k in g) for g in exclusive_groups)
  if weights == "abstract":
    return construction.abstract(lambda: resnet1d.ResNet1D(
        model_config, num_labels, in_leads, rngs=nnx.Rngs(params=seed),
        exclusive_groups=groups))
  return construction.initialised(resnet1d.ResNet1D, model_config, num_labels, in_leads,
                                  seed=seed, exclusive_groups=groups)


def parse_multipliers(spec: str) -> dict[str, float]:
  """'^backbone/=0.1;^head/=1' -> {'^backbone/': 0.1, '^head/': 1.0}."""
  out = {}
  for item in filter(None, (p.strip() for p in spec.split(";"))):
    pattern, _, value = item.rpartition("=")
    if not pattern:
      raise ValueError(f"lr_multipliers item {item!r}: expected REGEX=FACTOR")
    out[pattern] = float(value)
  return out


@dataclasses.dataclass
class Start:
  """A run's network before its first step and how it trains from there."""
  task: str                          # the model card's task: pretrain, finetune/MODE
  arch: object                       # the config saved with checkpoints: its `model` is
                                     # `model_config`'s fields
  model_config: resnet1d.ResNet1DConfig
  model: resnet1d.ResNet1D           # built from `model_config` (fresh weights)
  params: dict                       # the starting weights, pure dicts
  batch_stats: dict
  tx: object                         # the optimiser (optax)
  keep: str = "last"                 # "last" (pretraining) or "best" validation mean AUROC
  freeze_batch_norm: bool = False
  head_only: bool = False            # the linear probe: the head trains on backbone features
  score_start: bool = False          # "best": the starting model is a candidate (step 0)
  carried_columns: np.ndarray | None = None   # head columns carried from the checkpoint
  init_from: dict | None = None      # the card's record of the checkpoint started from
  card_training: dict = dataclasses.field(default_factory=dict)
  results: dict = dataclasses.field(default_factory=dict)   # added to results.json
  # Self-supervised pretraining: the objective the step trains, and the card's
  # `embedding` entry (what the encoder is, and is not).
  ssl: self_supervised.SelfSupervision | None = None
  embedding_entry: dict | None = None


def fresh(config, spec: run_spec.RunSpec, source) -> Start:
  """Pretraining: a new network, AdamW over every parameter, the last step kept."""
  model = build_model(spec.model, len(source.label_names), source.signal_shape[-1],
                      config.seed, head.group_indices(source.label_names, spec.exclusive_labels))
  params, batch_stats = _pure_weights(model)
  return Start(task="pretrain", arch=config, model_config=spec.model, model=model,
               params=params, batch_stats=batch_stats,
               tx=optimizers.make_optimizer(spec.optimizer, config.total_steps))


def self_supervised_start(config, spec: run_spec.RunSpec, source,
                          objective: self_supervised.Objective) -> Start:
  """Self-supervised pretraining: the backbone and a projector, AdamW over every
  parameter, the last step kept; the views' length from the data's sampling rate. The
  backbone is fresh, or (`init_from`) a checkpoint's, with its architecture: a
  supervised (or synthetic) model pretrained further without labels."""
  samples, leads = source.signal_shape
  pretrained = None
  if config.init_from:
    pretrained = checkpoints.read_pretrained(config.init_from, config.init_step or None)
    if transfer.check_input_contract(pretrained, source.describe()["input"],
                                     config.init_from) is not None:
      raise transfer.InputContractError(
          f"init_from={config.init_from}: a self-supervised run continues a backbone on "
          "the leads it read; choose them all (config.dataset.leads)")
  arch, model_config = _architecture(config, spec, pretrained)
  model = construction.initialised(ssl_model.SelfSupervisedNet, model_config,
                                   tuple(objective.projector), leads, seed=config.seed)
  params, batch_stats = _pure_weights(model)
  init_from = None
  if pretrained is not None:
    params, batch_stats, report = transfer.load_backbone(
        params, batch_stats, pretrained.params, pretrained.batch_stats,
        source=f"checkpoint {pretrained.directory} step {pretrained.step}",
        reinit=r"^projector/")
    logging.info("backbone from %s step %d: %s", pretrained.directory, pretrained.step,
                 report.summary())
    init_from = {"directory": pretrained.directory, "step": pretrained.step}
  task = self_supervised.SelfSupervision(
      objective, objective.view_samples(source.sampling_rate, samples))
  return Start(
      task="self_supervised", arch=arch, model_config=model_config, model=model,
      params=params, batch_stats=batch_stats, init_from=init_from,
      tx=optimizers.make_optimizer(spec.optimizer, config.total_steps), ssl=task,
      embedding_entry={
          "features": model.backbone.features,
          "objective": dataclasses.asdict(objective),
          "view_samples": task.view_samples,
          "what_it_is": "an ECG encoder trained without labels: the backbone's pooled "
                        "features are its embedding of an ECG",
          "what_it_is_not": "a classifier: it has no labels and no thresholds; use "
                            "`predict --embeddings`, or fine-tune it (init_from) with a "
                            "new head"})


def from_config(config, spec: run_spec.RunSpec, source, workdir: str) -> Start:
  """A fine-tuning mode's start; writes `transfer.json` (what was loaded, what starts
  afresh). LP-FT trains the probe here: its head is where the full fine-tune starts."""
  names = source.label_names
  pretrained = None
  pretrained_start = config.mode in PRETRAINED_MODES
  if pretrained_start or config.init_from:
    pretrained = checkpoints.read_pretrained(config.init_from, config.init_step or None)
  checkpoint_leads = None
  if pretrained_start:
    checkpoint_leads = transfer.check_input_contract(pretrained, source.describe()["input"],
                                                     config.init_from)
  arch, model_config = _architecture(config, spec, pretrained)
  model = build_model(model_config, len(names), source.signal_shape[-1], config.seed,
                      head.group_indices(names, spec.exclusive_labels))
  params, batch_stats = _pure_weights(model)
  report, leads_entry, carried = None, {}, []
  if pretrained_start:
    pretrained_params, reinit = pretrained.params, r"^head/"
    if checkpoint_leads is not None:
      pretrained_params, reinit, how = transfer.adapt_stem(
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
    if config.head_from_checkpoint:
      if pretrained.card is not None and model_card.is_self_supervised(pretrained.card):
        logging.info("%s is a self-supervised encoder: it has no head, every column "
                     "starts fresh", config.init_from)
      elif pretrained.card is None:
        logging.warning("%s has no model card naming its labels: every head column starts "
                        "fresh", config.init_from)
      else:
        params["head"], carried = transfer.carry_head(
            params["head"], pretrained.params["head"], names, pretrained.card["labels"])
        if carried:
          logging.info("head columns from the checkpoint for %s; the starting model is a "
                       "candidate for selection", ", ".join(carried))
  if jax.process_index() == 0:
    storage.write_json(storage.join(workdir, "transfer.json"), {
        "mode": config.mode, "init_from": config.init_from,
        "init_step": pretrained.step if pretrained else None, **leads_entry,
        **({"loaded": report.loaded, "reinitialised": report.reinitialised,
            "unused": report.unused, "head_from_checkpoint": carried} if report else {})})

  carried_columns = np.array([name in carried for name in names], np.float32)
  start = Start(
      task=f"finetune/{config.mode}", arch=arch, model_config=model_config, model=model,
      params=params,
      batch_stats=batch_stats, tx=None, keep="best", score_start=bool(carried),
      carried_columns=carried_columns,
      init_from={"directory": pretrained.directory, "step": pretrained.step} if (
          pretrained is not None and pretrained_start) else None,
      card_training={"mode": config.mode, "train_size": config.train_size,
                     "seed": config.seed},
      results={"mode": config.mode, "train_size": config.train_size, "seed": config.seed,
               "train_examples": source.train_examples})
  if config.mode in PROBE_MODES:
    start.head_only = True
    start.results["probe_features"] = linear_probe.probe_features(config)
    return start

  if config.mode == "full" and config.full_head_init == "linear_probe":
    mesh = mesh_lib.make_data_mesh()
    probed = linear_probe.train(config, spec.optimizer, nnx.graphdef(model), params,
                                batch_stats, source,
                                mesh_lib.replicated(mesh), mesh_lib.batch_sharded(mesh),
                                carried_columns, score_start=bool(carried), score_test=False)
    params = {**params, "head": probed.head}
    start.params = params
    logging.info("full fine-tune starts from the linear probe's head (probe step %d)",
                 probed.step)
    start.results["head_init"] = {"from": "linear_probe", "probe_step": probed.step}
  elif config.mode == "full":
    start.results["head_init"] = {"from": "random"}   # but for columns carried above
  full = config.mode == "full"
  # The pull keeps a head column near its start only where that start was trained
  # (carried from the checkpoint, or every column after the probe), not random.
  pulled = None
  if full and config.decay_to_start:
    head_columns = (np.ones_like(carried_columns) if config.full_head_init == "linear_probe"
                    else carried_columns)
    pulled = optimizers.kernels_only(params)
    pulled["head"]["kernel"] = jnp.asarray(head_columns)
  start.tx = optimizers.make_optimizer(
      spec.optimizer, config.total_steps, params=params,
      lr_multipliers=dict(spec.lr_multipliers) if full else {},
      decay_to_start=config.decay_to_start if full else 0.0, start_weights=pulled)
  start.freeze_batch_norm = full and config.freeze_batch_norm
  return start


def _pure_weights(model) -> tuple[dict, dict]:
  _, params, batch_stats = nnx.split(model, nnx.Param, nnx.BatchStat)
  return nnx.to_pure_dict(params), nnx.to_pure_dict(batch_stats)


def _architecture(config, spec: run_spec.RunSpec, pretrained
                  ) -> tuple[object, resnet1d.ResNet1DConfig]:
  """The fine-tuned model's config to save with checkpoints, and its architecture:
  the pretraining run's by default (its saved `model` section, parsed here: it is the
  checkpoint's, not this run's config)."""
  if pretrained is None or not config.model_from_checkpoint:
    return config, spec.model
  cfg = config.copy_and_resolve_references()
  with cfg.unlocked():
    for key, value in pretrained.config["model"].items():
      cfg.model[key] = tuple(value) if isinstance(value, list) else value
  return cfg, resnet1d.config_from(cfg.model)
