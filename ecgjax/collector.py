"""Python's cyclic garbage collector, kept off the objects a command's libraries load.

TensorFlow, JAX, scikit-learn and their dependencies load some 850,000 Python objects
that live as long as the process. Every full collection walks all of them (~0.25-0.4 s
on 2 cores): ~8 times while TensorFlow imports (~1.5-2 s of a training command's
start-up), more while it runs, and once more as the interpreter exits, after the
command has printed its last line (~2.5-3 s). `gc.freeze()` moves every object alive
at that moment into a permanent generation that no collection visits; what is made
afterwards is collected as before. Measured with benchmarks/command_wall.py
(docs/benchmarks.md, "Python's garbage collector in a command").

TensorFlow-free, as console.py: predict and export use it too.
"""

import atexit
import contextlib
import gc


@contextlib.contextmanager
def paused_while_loading():
  """No collection while the libraries load, then everything alive frozen.

  Imports make almost no cyclic garbage (a collection after a training command's imports
  frees ~3,000 of ~850,000 objects), so nothing is collected first: that collection
  would itself cost one full walk (~0.6 s)."""
  enabled = gc.isenabled()
  gc.disable()
  try:
    yield
  finally:
    gc.freeze()
    if enabled:
      gc.enable()


def no_collection_at_exit() -> None:
  """The interpreter's last collection, as it exits, skips every object: by then the
  command has closed every file it wrote (logging's own exit function, which still
  runs, flushes the log), and the process's memory goes back to the system whole. An
  object whose `__del__` would run only in that collection (one held in a reference
  cycle) is not finalised, as Python allows of objects alive at exit. Registering it
  twice is harmless: a second freeze finds nothing new."""
  atexit.register(gc.freeze)      # atexit functions all run before that collection
