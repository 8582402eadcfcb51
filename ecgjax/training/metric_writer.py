"""metrics.jsonl and TensorBoard event files, written by process 0 only.

TensorBoard events are written with tensorboard's own protobuf writer, which
needs no TensorFlow (the training layer must run on hosts without it).

The workdir may be a bucket (gs://...): object stores cannot append, so there
metrics.jsonl is rewritten whole at each write (a few thousand short lines at
most: one per logging step), through etils.epath.
"""

import json
import math
import time

import jax
import numpy as np
from etils import epath


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

  def __init__(self, workdir: str, resume_step: int = 0, append: bool | None = None):
    """`append`: append to metrics.jsonl (default where the workdir is local) or
    rewrite it whole at each write (a bucket's)."""
    self.enabled = jax.process_index() == 0
    self._jsonl = None
    self._events = None
    if not self.enabled:
      return
    directory = epath.Path(workdir)
    directory.mkdir(parents=True, exist_ok=True)
    self._path = directory / "metrics.jsonl"
    self._lines = _lines_up_to(self._path, resume_step)
    self._path.write_text("".join(self._lines))
    if append is None:
      append = "://" not in workdir
    if append:
      self._jsonl = self._path.open("a")
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    self._events = EventFileWriter(workdir)

  def write(self, step: int, metrics: dict) -> None:
    """One JSON line; every finite scalar (nested dicts flattened) to TensorBoard."""
    if not self.enabled:
      return
    record = {"step": int(step), **_jsonable(metrics)}
    line = json.dumps(record) + "\n"
    if self._jsonl is not None:
      self._jsonl.write(line)
      self._jsonl.flush()
    else:
      self._lines.append(line)
      tmp = epath.Path(f"{self._path}.tmp")
      tmp.write_text("".join(self._lines))
      tmp.replace(self._path)
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

  def __enter__(self) -> "MetricWriter":
    return self

  def __exit__(self, *exc) -> None:
    self.close()    # also when the loop raises: the lines written so far reach the disk

  def close(self) -> None:
    if self.enabled:
      if self._jsonl is not None:
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
