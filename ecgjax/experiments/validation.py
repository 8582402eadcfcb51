"""Refusing a bad config before anything is built, loaded or compiled.

Each error names the field and says what was wrong with its value. The allowed
values come from the modules that own them (ecgjax.training, .data, .models,
.evaluation, .ecg); this module imports no experiment driver: a driver passes in
what only it knows (the sweep its runs).
"""

import jax
import ml_collections

from ecgjax.configs import common
from ecgjax.data import augment, mixture
from ecgjax.ecg import leads
from ecgjax.evaluation import thresholds
from ecgjax.models import resnet1d
from ecgjax.training import eval_outputs, model_init, nonfinite, parallel


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


INF = float("inf")
# Numeric fields and the intervals they must lie in: (low, high, "[)" brackets).
NUMERIC_RANGES = {
    "optimizer.learning_rate": (0, INF, "()"),   # a diverging rate is the guard's job
    "optimizer.weight_decay": (0, INF, "[)"),
    "optimizer.b1": (0, 1, "[)"),
    "optimizer.b2": (0, 1, "[)"),
    "optimizer.end_factor": (0, 1, "[]"),
    "optimizer.grad_clip_norm": (0, INF, "[)"),   # 0: no clipping
    "optimizer.warmup_steps": (0, INF, "[)"),
    "model.dropout": (0, 1, "[)"),
}


def _in_range(config, name: str, low: float, high: float, brackets: str) -> None:
  value = _fields(config)[name]
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    raise ConfigError(f"config.{name} must be a number, got {value!r}")
  above = value >= low if brackets[0] == "[" else value > low
  below = value <= high if brackets[1] == "]" else value < high
  if not (above and below):
    raise ConfigError(f"config.{name}={value!r} is outside {brackets[0]}{low}, {high}"
                      f"{brackets[1]}")


def validate_pretrain(config, device_count: int | None = None) -> None:
  """Checks a pretraining config against its schema and the machine it will run on."""
  check_fields(config, common.pretrain_defaults())
  if config.experiment != "pretrain":
    raise ConfigError(f"config.experiment={config.experiment!r}: expected 'pretrain'")
  _check_training(config, device_count)


def int_list(config, name: str) -> list[int]:
  try:
    values = [int(v) for v in str(config[name]).split(",") if v.strip()]
  except ValueError as e:
    raise ConfigError(f"config.{name}={config[name]!r}: expected comma-separated integers") from e
  if not values or min(values) < 0:
    raise ConfigError(f"config.{name}={config[name]!r}: expected non-negative integers")
  return values


def validate_compare(config, run_configs, device_count: int | None = None) -> None:
  """Checks the sweep's axes, then each of its runs' fine-tuning configs (the sweep
  expands them: `run_configs(config)`)."""
  check_fields(config, common.compare_defaults())
  int_list(config, "train_sizes")
  int_list(config, "seeds")
  for run_config in run_configs(config):
    validate_finetune(run_config, device_count, schema_checked=True)


def check_demo_fields(config) -> None:
  """The demo's own fields; its stages are checked as pretraining and sweep configs."""
  unknown = sorted(set(config.keys()) - {"experiment", "pretrain", "compare", "real_data"})
  if unknown:
    raise ConfigError(f"unknown config field(s): {', '.join('config.' + f for f in unknown)}")


def validate_finetune(config, device_count: int | None = None,
                      schema_checked: bool = False) -> None:
  """Checks a fine-tuning config: the training fields, then the mode and its inputs."""
  if not schema_checked:
    check_fields(config, common.finetune_defaults())
    if config.experiment != "finetune":
      raise ConfigError(f"config.experiment={config.experiment!r}: expected 'finetune'")
  _check_training(config, device_count)
  if config.mode not in model_init.MODES:
    raise ConfigError(f"config.mode={config.mode!r}: expected one of {model_init.MODES}")
  if config.mode != "scratch" and not config.init_from:
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
  if (isinstance(config.decay_to_start, bool) or not isinstance(config.decay_to_start, (int, float))
      or not 0 <= config.decay_to_start < INF):
    raise ConfigError(f"config.decay_to_start must be a finite number >= 0 (0: off), got "
                      f"{config.decay_to_start!r}")
  try:
    model_init.parse_multipliers(config.lr_multipliers)
  except ValueError as e:
    raise ConfigError(f"config.lr_multipliers: {e}") from e


def check_eval_aggregate(config) -> None:
  """dataset.eval_aggregate, of pretraining, fine-tuning and evaluate configs."""
  if config.dataset.eval_aggregate not in eval_outputs.AGGREGATIONS:
    raise ConfigError(f"config.dataset.eval_aggregate={config.dataset.eval_aggregate!r}: "
                      f"expected one of {eval_outputs.AGGREGATIONS}")


def _check_training(config, device_count: int | None) -> None:
  _positive(config, "batch_size", "eval_batch_size", "total_steps", "log_every", "eval_every",
            "checkpoint_every", "keep_checkpoints", "dataset.shuffle_buffer")
  devices = device_count or jax.device_count()
  for name in ("batch_size", "eval_batch_size"):
    if config[name] % devices:
      raise ConfigError(f"config.{name}={config[name]} (global) is not divisible by the "
                        f"{devices} devices of this run")
  try:
    augment.augment_kind(config.dataset.augment)
  except ValueError as e:
    raise ConfigError(f"config.dataset.{e}") from None
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
  try:
    thresholds.parse_rule(config.threshold_rule)
  except ValueError as e:
    raise ConfigError(f"config.threshold_rule: {e}") from e
  if not isinstance(config.seed, int):
    raise ConfigError(f"config.seed must be an integer, got {config.seed!r}")
  if not config.dataset.name and not config.dataset.mixture:
    raise ConfigError("config.dataset.name is empty")
  if config.dataset.mixture:
    try:
      mixture.parse_mixture(config.dataset.mixture)
    except mixture.MixtureError as e:
      raise ConfigError(f"config.{e}") from e
  for name in ("crop_s", "eval_stride_s"):
    value = config.dataset[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
      raise ConfigError(f"config.dataset.{name} must be a non-negative number of seconds, "
                        f"got {value!r}")
  if config.dataset.eval_stride_s and not config.dataset.crop_s:
    raise ConfigError("config.dataset.eval_stride_s is set but config.dataset.crop_s is 0: "
                      "evaluation windows are crops")
  check_eval_aggregate(config)
  try:
    leads.parse_lead_spec(config.dataset.leads)
  except leads.UnknownLeadError as e:
    raise ConfigError(f"config.{e}") from e
  opt = config.optimizer
  for name, (low, high, brackets) in NUMERIC_RANGES.items():
    _in_range(config, name, low, high, brackets)
  if opt.warmup_steps >= config.total_steps:
    raise ConfigError(f"config.optimizer.warmup_steps={opt.warmup_steps} must be below "
                      f"config.total_steps={config.total_steps}")
  if opt.name != "adamw":
    raise ConfigError(f"config.optimizer.name={opt.name!r}: only 'adamw' is implemented")
  try:
    resnet1d.config_from(config.model)
  except (TypeError, ValueError) as e:
    raise ConfigError(f"config.model: {e}") from e
