"""metrics.jsonl and TensorBoard event files, written by process 0 only.

TensorBoard events are written with tensorboard's own protobuf writer, which
needs no TensorFlow (the training layer must run on hosts without it).
"""

import json
import math
import os
import time

import jax
import numpy as np


def _jsonable(value):
  if isinstance(value, dict):
    return {k: _jsonable(v) for k, v in value.items()}
  if isinstance(value, (np.generic, np.ndarray, jax.Array)):
    value = np.asarray(value).item()
  if isinstance(value, float) and not math.isfinite(value):
    return None   # JSON has no NaN; None says "undefined" explicitly
  return value


class MetricWriter:
  """Appends to `metrics.jsonl`, first dropping lines past `resume_step`.

  A run killed after its last checkpoint logged steps it will now redo; keeping
  those lines would record two different values for one step.
  """

  def __init__(self, workdir: str, resume_step: int = 0):
    self.enabled = jax.process_index() == 0
    self._jsonl = None
    self._events = None
    if not self.enabled:
      return
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, "metrics.jsonl")
    _truncate_after(path, resume_step)
    self._jsonl = open(path, "a")
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    self._events = EventFileWriter(workdir)

  def write(self, step: int, metrics: dict) -> None:
    """One JSON line; every finite scalar (nested dicts flattened) to TensorBoard."""
    if not self.enabled:
      return
    record = {"step": int(step), **_jsonable(metrics)}
    self._jsonl.write(json.dumps(record) + "\n")
    self._jsonl.flush()
    self._write_scalars(step, record)

  def _write_scalars(self, step: int, record: dict) -> None:
    from tensorboard.compat.proto import event_pb2, summary_pb2
    prefix = f"{record['split']}/" if "split" in record else "train/"
    values = []
    for tag, value in _flatten(record):
      if tag in ("step", "split") or not isinstance(value, (int, float)) or isinstance(value, bool):
        continue
      values.append(summary_pb2.Summary.Value(tag=prefix + tag, simple_value=float(value)))
    event = event_pb2.Event(wall_time=time.time(), step=int(step),
                            summary=summary_pb2.Summary(value=values))
    self._events.add_event(event)
    self._events.flush()

  def close(self) -> None:
    if self.enabled:
      self._jsonl.close()
      self._events.close()


def _truncate_after(path: str, step: int) -> None:
  if not os.path.exists(path):
    return
  with open(path) as f:
    lines = [line for line in f if line.strip() and json.loads(line)["step"] <= step]
  with open(path, "w") as f:
    f.writelines(lines)


def _flatten(record: dict, prefix: str = ""):
  for key, value in record.items():
    if isinstance(value, dict):
      yield from _flatten(value, f"{prefix}{key}/")
    else:
      yield prefix + key, value
