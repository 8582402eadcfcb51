"""SIGTERM and SIGINT in a single-process run: finish the step, save, exit 75.

A scheduler's SIGTERM (Slurm, Kubernetes, a preemptible VM) or a Ctrl-C sets a
flag; the training loop reads it after each step (a host-side read, no device
sync), saves that step synchronously, writes its metrics and raises
`Interrupted`. The command line turns that into exit code 75 (EX_TEMPFAIL:
"try again"), which a job script can tell from success (0), a user error (1)
and a crash, and requeue on. Running the same command again resumes from the
saved step, bit-identical to a run that was never stopped.

A second Ctrl-C while the save is in progress stops at once (KeyboardInterrupt),
as a user pressing it twice expects. Multi-process runs do not install these
handlers: one process stopping alone would leave the others waiting in a
collective, so there Orbax's preemption synchronisation decides when every
process saves (Checkpointer.reached_preemption).
"""

import signal
import threading

import jax

EXIT_CODE = 75    # os.EX_TEMPFAIL


class Interrupted(Exception):
  """The run stopped on a signal after saving; the message says how to resume."""

  exit_code = EXIT_CODE


class StopRequest:
  """While entered, SIGTERM and SIGINT set `signal_name` instead of ending the process."""

  def __init__(self):
    self.signal_name: str | None = None
    self._previous: dict[int, object] = {}

  @property
  def requested(self) -> bool:
    return self.signal_name is not None

  def _handle(self, signum, frame):
    if self.signal_name is not None and signum == signal.SIGINT:
      raise KeyboardInterrupt    # a second Ctrl-C: the user does not want to wait
    self.signal_name = signal.Signals(signum).name

  def __enter__(self) -> "StopRequest":
    # Signal handlers can only be set from the main thread, and only a lone process
    # may stop on its own.
    if jax.process_count() == 1 and threading.current_thread() is threading.main_thread():
      for signum in (signal.SIGTERM, signal.SIGINT):
        self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)
    self._previous.clear()
