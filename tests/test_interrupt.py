"""SIGTERM and SIGINT save and stop; the same command resumes bit-identical
(training.interrupt); one run per workdir (training.workdir_lock)."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from ecgjax.data import run_input
from ecgjax.experiments import fine_tuning, pretraining
from ecgjax.training import checkpoints, interrupt, workdir_lock
from tests.helpers import REPO, tiny_finetune_config, tiny_pretrain_config

STEPS = dict(total_steps=100, log_every=10, eval_every=50, checkpoint_every=25)


def moment_seed() -> int:
  """The seed of the random moments: new on every run of the suite, printed with any
  failure, and replayed with ECGJAX_INTERRUPT_SEED=SEED. It is also written to the
  process's own stderr before the first signal, past pytest's capture, so that a crash
  that kills the test process (no assertion to carry it) can still be replayed."""
  seed = int(os.environ.get("ECGJAX_INTERRUPT_SEED", time.time_ns() % 2**32))
  print(f"\n{os.environ.get('PYTEST_CURRENT_TEST', 'test_interrupt')}: random moments "
        f"from ECGJAX_INTERRUPT_SEED={seed}", file=sys.__stderr__, flush=True)
  return seed


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


def run_command(workdir, data_dir, *overrides, env=None):
  return subprocess.Popen(
      [sys.executable, "-m", "ecgjax.main", f"--config=tests/configs/tiny_pretrain.py:{data_dir}",
       f"--workdir={workdir}", *overrides],
      cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
      env={**os.environ, **(env or {})})


def wait_for_line(process, text: str) -> str:
  """Reads the command's stderr until a line holds `text` (the event waited for); what
  was read comes back, for a failure's message."""
  seen = []
  for line in process.stderr:
    seen.append(line)
    if text in line:
      return "".join(seen)
  raise AssertionError(f"the command ended (code {process.wait()}) before logging {text!r}:\n"
                       + "".join(seen[-40:]))


@pytest.mark.slow
def test_command_line_refuses_a_second_run_exits_75_on_sigterm_and_resumes(tiny_data_dir,
                                                                            tmp_path):
  workdir = str(tmp_path / "wd")
  long_run = ("--config.total_steps=100000", "--config.checkpoint_every=100000",
              "--config.eval_every=100000")
  first = run_command(workdir, tiny_data_dir, *long_run)
  try:
    wait_for_line(first, "step 4/100000: train loss")
    # A second run on the same workdir refuses at once, naming the first.
    second = run_command(workdir, tiny_data_dir, *long_run)
    _, err = second.communicate(timeout=240)
    assert second.returncode == 1, err
    assert f"is in use by host {os.uname().nodename} pid {first.pid}" in err
    assert "Traceback" not in err
    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=240)       # the rest of its stderr
  finally:
    first.kill()
  assert first.returncode == interrupt.EXIT_CODE, err
  assert "run the same command again" in err
  ckpt_dir = os.path.join(workdir, "checkpoints")
  saved = checkpoints.Checkpointer(ckpt_dir, max_to_keep=3, save_every=1).latest_step()
  assert saved and saved >= 4
  # A save cut off by kill -9 leaves a temporary directory; the resumed run removes it.
  leftover = os.path.join(ckpt_dir, f"{saved + 1}.orbax-checkpoint-tmp-1234567")
  os.makedirs(os.path.join(leftover, "state"))
  resumed = run_command(workdir, tiny_data_dir, f"--config.total_steps={saved + 2}",
                        "--config.checkpoint_every=100000", "--config.eval_every=100000",
                        "--config.dataset.test_split=")
  _, err = resumed.communicate(timeout=300)
  assert resumed.returncode == 0, err
  assert f"resumed from step {saved}" in err
  assert not os.path.exists(leftover)
  assert checkpoints.read_pretrained(workdir).step == saved + 2


def test_lock_refuses_a_second_holder_and_takes_over_a_dead_ones(tmp_path):
  workdir = str(tmp_path / "wd")
  with workdir_lock.WorkdirLock(workdir):
    with pytest.raises(workdir_lock.WorkdirLockedError, match=rf"pid {os.getpid()}"):
      workdir_lock.WorkdirLock(workdir).__enter__()
  # Released: taken again at once.
  with workdir_lock.WorkdirLock(workdir):
    pass
  # A holder killed with SIGKILL leaves its file with its text; the kernel has
  # released the lock, so the next run takes it over and writes its own name.
  holder = subprocess.Popen(
      [sys.executable, "-c", "import sys, time; from ecgjax.training import workdir_lock; "
       f"lock = workdir_lock.WorkdirLock({workdir!r}).__enter__(); print('held', flush=True); "
       "time.sleep(600)"], cwd=REPO, stdout=subprocess.PIPE, text=True,
      env={**os.environ, "XLA_FLAGS": ""})
  assert holder.stdout.readline().strip() == "held"
  with pytest.raises(workdir_lock.WorkdirLockedError, match=rf"pid {holder.pid}"):
    workdir_lock.WorkdirLock(workdir).__enter__()
  holder.kill()
  holder.wait()
  with open(os.path.join(workdir, workdir_lock.LOCK_FILE)) as f:
    assert f"pid {holder.pid}" in f.read()
  with workdir_lock.WorkdirLock(workdir):
    with open(os.path.join(workdir, workdir_lock.LOCK_FILE)) as f:
      assert f"pid {os.getpid()}" in f.read()


@pytest.mark.slow
def test_ctrl_c_is_safe_at_every_moment_of_a_command(tiny_data_dir, tmp_path):
  """The command line, Ctrl-C at each moment of a run (each after a seeded random
  delay past its event): start-up, compilation, right after a resume, a second Ctrl-C,
  and while the results are written. Each ends with its exit code and one line saying
  what was saved, and what was saved loads."""
  seed = moment_seed()
  rng = np.random.default_rng(seed)
  replay = f"(replay: ECGJAX_INTERRUPT_SEED={seed})"
  long_run = ("--config.total_steps=100000", "--config.checkpoint_every=100000",
              "--config.eval_every=100000", "--config.log_every=1")

  def interrupt_at(workdir, event, *overrides, twice=False):
    # Twice: the second Ctrl-C is pressed once the first is acknowledged (two signals
    # sent at once may merge into one), while the step compiles without the cache.
    process = run_command(workdir, tiny_data_dir, *overrides,
                          env={"JAX_ENABLE_COMPILATION_CACHE": "false"} if twice else None)
    try:
      seen = wait_for_line(process, event) if event else ""
      time.sleep(float(rng.uniform(0.0, 0.2)) + (0.3 if not event else 0.0))
      process.send_signal(signal.SIGINT)
      if twice:
        seen += wait_for_line(process, "SIGINT: stopping after the step in progress")
        process.send_signal(signal.SIGINT)
      _, err = process.communicate(timeout=240)
    finally:
      process.kill()
    err = seen + err
    assert "Traceback" not in err, f"{event}: {replay}\n{err[-3000:]}"
    return process.returncode, err

  # Start-up: TensorFlow and JAX are still loading; nothing exists to save.
  workdir = str(tmp_path / "startup")
  code, err = interrupt_at(workdir, None, *long_run)
  assert code == interrupt.EXIT_CODE, (replay, err[-2000:])
  assert "before anything was saved" in err or "before training started" in err, err[-2000:]
  assert not os.path.exists(os.path.join(workdir, "checkpoints")), replay

  # Compilation: acknowledged at once; the run stops after its first step, saved.
  workdir = str(tmp_path / "wd")
  code, err = interrupt_at(workdir, "compiling the train step", *long_run)
  assert code == interrupt.EXIT_CODE, (replay, err[-2000:])
  assert "SIGINT: stopping after the step in progress (or the compilation), with a save" in err
  saved = int(re.search(r"SIGINT at step (\d+): saved checkpoint \1 in ", err).group(1))
  assert checkpoints.read_pretrained(workdir).step == saved, replay

  # Right after a resume.
  code, err = interrupt_at(workdir, f"resumed from step {saved}", *long_run)
  assert code == interrupt.EXIT_CODE, (replay, err[-2000:])
  again = int(re.search(r"SIGINT at step (\d+): saved checkpoint \1 in ", err).group(1))
  assert again > saved and checkpoints.read_pretrained(workdir).step == again, replay

  # Twice during compilation: stopped at once, one line, exit 130.
  code, err = interrupt_at(str(tmp_path / "twice"), "compiling the train step", *long_run,
                           twice=True)
  assert code == interrupt.SECOND_INTERRUPT_EXIT_CODE, (replay, err[-2000:])
  assert "ecgjax: second Ctrl-C: stopped at once without saving" in err

  # While the results are written: they are finished and the run ends as usual.
  workdir = str(tmp_path / "ending")
  code, err = interrupt_at(workdir, "results.json in", "--config.total_steps=4",
                           "--config.eval_every=4")
  assert code == 0, (replay, err[-2000:])
  assert "the run is writing its results" in err or "the run has ended" in err, err[-2000:]
  assert os.path.exists(os.path.join(workdir, "results.json"))
  assert checkpoints.read_pretrained(workdir).step == 4
