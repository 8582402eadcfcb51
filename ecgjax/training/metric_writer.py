"""metrics.jsonl and TensorBoard event files, written by process 0 only.

TensorBoard events are written with tensorboard's own record format and protobufs,
which need no TensorFlow (the training layer must run on hosts without it), and
through ecgjax.storage, not TensorFlow's file system: the same bytes on local disk
and in a bucket.

The workdir may be a bucket (gs://...): object stores cannot append, so there both
files are held in memory and uploaded whole, at most every minute and after every
checkpoint (storage.Appender): the cost of a logged line does not grow with the run.
"""

import itertools
import json
import math
import os
import socket
import time

import jax
import numpy as np
from etils import epath
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

from ecgjax import storage

_EVENT_FILES = itertools.count()     # event files opened by this process


def _jsonable(value):
  if isinstance(value, dict):
    return {k: _jsonable(v) for k, v in value.items()}
  if isinstance(value, (np.generic, np.ndarray, jax.Array)):
    value = np.asarray(value).item()
  if isinstance(value, float) and not math.isfinite(value):
    return None   # JSON has no NaN; None says "undefined" explicitly
  return value


class MetricWriter:
  """Appends to `metrics.jsonl`, first dropping lines past `resume_step`, and to a
  TensorBoard event file of this process's own.

  A run killed after its last checkpoint logged steps it will now redo; keeping
  those lines would record two different values for one step. On a bucket both
  files are uploaded whole now and then and at every `sync()` (storage.Appender).
  """

  def __init__(self, workdir: str, resume_step: int = 0, append: bool | None = None):
    """`append`: append to the files (the default where the workdir is local) or hold
    them in memory and upload them whole (a bucket's)."""
    self.enabled = jax.process_index() == 0
    if not self.enabled:
      return
    hold = None if append is None else not append
    metrics = storage.join(workdir, "metrics.jsonl")
    kept = "".join(_lines_up_to(storage.path(metrics), resume_step)).encode()
    self._jsonl = storage.Appender(metrics, kept, hold_in_memory=hold)
    events = storage.join(workdir, "events.out.tfevents.%010d.%s.%s.%s" % (
        time.time(), socket.gethostname(), os.getpid(), next(_EVENT_FILES)))
    self._events = storage.Appender(events, hold_in_memory=hold)
    self._records = RecordWriter(self._events)
    self._add_event(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))

  def write(self, step: int, metrics: dict) -> None:
    """One JSON line; every finite scalar (nested dicts flattened) to TensorBoard."""
    if not self.enabled:
      return
    record = {"step": int(step), **_jsonable(metrics)}
    self._jsonl.write((json.dumps(record) + "\n").encode())
    self._jsonl.flush()
    self._write_scalars(step, record)

  def sync(self) -> None:
    """Every line written so far is in the workdir, local or bucket (after a save)."""
    if self.enabled:
      self._jsonl.sync()
      self._events.sync()

  def _write_scalars(self, step: int, record: dict) -> None:
    prefix = f"{record['split']}/" if "split" in record else "train/"
    values = []
    for tag, value in _flatten(record):
      if tag in ("step", "split") or not isinstance(value, (int, float)) or isinstance(value, bool):
        continue
      values.append(summary_pb2.Summary.Value(tag=prefix + tag, simple_value=float(value)))
    self._add_event(event_pb2.Event(wall_time=time.time(), step=int(step),
                                    summary=summary_pb2.Summary(value=values)))

  def _add_event(self, event) -> None:
    self._records.write(event.SerializeToString())
    self._records.flush()

  def __enter__(self) -> "MetricWriter":
    return self

  def __exit__(self, *exc) -> None:
    self.close()    # also when the loop raises: the lines written so far reach the disk

  def close(self) -> None:
    if self.enabled:
      self._jsonl.close()
      self._events.close()


def _lines_up_to(path: epath.Path, step: int) -> list[str]:
  """The lines of an existing metrics.jsonl up to `step`. A kill in the middle of an
  append leaves a last line cut short: it is dropped (its step is redone)."""
  if not path.exists():
    return []
  kept = []
  for line in path.read_text().splitlines():
    try:
      record = json.loads(line)
    except json.JSONDecodeError:
      continue
    if record["step"] <= step:
      kept.append(line + "\n")
  return kept


def _flatten(record: dict, prefix: str = ""):
  for key, value in record.items():
    if isinstance(value, dict):
      yield from _flatten(value, f"{prefix}{key}/")
    else:
      yield prefix + key, value
