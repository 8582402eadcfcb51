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



def test_a_fine_tune_concludes_on_the_evaluation_that_chose_its_model(
    tiny_data_dir, tiny_pretrained, tmp_path, monkeypatch):
  """The kept model's operating points come from the validation evaluation that chose
  it, not from scoring the same weights a second time; a run resumed after that
  evaluation has only the restored weights and scores them again. Both must conclude
  alike, to the bit. Selection is made to keep step 3's model in each."""
  import numpy as np

  from ecgjax.experiments import fine_tuning
  from ecgjax.training import evaluating, selection
  from tests.helpers import tiny_finetune_config
  scored = []
  score = evaluating.Evaluator.__call__
  monkeypatch.setattr(evaluating.Evaluator, "__call__", lambda self, split, state, step: (
      scored.append((split, step)) or score(self, split, state, step)))
  # Called right after each evaluation but the first: step 3's model is kept, not 6's
  # (the linear probe that starts a full fine-tune keeps its first head).
  monkeypatch.setattr(selection, "keeps",
                      lambda score, best: scored[-1:] == [("validation", 3)])

  def config():
    return tiny_finetune_config(tiny_data_dir, tiny_pretrained, mode="full")

  straight = str(tmp_path / "straight")
  a = fine_tuning.train_and_evaluate(config(), straight)
  assert a["best_step"] == 3
  # Each validation evaluation once (3 and 6, and the start where it is scored), then
  # the test split once.
  validation = [step for split, step in scored if split == "validation"]
  assert 3 in validation and len(validation) == len(set(validation)), scored
  assert scored[-1] == ("test", 3) and len(scored) == len(validation) + 1, scored

  resumed = str(tmp_path / "resumed")
  with monkeypatch.context() as preempt:
    preempt.setattr(checkpoints.Checkpointer, "reached_preemption",
                    lambda self, step: step == 3)
    assert fine_tuning.train_and_evaluate(config(), resumed) == {}
  scored.clear()
  b = fine_tuning.train_and_evaluate(config(), resumed)
  assert scored == [("validation", 6), ("validation", 3), ("test", 3)]   # rescored
  assert b == a
  with np.load(os.path.join(straight, "predictions.npz")) as x, \
       np.load(os.path.join(resumed, "predictions.npz")) as y:
    assert sorted(x.files) == sorted(y.files)
    for name in x.files:
      np.testing.assert_array_equal(x[name], y[name], err_msg=name)
