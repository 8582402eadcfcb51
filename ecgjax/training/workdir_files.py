"""The JSON files a run writes into its workdir (config.json, results.json, ...),
written whole so a reader never sees half a file, locally or on a bucket."""

import json

import jax
from etils import epath


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
