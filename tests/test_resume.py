"""An interrupted run resumes as if it had never stopped."""

import json
import os
import shutil

import pytest

from ecgjax.experiments import pretraining
from ecgjax.training import checkpoints
from tests.helpers import tiny_pretrain_config

pytestmark = pytest.mark.slow     # trains a model or runs a command end to end


def read_metrics(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def test_preempted_run_resumes_to_the_same_result(tiny_data_dir, tmp_path, monkeypatch):
  straight = str(tmp_path / "straight")
  pretraining.train_and_evaluate(tiny_pretrain_config(tiny_data_dir), straight)

  # Announce a preemption at step 4: the loop saves and stops.
  interrupted = str(tmp_path / "interrupted")
  monkeypatch.setattr(checkpoints.Checkpointer, "reached_preemption",
                      lambda self, step: step == 4)
  pretraining.train_and_evaluate(tiny_pretrain_config(tiny_data_dir), interrupted)
  assert [m["step"] for m in read_metrics(interrupted)] == [2, 4]
  assert checkpoints.Checkpointer(os.path.join(interrupted, "checkpoints"), max_to_keep=3,
                                  save_every=4).latest_step() == 4
  monkeypatch.undo()

  # The same command again continues from step 4, data stream included.
  result = pretraining.train_and_evaluate(tiny_pretrain_config(tiny_data_dir), interrupted)
  a, b = read_metrics(straight), read_metrics(interrupted)
  assert [m["step"] for m in a] == [m["step"] for m in b] == [2, 4, 6, 8, 8]
  for x, y in zip(a, b, strict=True):
    if "loss" in x:
      assert y["loss"] == pytest.approx(x["loss"], rel=1e-5), x["step"]
  assert b[-1]["split"] == "validation"
  assert b[-1]["undefined"] == a[-1]["undefined"]
  defined = {k: v for k, v in a[-1]["auroc"].items() if v is not None}
  assert {k: b[-1]["auroc"][k] for k in defined} == pytest.approx(defined, rel=1e-4)
  assert len(result["labels"]) == 39

  # Once finished, the same command has nothing left to do: it returns the committed
  # results and trains nothing.
  assert pretraining.train_and_evaluate(tiny_pretrain_config(tiny_data_dir),
                                        interrupted) == result
  assert len(read_metrics(interrupted)) == 5


def test_lines_logged_after_the_last_checkpoint_are_replaced(tiny_data_dir, tmp_path):
  workdir = str(tmp_path / "wd")
  pretraining.train_and_evaluate(tiny_pretrain_config(tiny_data_dir), workdir)
  # Simulate a crash after step 8 was logged but before its checkpoint landed:
  # the checkpoint of step 8 and the results disappear, the log still holds steps 6
  # and 8.
  shutil.rmtree(os.path.join(workdir, "checkpoints", "8"))
  os.remove(os.path.join(workdir, "results.json"))
  pretraining.train_and_evaluate(tiny_pretrain_config(tiny_data_dir), workdir)
  steps = [m["step"] for m in read_metrics(workdir)]
  assert steps == [2, 4, 6, 8, 8]          # 6 and 8 once each, not twice

