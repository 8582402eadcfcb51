"""Building a network: its initial weights drawn in one compiled program, or none drawn.

Flax NNX draws a module's initial weights eagerly, each initialiser call a small XLA
program of its own: constructing the default ResNet1D compiles some thirty of them,
~4.4 s on 2 cores before a command's first step (more than `predict` then spends
scoring its samples). `initialised` runs the same construction under `nnx.jit`: one
program, the same values to the bit (the same threefry keys through the same
operations; tests/test_model.py). The seed is the program's argument, not a constant
in it, so the runs of a sweep (one process, one architecture, many seeds) compile it
once. A network whose weights are all about to be loaded from a checkpoint needs none
drawn: `abstract` gives its structure, shapes and dtypes only, computing nothing.
"""

import functools
from collections.abc import Callable, Hashable
from typing import TypeVar

from flax import nnx

Module = TypeVar("Module", bound=nnx.Module)


def initialised(network: type[Module], *args: Hashable, seed: int,
                **kwargs: Hashable) -> Module:
  """`network(*args, **kwargs, rngs=nnx.Rngs(params=seed))`, its weights drawn in one
  compiled program; the arguments hashable (they key jit's cache)."""
  return _drawn(network, args, tuple(sorted(kwargs.items())), nnx.Rngs(params=seed))


@functools.partial(nnx.jit, static_argnums=(0, 1, 2))
def _drawn(network, args: tuple, kwargs: tuple, rngs: nnx.Rngs):
  return network(*args, **dict(kwargs), rngs=rngs)


def abstract(make: Callable[[], Module]) -> Module:
  """`make()`'s structure, each weight a `jax.ShapeDtypeStruct`: for a network whose
  weights will all be replaced (a checkpoint's, through training.transfer)."""
  return nnx.eval_shape(make)
