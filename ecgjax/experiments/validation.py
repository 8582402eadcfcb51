"""Refusing a bad config before anything is built, loaded or compiled.

Each error names the field and says what was wrong with its value. The allowed
values come from the modules that own them (ecgjax.training, .data, .models,
.evaluation, .ecg); this module imports no experiment driver: a driver passes in
what only it knows (the sweep its runs).
"""

import dataclasses

import jax
import ml_collections

from ecgjax.configs import common
from ecgjax.data import augment, datasets, embedded, mixture
from ecgjax.ecg import leads
from ecgjax.evaluation import thresholds
from ecgjax.models import head, resnet1d
from ecgjax.training import (eval_outputs, linear_probe, model_init, nonfinite, optimizers,
                             parallel, run_spec, self_supervised)


class ConfigError(ValueError):
  pass


def _fields(config, prefix="") -> dict:
  out = {}
  for key, value in config.items():
    name = f"{prefix}{key}"
    if isinstance(value, ml_collections.ConfigDict):
      out.update(_fields(value, name + "."))
    else:
      out[name] = value
  return out


def check_fields(config, schema) -> None:
  """Every field of `config` is in `schema` and vice versa."""
  have, want = set(_fields(config)), set(_fields(schema))
  unknown, missing = sorted(have - want), sorted(want - have)
  if unknown:
    raise ConfigError(f"unknown config field(s): {', '.join('config.' + f for f in unknown)}")
  if missing:
    raise ConfigError(f"config is missing field(s): {', '.join('config.' + f for f in missing)}")


def _positive(config, *names: str) -> None:
  fields = _fields(config)
  for name in names:
    value = fields[name]
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
      raise ConfigError(f"config.{name} must be a positive integer, got {value!r}")


def _parsed(config, section: str, parse):
  """`parse(value)` by the module that owns the field; its ValueError, which names the
  field, becomes a ConfigError under `config.`."""
  try:
    return parse(config[section] if "." not in section else _fields(config)[section])
  except (TypeError, ValueError) as e:
    raise ConfigError(f"config.{e}") from None


def validate_pretrain(config, device_count: int | None = None) -> run_spec.RunSpec:
  """Checks a pretraining config against its schema and the machine it will run on;
  returns its structured fields parsed."""
  check_fields(config, common.pretrain_defaults())
  if config.experiment != "pretrain":
    raise ConfigError(f"config.experiment={config.experiment!r}: expected 'pretrain'")
  return _check_training(config, device_count)


def validate_self_supervised(config, device_count: int | None = None) -> run_spec.RunSpec:
  """Checks a self-supervised pretraining config: pretraining's fields, the objective
  and the probe; returns its structured fields parsed (the objective included)."""
  check_fields(config, common.self_supervised_defaults())
  if config.experiment != "self_supervised":
    raise ConfigError(f"config.experiment={config.experiment!r}: expected 'self_supervised'")
  if config.labels != datasets.NO_LABELS:
    raise ConfigError(f"config.labels={config.labels!r}: self-supervised pretraining reads "
                      f"no label; it must be {datasets.NO_LABELS!r} (a probe's labels go in "
                      "config.probe.labels)")
  if config.dataset.crop_s:
    raise ConfigError(f"config.dataset.crop_s={config.dataset.crop_s}: a self-supervised "
                      "run cuts its own views (config.self_supervised.view_s); leave crop_s 0")
  spec = _check_training(config, device_count)
  objective = _parsed(config, "self_supervised", self_supervised.Objective.from_section)
  if config.batch_size < 2:
    raise ConfigError(f"config.batch_size={config.batch_size}: {objective.name} compares "
                      "the ECGs of a batch; use at least 2 (tens to thousands in practice)")
  if config.probe.dataset and not config.probe.split:
    raise ConfigError("config.probe.split is empty: name the split of config.probe.dataset "
                      "the k-NN probe scores")
  return dataclasses.replace(spec, objective=objective)


def int_list(config, name: str) -> list[int]:
  try:
    values = [int(v) for v in str(config[name]).split(",") if v.strip()]
  except ValueError as e:
    raise ConfigError(f"config.{name}={config[name]!r}: expected comma-separated integers") from e
  if not values or min(values) < 0:
    raise ConfigError(f"config.{name}={config[name]!r}: expected non-negative integers")
  return values


def validate_compare(config, run_configs, device_count: int | None = None
                     ) -> list[run_spec.RunSpec]:
  """Checks the sweep's axes, then each of its runs' fine-tuning configs (the sweep
  expands them: `run_configs(config)`); returns each run's parsed fields, in order."""
  check_fields(config, common.compare_defaults())
  int_list(config, "train_sizes")
  int_list(config, "seeds")
  if not isinstance(config.stack_size, int) or config.stack_size < 0:
    raise ConfigError(f"config.stack_size={config.stack_size!r}: expected a whole number "
                      ">= 0 (the most runs of one mode trained as one program; 1: one at "
                      "a time; 0: auto)")
  return [validate_finetune(run_config, device_count, schema_checked=True)
          for run_config in run_configs(config)]


def check_demo_fields(config) -> None:
  """The demo's own fields; its stages are checked as pretraining and sweep configs."""
  unknown = sorted(set(config.keys()) - {"experiment", "pretrain", "compare", "real_data"})
  if unknown:
    raise ConfigError(f"unknown config field(s): {', '.join('config.' + f for f in unknown)}")


def validate_finetune(config, device_count: int | None = None,
                      schema_checked: bool = False) -> run_spec.RunSpec:
  """Checks a fine-tuning config: the training fields, then the mode and its inputs;
  returns its structured fields parsed."""
  if not schema_checked:
    check_fields(config, common.finetune_defaults())
    if config.experiment != "finetune":
      raise ConfigError(f"config.experiment={config.experiment!r}: expected 'finetune'")
  spec = _check_training(config, device_count)
  if config.mode not in model_init.MODES:
    raise ConfigError(f"config.mode={config.mode!r}: expected one of {model_init.MODES}")
  if config.mode in model_init.PRETRAINED_MODES and not config.init_from:
    raise ConfigError(f"config.init_from is empty: mode {config.mode!r} needs a pretraining "
                      "workdir (--config.init_from=DIR)")
  for name in ("train_size", "min_positives", "init_step"):
    if not isinstance(config[name], int) or config[name] < 0:
      raise ConfigError(f"config.{name} must be a non-negative integer, got {config[name]!r}")
  if config.full_head_init not in ("linear_probe", "random"):
    raise ConfigError(f"config.full_head_init={config.full_head_init!r}: expected "
                      "'linear_probe' or 'random'")
  if config.lead_transfer not in model_init.LEAD_TRANSFERS:
    raise ConfigError(f"config.lead_transfer={config.lead_transfer!r}: expected one of "
                      f"{model_init.LEAD_TRANSFERS}")
  if not isinstance(config.head_from_checkpoint, bool):
    raise ConfigError(f"config.head_from_checkpoint must be True or False, got "
                      f"{config.head_from_checkpoint!r}")
  if not isinstance(config.freeze_batch_norm, bool):
    raise ConfigError(f"config.freeze_batch_norm must be True or False, got "
                      f"{config.freeze_batch_norm!r}")
  if not config.probe_learning_rate > 0:
    raise ConfigError(f"config.probe_learning_rate must be > 0, got {config.probe_learning_rate}")
  if config.probe_features not in linear_probe.PROBE_FEATURES:
    raise ConfigError(f"config.probe_features={config.probe_features!r}: expected one of "
                      f"{linear_probe.PROBE_FEATURES}")
  if (isinstance(config.decay_to_start, bool) or not isinstance(config.decay_to_start, (int, float))
      or not 0 <= config.decay_to_start < float("inf")):
    raise ConfigError(f"config.decay_to_start must be a finite number >= 0 (0: off), got "
                      f"{config.decay_to_start!r}")
  try:
    multipliers = model_init.parse_multipliers(config.lr_multipliers)
  except ValueError as e:
    raise ConfigError(f"config.lr_multipliers: {e}") from e
  return dataclasses.replace(spec, lr_multipliers=tuple(multipliers.items()))


def check_eval_aggregate(config) -> None:
  """dataset.eval_aggregate, of pretraining, fine-tuning and evaluate configs."""
  if config.dataset.eval_aggregate not in eval_outputs.AGGREGATIONS:
    raise ConfigError(f"config.dataset.eval_aggregate={config.dataset.eval_aggregate!r}: "
                      f"expected one of {eval_outputs.AGGREGATIONS}")


def _check_training(config, device_count: int | None) -> run_spec.RunSpec:
  _positive(config, "batch_size", "eval_batch_size", "total_steps", "log_every", "eval_every",
            "checkpoint_every", "keep_checkpoints", "dataset.shuffle_buffer")
  devices = device_count or jax.device_count()
  for name in ("batch_size", "eval_batch_size"):
    if config[name] % devices:
      raise ConfigError(f"config.{name}={config[name]} (global) is not divisible by the "
                        f"{devices} devices of this run")
  if not isinstance(config.dataset.threads, int) or config.dataset.threads < 0:
    raise ConfigError(f"config.dataset.threads must be a non-negative integer, got "
                      f"{config.dataset.threads!r}")
  if config.nonfinite not in nonfinite.POLICIES:
    raise ConfigError(f"config.nonfinite={config.nonfinite!r}: expected one of "
                      f"{nonfinite.POLICIES}")
  _positive(config, "max_consecutive_skips")
  if config.parallelism not in parallel.PARALLELISMS:
    raise ConfigError(f"config.parallelism={config.parallelism!r}: expected one of "
                      f"{parallel.PARALLELISMS}")
  if config.bootstrap_resamples < 1000:
    raise ConfigError(f"config.bootstrap_resamples={config.bootstrap_resamples}: use at "
                      "least 1000 for 95% intervals")
  if not isinstance(config.seed, int):
    raise ConfigError(f"config.seed must be an integer, got {config.seed!r}")
  if not config.dataset.name and not config.dataset.mixture:
    raise ConfigError("config.dataset.name is empty")
  _check_fresh_ecgs(config)
  for name in ("crop_s", "eval_stride_s"):
    value = config.dataset[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
      raise ConfigError(f"config.dataset.{name} must be a non-negative number of seconds, "
                        f"got {value!r}")
  if config.dataset.eval_stride_s and not config.dataset.crop_s:
    raise ConfigError("config.dataset.eval_stride_s is set but config.dataset.crop_s is 0: "
                      "evaluation windows are crops")
  check_eval_aggregate(config)
  spec = run_spec_of(config)
  if spec.augment == "handheld" and (spec.leads is None or len(spec.leads) != 1):
    raise ConfigError(
        f"config.dataset.augment='handheld' flips the sign of a one-lead recording (a "
        f"handheld recorder held either way round); config.dataset.leads="
        f"{config.dataset.leads!r} is not one lead (--config.dataset.leads=I)")
  if spec.optimizer.warmup_steps >= config.total_steps:
    raise ConfigError(
        f"config.optimizer.warmup_steps={spec.optimizer.warmup_steps} must be below "
        f"config.total_steps={config.total_steps}: lower it too "
        f"(--config.optimizer.warmup_steps={config.total_steps // 10})")
  return spec


def _check_fresh_ecgs(config) -> None:
  fresh = config.dataset.fresh_ecgs
  if not isinstance(fresh, bool):
    raise ConfigError(f"config.dataset.fresh_ecgs must be True or False, got {fresh!r}")
  if not fresh:
    return
  if config.dataset.mixture:
    raise ConfigError("config.dataset.fresh_ecgs=True with config.dataset.mixture: fresh "
                      "ECGs replace one synthetic_ecg dataset's training split, not a mixture's")
  if datasets.split_name(config.dataset.name)[0] != embedded.SYNTHETIC:
    raise ConfigError(f"config.dataset.fresh_ecgs=True: config.dataset.name="
                      f"{config.dataset.name!r} is not a synthetic_ecg dataset (fresh ECGs "
                      "come from the synthetic generator)")
  if config.experiment != "pretrain":
    raise ConfigError(f"config.dataset.fresh_ecgs=True in a {config.experiment} config: fresh "
                      "ECGs are for pretraining (fine-tuning learns from a fixed labelled set)")


def threshold_rule_of(config) -> thresholds.ThresholdRule:
  try:
    return thresholds.parse_rule(config.threshold_rule)
  except ValueError as e:
    raise ConfigError(f"config.threshold_rule: {e}") from e


def run_spec_of(config) -> run_spec.RunSpec:
  """A training config's structured fields, each parsed by the module that owns it."""
  return run_spec.RunSpec(
      model=_parsed(config, "model", resnet1d.config_from),
      optimizer=_parsed(config, "optimizer", optimizers.OptimizerConfig.from_section),
      leads=_parsed(config, "dataset.leads", leads.parse_lead_spec),
      mixture=(tuple(_parsed(config, "dataset.mixture", mixture.parse_mixture))
               if config.dataset.mixture else None),
      augment=_parsed(config, "dataset.augment",
                      lambda v: _prefixed("dataset.", augment.augment_kind, v)),
      threshold_rule=threshold_rule_of(config),
      exclusive_labels=_parsed(config, "exclusive_labels", head.parse_groups))


def _prefixed(prefix: str, parse, value):
  """`parse(value)`, its error message prefixed (a parser that names only its field)."""
  try:
    return parse(value)
  except ValueError as e:
    raise ValueError(f"{prefix}{e}") from None
