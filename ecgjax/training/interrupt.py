"""SIGTERM and SIGINT in a single-process run: safe at every moment of a command.

A scheduler's SIGTERM (Slurm, Kubernetes, a preemptible VM) or a Ctrl-C sets a flag,
and what follows depends on where the run is (`StopRequest.phase`):

- `training` (the loop, compilation included): the loop reads the flag after each
  step (a host-side read, no device sync), saves that step synchronously, writes
  its metrics and raises `Interrupted`;
- `concluding` (the test split, the card, the final save, a sweep's report): the run
  finishes writing its results, which takes seconds, and ends as usual;
- `between_runs` (a sweep, outside its runs' loops): the sweep stops before its next
  run starts (`raise_if_requested`); the runs it finished are committed;
- start-up (reading data, building the model) or a command with no loop: nothing has
  been trained, so `Interrupted` is raised at once: there is nothing new to save;
- `exiting` (the command has ended): acknowledged, and the process exits as it was.

The command line turns `Interrupted` into exit code 75 (EX_TEMPFAIL: "try again"),
which a job script can tell from success (0), a failure (1), a usage error (2) and a
crash, and requeue on. Running the same command again resumes from the saved step,
bit-identical to a run that was never stopped.

Every signal is acknowledged on stderr the moment it arrives, by a watcher thread
woken through `signal.set_wakeup_fd`: the main thread may be inside a long C++ call
(XLA compiling a step) where Python signal handlers wait until it returns. The main
thread's handler acknowledges too, whichever of the two comes first: on a loaded
machine the watcher may wake only after the main thread has moved on (from writing
the results to exiting, say), while the handler runs before the main thread's next
line and so names the phase the signal arrived in. A second
Ctrl-C stops at once, with one line and exit code 130, without saving (checkpoints
already written are kept; a save cut short leaves a temporary directory that the
next run removes).

Multi-process runs do not install these handlers: one process stopping alone would
leave the others waiting in a collective, so there Orbax's preemption
synchronisation decides when every process saves (Checkpointer.reached_preemption).
"""

import contextlib
import os
import signal
import sys
import threading

import jax

EXIT_CODE = 75                    # os.EX_TEMPFAIL
SECOND_INTERRUPT_EXIT_CODE = 130  # 128 + SIGINT, as shells report a Ctrl-C

_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_active: "StopRequest | None" = None    # the request that holds the handlers


class Interrupted(Exception):
  """The run stopped on a signal; the message says what was saved and how to resume."""

  exit_code = EXIT_CODE


def acknowledgement(signal_name: str, phase: str | None) -> str:
  """What a user reads the moment a signal arrives."""
  again = "Ctrl-C again stops at once, without saving"
  if phase == "training":
    return (f"ecgjax: {signal_name}: stopping after the step in progress (or the "
            f"compilation), with a save; {again}")
  if phase == "exiting":
    return f"ecgjax: {signal_name}: the run has ended; exiting"
  if phase == "concluding":
    return (f"ecgjax: {signal_name}: the run is writing its results and ends when they "
            f"are saved; {again}")
  if phase == "between_runs":
    return (f"ecgjax: {signal_name}: stopping before the next run (the finished runs are "
            f"kept, the one starting saves after its first step); {again}")
  return f"ecgjax: {signal_name}: stopping; nothing has been trained yet, so nothing to save"


@contextlib.contextmanager
def during(phase: str):
  """The active request's `phase` for a block (nothing when no request is active): a
  command's entry marks its closing output `exiting`."""
  if _active is None:
    yield
    return
  with _active.during(phase):
    yield


def raise_if_requested(what: str) -> None:
  """Raises Interrupted when a signal has arrived (a sweep between its runs); `what`
  says what is saved."""
  if _active is not None and _active.requested:
    raise Interrupted(f"{_active.signal_name}: stopped {what}; run the same command again "
                      "to go on")


class StopRequest:
  """While entered, SIGTERM and SIGINT set `signal_name` instead of ending the process.

  The first one entered in a process installs the handlers; one entered inside it
  (the loop, inside a command) shares its flag. `phase` says what a signal does now
  (the module's docstring); `during(phase)` sets it for a block.
  """

  def __init__(self, restore: bool = True):
    """`restore=False` (a command's, for the whole process) keeps the handlers after
    the block: a signal while the interpreter exits is acknowledged, not a traceback."""
    self.restore = restore
    self.signal_name: str | None = None
    self.phase: str | None = None
    self._previous: dict[int, object] = {}
    self._outer: StopRequest | None = None
    self._wakeup: tuple[int, int] | None = None
    self._previous_wakeup = -1
    self._interrupts = 0
    self._acknowledged: set[int] = set()
    # Re-entrant: the main thread's handler may run while that thread acknowledges.
    self._acknowledging = threading.RLock()

  @property
  def requested(self) -> bool:
    return self.signal_name is not None

  @contextlib.contextmanager
  def during(self, phase: str):
    previous, self.phase = self.phase, phase
    try:
      yield self
    finally:
      self.phase = previous

  def _handle(self, signum, frame):
    """The Python-level handler (main thread, when it next runs Python code)."""
    name = signal.Signals(signum).name
    if self._wakeup is None:       # no watcher: this handler counts too
      self._count(signum)
    else:                          # the watcher counts; the first to run acknowledges
      self._acknowledge(signum)
    if self.phase == "exiting":     # the command is done: let it exit
      return
    first = self.signal_name is None
    self.signal_name = self.signal_name or name
    if first and self.phase is None:
      raise Interrupted(f"{name} before training started: nothing new to save; run the "
                        "same command again to start")

  def _count(self, signum) -> None:
    """Counts and acknowledges a signal; a second SIGINT ends the process at once."""
    if signum == signal.SIGINT:
      self._interrupts += 1
    if self._interrupts >= 2 and signum == signal.SIGINT:
      print(f"ecgjax: second Ctrl-C: stopped at once without saving; checkpoints saved "
            f"before now are kept (exit code {SECOND_INTERRUPT_EXIT_CODE})",
            file=sys.stderr, flush=True)
      os._exit(SECOND_INTERRUPT_EXIT_CODE)
    self._acknowledge(signum)

  def _acknowledge(self, signum) -> None:
    """Prints a signal's acknowledgement once, naming the phase it is read in."""
    with self._acknowledging:
      if signum in self._acknowledged:
        return
      self._acknowledged.add(signum)
      try:
        print(acknowledgement(signal.Signals(signum).name, self.phase), file=sys.stderr,
              flush=True)
      except RuntimeError:
        # The main thread's handler ran inside that thread's own write to stderr (a
        # write retried after EINTR): a reentrant call. The watcher acknowledges.
        self._acknowledged.discard(signum)

  def _watch(self, read_fd: int) -> None:
    """The watcher thread: woken by the C-level handler's byte on the wakeup fd."""
    try:
      while data := os.read(read_fd, 64):      # empty once the write end is closed
        for signum in data:
          if signum in _SIGNALS:
            self._count(signum)
    except OSError:
      pass
    finally:
      os.close(read_fd)

  def __enter__(self) -> "StopRequest":
    global _active
    if _active is not None:
      self._outer = _active
      return _active
    # Signal handlers can only be set from the main thread, and only a lone process
    # may stop on its own.
    if jax.process_count() == 1 and threading.current_thread() is threading.main_thread():
      for signum in _SIGNALS:
        self._previous[signum] = signal.signal(signum, self._handle)
      read_fd, write_fd = os.pipe()
      os.set_blocking(write_fd, False)
      try:
        self._previous_wakeup = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        self._wakeup = (read_fd, write_fd)
        threading.Thread(target=self._watch, args=(read_fd,), daemon=True,
                         name="ecgjax-signal-watcher").start()
      except (ValueError, OSError):      # no wakeup fd here: the handler acknowledges
        os.close(read_fd)
        os.close(write_fd)
      _active = self
    return self

  def __exit__(self, *exc) -> None:
    global _active
    if self._outer is not None:
      self._outer = None
      return
    if not self.restore:
      self.phase = "exiting"
      return
    if _active is self:
      _active = None
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)
    self._previous.clear()
    if self._wakeup is not None:
      signal.set_wakeup_fd(self._previous_wakeup)
      _, write_fd = self._wakeup
      self._wakeup = None
      os.close(write_fd)     # the watcher's read returns empty; it closes its end
