"""Devices, the mesh and the two shardings every step uses.

One program for one device or many, one host or many: parameters and optimiser
state are replicated, the batch is split along the mesh's `data` axis. Under
sharded jit the BatchNorm statistics are computed over the global batch.
"""

import os

import jax
from absl import logging
from jax.sharding import NamedSharding, PartitionSpec

DATA_AXIS = "data"


def initialize_distributed() -> None:
  """Joins a multi-process run when there is one; a single process otherwise.

  JAX detects the cluster itself (Cloud TPU VMs through their metadata server,
  GKE, Slurm, Open MPI, Kubernetes). A hand-started run sets
  JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID on every process.
  """
  explicit = {}
  if "JAX_NUM_PROCESSES" in os.environ:
    explicit = dict(num_processes=int(os.environ["JAX_NUM_PROCESSES"]),
                    process_id=int(os.environ["JAX_PROCESS_ID"]))
  try:
    jax.distributed.initialize(**explicit)
  except ValueError as e:
    # JAX's answer when no cluster was detected and no coordinator was given.
    if "coordinator_address should be defined" not in str(e) or explicit:
      raise
    logging.debug("no multi-process cluster detected: running as a single process")
    return
  logging.info("process %d of %d, %d local of %d devices", jax.process_index(),
               jax.process_count(), jax.local_device_count(), jax.device_count())


def make_data_mesh(devices=None, explicit: bool = True) -> jax.sharding.Mesh:
  """A 1-D mesh over `devices` (default: every device of every process). `explicit`:
  its axis is Explicit (sharding part of every array's type); else Auto, XLA propagating
  shardings from the jitted function's own, as a stacked group's step needs: under vmap a
  reshape of a batch sharded in its type is refused (ShardingTypeError, JAX 0.10)."""
  devices = jax.devices() if devices is None else list(devices)
  axis_type = jax.sharding.AxisType.Explicit if explicit else jax.sharding.AxisType.Auto
  return jax.make_mesh((len(devices),), (DATA_AXIS,), axis_types=(axis_type,),
                       devices=devices)


def replicated(mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def global_batch(local_batch: dict, sharding: NamedSharding) -> dict:
  """Per-process numpy arrays -> global jax arrays split along `data`."""
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x),
                      local_batch)
