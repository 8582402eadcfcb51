"""One run per workdir: `WORKDIR/ecgjax.lock`, held with fcntl.flock.

Two runs writing one workdir interleave metrics.jsonl and overwrite each other's
checkpoints. The lock file says who holds it (host, pid, start time, command);
a second process refuses at once with that text. The kernel releases a flock
when its holder dies however it dies (kill -9 included), so a lock file left by
a dead process is simply taken over: its stale text is replaced.

In a multi-process run only process 0 takes the lock; the others write nothing
that process 0 does not coordinate. fcntl locks work on local disks and on NFS
(v4, or v3 with lockd); they do not exist on object stores (gs://, s3://): there
the lock is skipped with a warning and keeping to one run per workdir is the
user's job (docs/troubleshooting.md).
"""

import datetime
import errno
import fcntl
import os
import shutil
import socket
import sys

import jax
from absl import logging

LOCK_FILE = "ecgjax.lock"


class WorkdirLockedError(RuntimeError):
  """Another live process holds the workdir."""


def _is_object_store(path: str) -> bool:
  return "://" in path


class WorkdirLock:
  """Context manager: holds the workdir's lock, or raises WorkdirLockedError."""

  def __init__(self, workdir: str, scratch_files=()):
    """`scratch_files`: files in the workdir that are not the run's work (a log): a run
    refused before it wrote anything else leaves no workdir behind."""
    self.workdir = workdir
    self.scratch_files = {LOCK_FILE, *scratch_files}
    self.path = os.path.join(workdir, LOCK_FILE)
    self._file = None
    self._created = False

  def __enter__(self) -> "WorkdirLock":
    if jax.process_index() != 0:
      return self
    if _is_object_store(self.workdir):
      logging.warning("workdir %s is on an object store, where file locks do not exist: "
                      "make sure no other run uses it", self.workdir)
      return self
    self._created = not os.path.exists(self.workdir)
    os.makedirs(self.workdir, exist_ok=True)
    # Not O_TRUNC: the holder's text must survive until we know we hold the lock.
    f = open(self.path, "a+")
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
        f.close()
        raise
      f.seek(0)
      holder = f.read().strip() or "another process (it has not written its name yet)"
      f.close()
      raise WorkdirLockedError(
          f"workdir {self.workdir} is in use by {holder}; wait for that run to end, stop it, "
          f"or choose another --workdir") from None
    f.seek(0)
    f.truncate()
    f.write(f"host {socket.gethostname()} pid {os.getpid()} since "
            f"{datetime.datetime.now().isoformat(timespec='seconds')} "
            f"({' '.join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))})"
            "\n")
    f.flush()
    self._file = f
    return self

  def __exit__(self, *exc) -> None:
    if self._file is not None:
      # The file stays (removing it would race with a process about to lock it);
      # closing releases the lock.
      fcntl.flock(self._file, fcntl.LOCK_UN)
      self._file.close()
      self._file = None
      # A run refused before it wrote anything leaves no workdir behind.
      if (exc and exc[0] is not None and self._created
          and set(os.listdir(self.workdir)) <= self.scratch_files):
        shutil.rmtree(self.workdir, ignore_errors=True)
