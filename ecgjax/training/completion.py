"""When a run is finished, defined once: when its results are committed.

A run's last act is `commit`: the model card, predictions.npz, and then results.json,
written whole. results.json is the commit: it records the `total_steps` it concluded
(a run asked for more steps is not finished), and it is written after everything it
speaks for. Until it exists the run is unfinished, whatever its checkpoints say: a
pretraining killed after its final checkpoint landed but before its results, run again,
restores that checkpoint and concludes (it does not train again); a fine-tune resumes
from `resume/`. Once it exists, a rerun returns it and trains nothing, removing what
the run left behind (a fine-tune's `resume/`). A file cut short by a kill is a `.tmp`
beside its name, replaced by the rerun's write of that name (ecgjax.storage).

Every command that runs training reads `finished` (the loop, the sweep, the entries'
closing lines), so a second definition cannot creep in.
"""

import jax
from absl import logging

from ecgjax import failpoints, storage
from ecgjax.models import model_card
from ecgjax.training.keeping import RESUME_DIR

RESULTS_FILE = "results.json"
PREDICTIONS_FILE = "predictions.npz"


def results_path(workdir: str) -> str:
  return storage.join(workdir, RESULTS_FILE)


def finished(workdir: str, total_steps: int | None = None) -> dict | None:
  """results.json of a run that is finished (at `total_steps`, when given), else None."""
  results = storage.read_json(results_path(workdir))
  if results is None:
    return None
  if total_steps is not None and results.get("total_steps", total_steps) != total_steps:
    return None
  return results


def clean_up(workdir: str) -> None:
  """What a finished run no longer needs: resume/ (a fine-tune's train state)."""
  if jax.process_index() == 0:
    storage.remove_tree(storage.join(workdir, RESUME_DIR))


def commit(workdir: str, card: dict, results: dict, predictions: dict | None) -> None:
  """The card, predictions.npz (where there was a test split), then results.json: from
  here on the run is finished. Process 0 writes; the others wait for nothing."""
  if jax.process_index() == 0:
    model_card.write(workdir, card)
    if predictions is not None:
      storage.savez_compressed(storage.join(workdir, PREDICTIONS_FILE), **predictions)
    storage.write_json(results_path(workdir), results)
  failpoints.reached("results_committed")
  clean_up(workdir)


def finished_earlier(workdir: str, total_steps: int) -> dict | None:
  """For a run that starts: its results when it finished earlier (and what it left
  behind removed), else None."""
  results = finished(workdir, total_steps)
  if results is not None:
    logging.info("%s holds this run's results (results.json, %d steps): nothing to train",
                 workdir, total_steps)
    clean_up(workdir)
  return results
