"""The JSON files a run writes into its workdir (config.json, results.json, ...),
written whole so a reader never sees half a file, locally or on a bucket."""

import json

import jax
from absl import logging

from ecgjax import storage

# Fields a resumed run may not change: the saved train state, the data it was trained
# on or the run's identity depend on them. Prefixes end with "."; the rest are exact.
# `batch_size` and `seed` fix the position and order of the data stream (and the seed
# every dropout mask); `optimizer.*` and `lr_multipliers` the optimiser state's tree.
FIXED_ON_RESUME = ("experiment", "model.", "labels", "dataset.name", "dataset.mixture",
                   "dataset.leads", "dataset.train_split", "dataset.crop_s", "mode",
                   "init_from", "init_step", "model_from_checkpoint", "train_size",
                   "min_positives", "head_from_checkpoint", "full_head_init", "lead_transfer",
                   "batch_size", "seed", "optimizer.", "lr_multipliers")


class ConfigChangedError(ValueError):
  """A resumed run's config changes a field its saved state depends on."""


def _flat(tree, prefix: str = "") -> dict:
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      out.update(_flat(value, f"{prefix}{key}."))
    else:
      out[f"{prefix}{key}"] = value
  return out


def _fixed(name: str) -> bool:
  return any(name.startswith(f) if f.endswith(".") else name == f for f in FIXED_ON_RESUME)


def check_resumed_config(config, workdir: str) -> list[str]:
  """For a run resuming in `workdir` (its config.json and a checkpoint are there): the
  fields whose values changed since, as `FIELD: OLD -> NEW`, logged; refuses
  (ConfigChangedError) a change to a field in FIXED_ON_RESUME."""
  saved = storage.read_json(storage.join(workdir, "config.json"))
  resuming = any(storage.exists(storage.join(workdir, d)) for d in ("checkpoints", "resume"))
  if saved is None or not resuming:
    return []
  saved = _flat(saved)
  current = _flat(json.loads(config.to_json_best_effort()))
  changed = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
  fixed = [k for k in changed if _fixed(k)]
  if fixed:
    raise ConfigChangedError(
        f"{workdir} holds a run whose {', '.join(f'config.{k}={saved.get(k)!r}' for k in fixed)}"
        f" cannot change on resuming (now {', '.join(repr(current.get(k)) for k in fixed)}); "
        "run it with the old values, or choose another --workdir for the new run")
  lines = [f"config.{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in changed]
  if "total_steps" in changed:
    lines.append(
        f"the learning-rate schedule is planned over {current.get('total_steps')} steps "
        f"instead of {saved.get('total_steps')} from the resumed step on: its warm-up and decay "
        "follow the new length, so the rate jumps at the resumed step where the two plans "
        "differ")
  if lines:
    logging.info("resuming with a changed config: %s", "; ".join(lines))
  return lines


def write_config(config, workdir: str) -> None:
  """`workdir/config.json`: the resolved config of the run (process 0 only)."""
  if jax.process_index() == 0:
    storage.write_json(storage.join(workdir, "config.json"),
                       json.loads(config.to_json_best_effort()), sort_keys=True)
