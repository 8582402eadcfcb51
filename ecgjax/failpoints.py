"""Named moments at which a test stops this process for real, to show that a crash or a
signal there loses nothing (tests/crash_harness.py, tests/test_interrupt.py).

`ECGJAX_FAILPOINT=NAME[#N][:ACTION]` (several separated by commas): the N-th time
(default 1) this process passes NAME, it sends itself ACTION: `kill` (SIGKILL, the
default: no handler, no clean-up, as a crash, an out-of-memory kill or a lost VM),
`term` (SIGTERM, a scheduler's preemption) or `int` (SIGINT, Ctrl-C). `arm` does the
same from inside a process. `ECGJAX_FAILPOINT_LOG=FILE` appends the name of every
moment passed to FILE, so that a harness can list the moments of a run and choose
among them. The moment is an event in the code, never a time, so a test that kills at
it kills at the same place on every machine.

In every user's run neither variable is set, and `reached` is one dictionary lookup.
"""

import collections
import os
import signal

_ACTIONS = {"kill": signal.SIGKILL, "term": signal.SIGTERM, "int": signal.SIGINT}
_armed: dict[str, tuple[int, int]] = {}         # name -> (pass number, signal)
_passed: collections.Counter = collections.Counter()
_log_path = os.environ.get("ECGJAX_FAILPOINT_LOG")


def parse(spec: str) -> dict[str, tuple[int, int]]:
  """'checkpoint_saved#3:term,results_written' -> {name: (pass, signal)}."""
  armed = {}
  for item in filter(None, (part.strip() for part in spec.split(","))):
    where, _, action = item.rpartition(":")        # names hold colons (writing:FILE)
    if action not in _ACTIONS:
      where, action = item, "kill"
    name, _, count = where.partition("#")
    armed[name] = (int(count or 1), _ACTIONS[action])
  return armed


def arm(name: str, count: int = 1, action: str = "kill") -> None:
  """Signals this process the `count`-th time from now that it passes `name`."""
  _armed[name] = (_passed[name] + count, _ACTIONS[action])


def disarm() -> None:
  _armed.clear()


def reached(name: str) -> None:
  """The code passes the moment `name`."""
  if not _armed and _log_path is None:
    return
  _passed[name] += 1
  if _log_path is not None:
    with open(_log_path, "a") as f:
      f.write(f"{name}\n")
      f.flush()
  if name in _armed and _passed[name] == _armed[name][0]:
    signum = _armed.pop(name)[1]
    os.kill(os.getpid(), signum)


_armed.update(parse(os.environ.get("ECGJAX_FAILPOINT", "")))
