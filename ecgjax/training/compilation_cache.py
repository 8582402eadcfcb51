"""Compiled programs shared by the runs of one process.

A sweep (and the demo) trains its runs one after another in one process, and runs that
differ only in their seed compile to the same programs: the train step (its key is an
argument, under jit and pmap: training.parallel), the evaluation step and the probe's feature step. Each
run builds its own jitted functions, so jit's in-memory cache never sees them again; JAX's
compilation cache, keyed by the program itself, the devices and the JAX version, does.

Unless the user keeps a cache of their own (`JAX_COMPILATION_CACHE_DIR`, which JAX reads),
the process gets one in a temporary directory removed at exit: nothing is left between
commands, and nothing is shared with another user. To keep compiled programs across
commands (a run resumed after preemption, the demo run again), set
`JAX_COMPILATION_CACHE_DIR` to a directory only you can write: JAX runs what it finds
there.
"""

import atexit
import os
import shutil
import tempfile

import jax

# Programs that compile faster than this are not kept: reading one back would save
# little. A demo fine-tune's evaluation step compiles in ~0.35 s on 2 cores, its train
# step in ~4.5 s (JAX's own default, 1 s, would leave the evaluation step out).
MIN_COMPILE_SECONDS = 0.2


def share_within_process() -> str | None:
  """Points JAX's compilation cache at a directory of this process's own, unless one is
  configured; returns it (None: the user's is used). Call before the first compile."""
  if os.environ.get("JAX_COMPILATION_CACHE_DIR") or jax.config.jax_compilation_cache_dir:
    return None
  directory = tempfile.mkdtemp(prefix="ecgjax-compiled-")
  atexit.register(shutil.rmtree, directory, ignore_errors=True)
  jax.config.update("jax_compilation_cache_dir", directory)
  if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
  return directory
