"""Refusing a bad config before anything is built, loaded or compiled.

Each error names the field and says what was wrong with its value.
"""

import jax
import ml_collections

from ecgjax.configs import common
from ecgjax.models import resnet1d


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


def validate_pretrain(config, device_count: int | None = None) -> None:
  """Checks a pretraining config against its schema and the machine it will run on."""
  check_fields(config, common.pretrain_defaults())
  if config.experiment != "pretrain":
    raise ConfigError(f"config.experiment={config.experiment!r}: only 'pretrain' is implemented")
  _positive(config, "batch_size", "eval_batch_size", "total_steps", "log_every", "eval_every",
            "checkpoint_every", "keep_checkpoints", "dataset.shuffle_buffer")
  devices = device_count or jax.device_count()
  for name in ("batch_size", "eval_batch_size"):
    if config[name] % devices:
      raise ConfigError(f"config.{name}={config[name]} (global) is not divisible by the "
                        f"{devices} devices of this run")
  if not isinstance(config.seed, int):
    raise ConfigError(f"config.seed must be an integer, got {config.seed!r}")
  if not config.dataset.name:
    raise ConfigError("config.dataset.name is empty")
  opt = config.optimizer
  if not opt.learning_rate > 0:
    raise ConfigError(f"config.optimizer.learning_rate must be > 0, got {opt.learning_rate}")
  if opt.warmup_steps < 0:
    raise ConfigError(f"config.optimizer.warmup_steps must be >= 0, got {opt.warmup_steps}")
  if opt.name != "adamw":
    raise ConfigError(f"config.optimizer.name={opt.name!r}: only 'adamw' is implemented")
  try:
    resnet1d.ResNet1DConfig(**{k: (tuple(v) if isinstance(v, (list, tuple)) else v)
                               for k, v in config.model.items()})
  except (TypeError, ValueError) as e:
    raise ConfigError(f"config.model: {e}") from e
