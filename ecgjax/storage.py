"""Files under a workdir or a data_dir, on local disk or in a bucket (gs://) alike.

Everything ecgjax writes into a workdir goes through here (or through Orbax): a
local-only call (`open`, `np.savez`, `savefig` on a path, `shutil`) fails on a bucket,
at the latest on the last line of a run that trained for days.

A file is written whole: to `NAME.tmp`, then renamed over NAME (an object in a bucket
is uploaded in place: an upload is atomic there). A reader sees the old file or the
new one, never half of one; a kill leaves at most a `.tmp` beside it, which the next
write replaces.

Which client talks to a bucket: etils.epath picks TensorFlow's file system when
TensorFlow is installed, and fsspec's gcsfs otherwise. ecgjax asks for gcsfs
everywhere (`EPATH_USE_TF=false`, set in ecgjax/__init__.py unless the environment
says otherwise): a serving host has no TensorFlow and needs gcsfs anyway, so every
host, and the tests against a GCS emulator, write a workdir through the same client,
one that uploads plainly (the emulator refuses TensorFlow's chunked uploads unless a
proxy decodes them, tests/gcs_proxy.py). Orbax's arrays go through tensorstore, and
tf.data and TFDS's writers reach TFRecords through TensorFlow: those keep their own
clients.
"""

import io
import json
import os
import time

from etils import epath

from ecgjax import failpoints

TMP_SUFFIX = ".tmp"


def is_bucket(path) -> bool:
  """An object store path (gs://, s3://): no appends, no file locks, no local calls."""
  return "://" in os.fspath(path)


def path(value) -> epath.Path:
  """A local path (made absolute: Orbax and rename need it) or a bucket's, as is."""
  value = os.fspath(value)
  return epath.Path(value if is_bucket(value) else os.path.abspath(value))


def join(directory, *names) -> str:
  """`directory/names...` as a string, bucket prefixes kept."""
  return os.fspath(path(directory).joinpath(*names))


def write_bytes(target, data: bytes) -> None:
  """Replaces `target` whole, creating its directory. An object in a bucket is
  replaced whole by its upload (a reader sees the old object or the new one), so
  there it is written in place; a local file goes through NAME.tmp and a rename."""
  target = path(target)
  moment = f"writing:{target.name}"
  if is_bucket(target):
    failpoints.reached(moment)    # not yet in place
    target.write_bytes(data)
    return
  target.parent.mkdir(parents=True, exist_ok=True)
  tmp = target.parent / (target.name + TMP_SUFFIX)
  tmp.write_bytes(data)
  failpoints.reached(moment)    # written, not yet in place
  tmp.replace(target)


def write_text(target, text: str) -> None:
  write_bytes(target, text.encode("utf-8"))


def write_json(target, obj, **dumps) -> None:
  write_text(target, json.dumps(obj, **({"indent": 2} | dumps)))


def read_json(target) -> dict | None:
  """The JSON in `target`, or None where there is no such file."""
  target = path(target)
  if not target.exists():
    return None
  return json.loads(target.read_text(encoding="utf-8"))


def exists(target) -> bool:
  return path(target).exists()


def remove_tree(target) -> None:
  """Removes a directory and everything under it; nothing when it is not there."""
  target = path(target)
  if target.exists():
    target.rmtree()


def savez_compressed(target, **arrays) -> None:
  """np.savez_compressed, to a local file or an object."""
  import numpy as np
  buffer = io.BytesIO()
  np.savez_compressed(buffer, **arrays)
  write_bytes(target, buffer.getvalue())


def load_npz(target) -> dict:
  import numpy as np
  with np.load(io.BytesIO(path(target).read_bytes())) as data:
    return {k: data[k] for k in data.files}


def savefig(fig, target, **kwargs) -> None:
  """matplotlib's savefig, to a local file or an object (the format from the name)."""
  buffer = io.BytesIO()
  fig.savefig(buffer, format=os.path.splitext(os.fspath(target))[1][1:] or "png", **kwargs)
  write_bytes(target, buffer.getvalue())


class Appender:
  """A file that grows (metrics.jsonl, a TensorBoard event file).

  On local disk each write is appended and flushed. An object store cannot append: there
  the file is held in memory and uploaded whole at most every `upload_every_s` seconds
  and at `sync()` (the loop syncs after each checkpoint, so nothing a resume keeps is
  ever only in memory: lines past the last checkpoint are dropped on resume anyway).
  So the cost per logged line stays flat however long the run, where rewriting the
  object at every line would grow with it.
  """

  def __init__(self, target, initial: bytes = b"", upload_every_s: float = 60.0,
               hold_in_memory: bool | None = None):
    """`hold_in_memory`: as on a bucket (the default there), also for a local file."""
    self.target = path(target)
    self.in_memory = is_bucket(target) if hold_in_memory is None else hold_in_memory
    self.upload_every_s = upload_every_s
    self._buffer = bytearray(initial) if self.in_memory else None
    self._handle = None
    if self.in_memory or initial:
      write_bytes(self.target, initial)      # whole: the kept lines survive any kill
    if not self.in_memory:
      self.target.parent.mkdir(parents=True, exist_ok=True)
      # A new file is opened as it is (no .tmp: a kill leaves at most a file cut short,
      # whose last record readers drop); a rewritten one is appended to.
      self._handle = self.target.open("ab" if initial else "wb")
    self._uploaded_at, self._dirty = time.monotonic(), False     # as just written
    self.uploads = self.bytes_uploaded = 0       # what a bucket was sent (benchmarks)

  def write(self, data: bytes) -> None:
    if not self.in_memory:
      self._handle.write(data)
      return
    self._buffer += data
    self._dirty = True
    if time.monotonic() - self._uploaded_at >= self.upload_every_s:
      self.sync()

  def flush(self) -> None:
    """Locally, to the file; on a bucket, as `write` decides (see `sync`)."""
    if self._handle is not None:
      self._handle.flush()

  def sync(self) -> None:
    """Everything written so far is in the file (local) or the object (bucket)."""
    if self._handle is not None:
      self._handle.flush()
    elif self._dirty:
      write_bytes(self.target, bytes(self._buffer))
      self._uploaded_at, self._dirty = time.monotonic(), False
      self.uploads += 1
      self.bytes_uploaded += len(self._buffer)

  def close(self) -> None:
    self.sync()
    if self._handle is not None:
      self._handle.close()
      self._handle = None

  @property
  def closed(self) -> bool:
    return self._handle is None and not self._dirty
