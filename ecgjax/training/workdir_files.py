"""The JSON files a run writes into its workdir (config.json, results.json, ...),
written whole so a reader never sees half a file, locally or on a bucket."""

import json

import jax
from absl import logging
from etils import epath

# Fields a resumed run may not change: the saved train state, the data it was trained
# on or the run's identity depend on them. Prefixes end with "."; the rest are exact.
FIXED_ON_RESUME = ("experiment", "model.", "labels", "dataset.name", "dataset.mixture",
                   "dataset.leads", "dataset.train_split", "dataset.crop_s", "mode",
                   "init_from", "init_step", "model_from_checkpoint", "train_size",
                   "min_positives", "head_from_checkpoint", "full_head_init", "lead_transfer")


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
  directory = epath.Path(workdir)
  saved_path = directory / "config.json"
  resuming = any((directory / d).exists() for d in ("checkpoints", "resume"))
  if not (saved_path.exists() and resuming):
    return []
  saved = _flat(json.loads(saved_path.read_text()))
  current = _flat(json.loads(config.to_json_best_effort()))
  changed = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
  fixed = [k for k in changed if _fixed(k)]
  if fixed:
    raise ConfigChangedError(
        f"{workdir} holds a run whose {', '.join(f'config.{k}={saved.get(k)!r}' for k in fixed)}"
        f" cannot change on resuming (now {', '.join(repr(current.get(k)) for k in fixed)}); "
        "run it with the old values, or choose another --workdir for the new run")
  lines = [f"config.{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in changed]
  if lines:
    logging.info("resuming with a changed config: %s", "; ".join(lines))
  return lines


def write_json(path: str, obj) -> None:
  """Replaces `path` whole: a reader never sees half a file (local or gs://)."""
  tmp = epath.Path(path + ".tmp")
  tmp.write_text(json.dumps(obj, indent=2))
  tmp.replace(path)


def write_config(config, workdir: str) -> None:
  """`workdir/config.json`: the resolved config of the run (process 0 only)."""
  if jax.process_index() == 0:
    directory = epath.Path(workdir)      # a local directory or a bucket (gs://...)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(
        json.dumps(json.loads(config.to_json_best_effort()), indent=2, sort_keys=True))
