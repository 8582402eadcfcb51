"""SIGTERM and SIGINT save and stop; the same command resumes bit-identical
(training.interrupt), the loop run in-process. The command line under signals, and
one run per workdir, are in tests/test_interrupt_command_line.py."""

import json
import os
import signal
import threading
import time

import numpy as np
import pytest

from ecgjax.experiments import fine_tuning, pretraining
from ecgjax.training import checkpoints, interrupt
from tests.helpers import tiny_finetune_config, tiny_pretrain_config

STEPS = dict(total_steps=100, log_every=10, eval_every=50, checkpoint_every=25)


def final_state(workdir):
  pretrained = checkpoints.read_pretrained(workdir)
  return pretrained.step, pretrained.params, pretrained.batch_stats


def assert_bit_identical(a, b, context):
  import jax
  assert a[0] == b[0], context
  jax.tree.map(lambda x, y: np.testing.assert_array_equal(x, y, err_msg=context), a[1:], b[1:])


# (moment, count, signal, the step the run stops after): during the compilation (the run
# stops after its first step, saved), right after a step, during an evaluation (its step
# is saved as scheduled, the next one stops), and while a checkpoint commits in the
# background (the next step stops).
MOMENTS = [("compiling", 1, "term", 1), ("step", 7, "int", 7), ("evaluated", 1, "term", 51),
           ("checkpoint_saving", 1, "int", 26)]


@pytest.mark.slow
def test_signals_at_chosen_moments_resume_bit_identical(tiny_data_dir, tmp_path, signal_at,
                                                        harmless_late_signals):
  straight = str(tmp_path / "straight")
  pretraining.train_and_evaluate(tiny_pretrain_config(tiny_data_dir, **STEPS), straight)
  expected = final_state(straight)
  with open(os.path.join(straight, "results.json")) as f:
    expected_results = json.load(f)

  for moment, count, action, stopped_after in MOMENTS:
    context = f"{action} at {moment} #{count}"
    signal_at(moment, count, action)
    workdir = str(tmp_path / f"{moment}{count}")
    with pytest.raises(interrupt.Interrupted) as stopped:
      pretraining.train_and_evaluate(tiny_pretrain_config(tiny_data_dir, **STEPS), workdir)
    name = {"term": "SIGTERM", "int": "SIGINT"}[action]
    assert (f"{name} at step {stopped_after}: saved checkpoint {stopped_after}"
            in str(stopped.value)), context
    assert "run the same command again" in str(stopped.value)
    assert checkpoints.read_pretrained(workdir).step == stopped_after, context
    # Nothing done is lost: the last step that ran is the one saved, and logged.
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
      assert json.loads(f.readlines()[-1])["step"] == stopped_after, context
    pretraining.train_and_evaluate(tiny_pretrain_config(tiny_data_dir, **STEPS), workdir)
    assert_bit_identical(expected, final_state(workdir), context)
    with open(os.path.join(workdir, "results.json")) as f:
      assert json.load(f)["labels"] == expected_results["labels"], context
    assert not [p for p in os.listdir(os.path.join(workdir, "checkpoints")) if "tmp" in p]


@pytest.mark.slow
def test_an_interrupted_fine_tune_resumes_bit_identical(tiny_pretrained, tiny_data_dir, tmp_path,
                                                        signal_at, harmless_late_signals):
  """Fine-tuning runs the pretraining loop: a signal saves its train state and the model
  it keeps so far (resume/), and the same command ends where an unbroken run ends."""
  steps = dict(mode="full", total_steps=24, eval_every=6, checkpoint_every=6)
  straight = str(tmp_path / "straight")
  fine_tuning.train_and_evaluate(tiny_finetune_config(tiny_data_dir, tiny_pretrained, **steps),
                                 straight)
  # After step 14: past two saves of the train state with its kept model (6, 12).
  context = "SIGTERM after step 14"
  signal_at("step", 14, "term")
  workdir = str(tmp_path / "interrupted")
  with pytest.raises(interrupt.Interrupted, match="SIGTERM at step 14: saved checkpoint 14"):
    fine_tuning.train_and_evaluate(
        tiny_finetune_config(tiny_data_dir, tiny_pretrained, **steps), workdir)
  assert os.path.isdir(os.path.join(workdir, "resume")), context
  assert not os.path.exists(os.path.join(workdir, "results.json")), context
  resumed = fine_tuning.train_and_evaluate(
      tiny_finetune_config(tiny_data_dir, tiny_pretrained, **steps), workdir)
  assert_bit_identical(final_state(straight), final_state(workdir), context)
  with open(os.path.join(straight, "results.json")) as f:
    expected = json.load(f)
  assert resumed["labels"] == expected["labels"] and resumed["best_step"] == expected["best_step"]
  assert not os.path.exists(os.path.join(workdir, "resume")), context   # concluded: removed
  # Concluded: the same command again has nothing left to do.
  assert fine_tuning.train_and_evaluate(
      tiny_finetune_config(tiny_data_dir, tiny_pretrained, **steps), workdir) == resumed


def test_a_signal_is_acknowledged_in_the_phase_it_arrived_in_however_late_the_watcher(capfd):
  """On a loaded machine the watcher thread may wake only after the main thread has
  moved on. Here it is held back (its acknowledgement waits on the lock the test
  holds) while a SIGINT arrives as the results are written, and the command then
  moves to `exiting`: the one line printed still says the results are being written,
  not that the run has ended."""
  request = interrupt.StopRequest()
  with request:
    assert request._wakeup is not None, "no watcher thread here: nothing to hold back"
    with request.during("exiting"):
      with request._acknowledging:
        with request.during("concluding"):
          os.kill(os.getpid(), signal.SIGINT)
          deadline = time.monotonic() + 30
          while request._interrupts < 1:      # the watcher has read the signal
            assert time.monotonic() < deadline, "the watcher never read the signal"
            time.sleep(0.01)
      # Released in `exiting`: the watcher acknowledges now, if nothing did before.
    assert request.signal_name == "SIGINT"
  watcher = [t for t in threading.enumerate() if t.name == "ecgjax-signal-watcher"]
  for thread in watcher:                      # ends once the handlers are restored
    thread.join(timeout=30)
  lines = [line for line in capfd.readouterr().err.splitlines() if "ecgjax: SIGINT" in line]
  assert len(lines) == 1, lines
  assert "the run is writing its results" in lines[0], lines
