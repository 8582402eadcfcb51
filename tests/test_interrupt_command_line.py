"""The command line under signals: one run per workdir (training.workdir_lock), exit
code 75 on SIGTERM, and Ctrl-C safe at every moment of a command (training.interrupt).
Apart from tests/test_interrupt.py (the same loop in-process) so that the two heaviest
files of the suite can run on different test workers."""

import os
import signal
import subprocess
import sys

import pytest

from ecgjax.training import checkpoints, interrupt, workdir_lock
from tests.helpers import REPO, xla_flags


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
      env={**os.environ, "XLA_FLAGS": xla_flags()})
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
  """The command line, Ctrl-C at each moment of a run (ecgjax.failpoints: the command
  sends itself SIGINT when it reaches the moment): start-up, compilation, right after a
  resume, a second Ctrl-C, and while the results are written. Each ends with its exit
  code and one line saying what was saved, and what was saved loads."""
  long_run = ("--config.total_steps=100000", "--config.checkpoint_every=100000",
              "--config.eval_every=100000", "--config.log_every=1")

  def interrupt_at(workdir, moment, *overrides, twice=False):
    # Twice: the second Ctrl-C is pressed once the first is acknowledged (two signals
    # sent at once may merge into one), while the step compiles without the cache.
    env = {"ECGJAX_FAILPOINT": f"{moment}:int"}
    if twice:
      env["JAX_ENABLE_COMPILATION_CACHE"] = "false"
    process = run_command(workdir, tiny_data_dir, *overrides, env=env)
    try:
      seen = ""
      if twice:
        seen = wait_for_line(process, "SIGINT: stopping after the step in progress")
        process.send_signal(signal.SIGINT)
      _, err = process.communicate(timeout=240)
    finally:
      process.kill()
    err = seen + err
    assert "Traceback" not in err, f"{moment}:\n{err[-3000:]}"
    return process.returncode, err

  # Start-up: the command has its flags and workdir; nothing exists to save.
  workdir = str(tmp_path / "startup")
  code, err = interrupt_at(workdir, "starting", *long_run)
  assert code == interrupt.EXIT_CODE, err[-2000:]
  assert "before training started" in err, err[-2000:]
  assert not os.path.exists(os.path.join(workdir, "checkpoints"))

  # Compilation: acknowledged at once; the run stops after its first step, saved.
  workdir = str(tmp_path / "wd")
  code, err = interrupt_at(workdir, "compiling", *long_run)
  assert code == interrupt.EXIT_CODE, err[-2000:]
  assert "SIGINT: stopping after the step in progress (or the compilation), with a save" in err
  assert "SIGINT at step 1: saved checkpoint 1 in " in err
  assert checkpoints.read_pretrained(workdir).step == 1

  # Right after a resume: after the resumed run's third step.
  code, err = interrupt_at(workdir, "step#3", *long_run)
  assert code == interrupt.EXIT_CODE, err[-2000:]
  assert "resumed from step 1" in err and "SIGINT at step 4: saved checkpoint 4 in " in err
  assert checkpoints.read_pretrained(workdir).step == 4

  # Twice during compilation: stopped at once, one line, exit 130.
  code, err = interrupt_at(str(tmp_path / "twice"), "compiling", *long_run, twice=True)
  assert code == interrupt.SECOND_INTERRUPT_EXIT_CODE, err[-2000:]
  assert "ecgjax: second Ctrl-C: stopped at once without saving" in err

  # While the results are written: they are finished and the run ends as usual.
  workdir = str(tmp_path / "ending")
  code, err = interrupt_at(workdir, "writing:results.json", "--config.total_steps=4",
                           "--config.eval_every=4")
  assert code == 0, err[-2000:]
  assert "the run is writing its results" in err, err[-2000:]
  assert os.path.exists(os.path.join(workdir, "results.json"))
  assert checkpoints.read_pretrained(workdir).step == 4
