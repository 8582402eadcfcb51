"""SIGTERM and SIGINT save and stop; the same command resumes bit-identical
(training.interrupt), the loop run in-process. The command line under signals, and
one run per workdir, are in tests/test_interrupt_command_line.py."""

import json
import os
import signal
import threading

import numpy as np
import pytest

from ecgjax.data import run_input
from ecgjax.experiments import fine_tuning, pretraining
from ecgjax.training import checkpoints, interrupt
from tests.helpers import moment_seed, tiny_finetune_config, tiny_pretrain_config

STEPS = dict(total_steps=100, log_every=10, eval_every=50, checkpoint_every=25)


def final_state(workdir):
  pretrained = checkpoints.read_pretrained(workdir)
  return pretrained.step, pretrained.params, pretrained.batch_stats


def assert_bit_identical(a, b, context):
  import jax
  assert a[0] == b[0], context
  jax.tree.map(lambda x, y: np.testing.assert_array_equal(x, y, err_msg=context), a[1:], b[1:])


@pytest.fixture
def harmless_late_signals():
  """A signal that lands after a run has restored the handlers must not end pytest."""
  previous = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGTERM, signal.SIGINT)}
  yield
  for s, handler in previous.items():
    signal.signal(s, handler)


class SignalAtBatch:
  """Wraps run_input.make_input so that, when the loop takes its `index`-th training batch
  (0: the first, taken before the step is compiled), a timer sends `signum` to this
  process `delay` seconds later. Anchoring the moment to a batch, not to the run's start,
  keeps it inside the run whatever the machine's speed."""

  def __init__(self, monkeypatch):
    self.index, self.delay, self.signum = None, 0.0, signal.SIGTERM
    self.timer = None
    make_input = run_input.make_input

    def signalling_input(config, spec):
      source = make_input(config, spec)
      train_batches = source.train_batches

      def batches(start_step):
        for i, batch in enumerate(train_batches(start_step)):
          if i == self.index:
            self.timer = threading.Timer(self.delay, os.kill, (os.getpid(), self.signum))
            self.timer.start()
          yield batch

      source.train_batches = batches
      return source

    monkeypatch.setattr(run_input, "make_input", signalling_input)


@pytest.mark.slow
def test_signals_at_random_moments_resume_bit_identical(tiny_data_dir, tmp_path, monkeypatch,
                                                        harmless_late_signals):
  signaller = SignalAtBatch(monkeypatch)
  straight = str(tmp_path / "straight")
  pretraining.train_and_evaluate(tiny_pretrain_config(tiny_data_dir, **STEPS), straight)
  expected = final_state(straight)
  with open(os.path.join(straight, "results.json")) as f:
    expected_results = json.load(f)

  seed = moment_seed()
  rng = np.random.default_rng(seed)
  trials = []
  for trial in range(3):
    # A random step (the first batch is taken before compilation, so index 0 signals
    # during it; evaluations and saves fall inside some steps) and a random moment
    # within about two steps of it; at least 10 steps remain after it.
    # Trial 0 signals during start-up, before the first step has run; trials 1 and 2
    # send SIGINT and SIGTERM at random steps (new ones on every run of the suite).
    signaller.index = 0 if trial == 0 else int(rng.integers(1, STEPS["total_steps"] - 10))
    signaller.delay = float(rng.uniform(0, 0.05))
    signaller.signum = (signal.SIGTERM, signal.SIGINT)[trial % 2]
    workdir = str(tmp_path / f"trial{trial}")
    stopped_at = None
    try:
      pretraining.train_and_evaluate(tiny_pretrain_config(tiny_data_dir, **STEPS), workdir)
    except interrupt.Interrupted as e:
      stopped_at = checkpoints.read_pretrained(workdir).step
      assert f"{signaller.signum.name} at step {stopped_at}: saved checkpoint {stopped_at}" in str(e)
      assert "run the same command again" in str(e)
    finally:
      signaller.timer.cancel()
    context = (f"{signaller.signum.name} {signaller.delay * 1000:.0f} ms after batch "
               f"{signaller.index} was taken: stopped at step {stopped_at} (replay: "
               f"ECGJAX_INTERRUPT_SEED={seed})")
    trials.append(context)
    assert stopped_at is not None and stopped_at >= signaller.index, context
    # Nothing done is lost: the last step that ran is the one saved, and logged.
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
      assert json.loads(f.readlines()[-1])["step"] == stopped_at, context
    signaller.index = None
    pretraining.train_and_evaluate(tiny_pretrain_config(tiny_data_dir, **STEPS), workdir)
    assert_bit_identical(expected, final_state(workdir), context)
    with open(os.path.join(workdir, "results.json")) as f:
      assert json.load(f)["labels"] == expected_results["labels"], context
    assert not [p for p in os.listdir(os.path.join(workdir, "checkpoints")) if "tmp" in p]
  print("\n".join(trials))


@pytest.mark.slow
def test_an_interrupted_fine_tune_resumes_bit_identical(tiny_pretrained, tiny_data_dir, tmp_path,
                                                        monkeypatch, harmless_late_signals):
  """Fine-tuning runs the pretraining loop: a signal saves its train state and the model
  it keeps so far (resume/), and the same command ends where an unbroken run ends."""
  signaller = SignalAtBatch(monkeypatch)
  steps = dict(mode="full", total_steps=24, eval_every=6, checkpoint_every=6)
  straight = str(tmp_path / "straight")
  fine_tuning.train_and_evaluate(tiny_finetune_config(tiny_data_dir, tiny_pretrained, **steps),
                                 straight)
  seed = moment_seed()
  rng = np.random.default_rng(seed)
  signaller.index = int(rng.integers(2, 20))
  signaller.signum = (signal.SIGTERM, signal.SIGINT)[int(rng.integers(2))]
  context = f"{signaller.signum.name} at batch {signaller.index} (replay: ECGJAX_INTERRUPT_SEED={seed})"
  workdir = str(tmp_path / "interrupted")
  try:
    with pytest.raises(interrupt.Interrupted, match="run the same command again"):
      fine_tuning.train_and_evaluate(
          tiny_finetune_config(tiny_data_dir, tiny_pretrained, **steps), workdir)
  finally:
    signaller.timer.cancel()
  assert os.path.isdir(os.path.join(workdir, "resume")), context
  assert not os.path.exists(os.path.join(workdir, "results.json")), context
  signaller.index = None
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
