#!/usr/bin/env bash
# One process per node over a Slurm allocation; each process drives its node's GPUs.
#
#   sbatch --nodes=2 --gpus-per-node=8 launch/slurm_gpu.sh --config=ecgjax/configs/pretrain.py:synthetic_large --workdir=/shared/run1
#
# JAX reads the coordinator, process count and process id from Slurm's
# environment (jax.distributed.initialize's cluster detection).
#SBATCH --ntasks-per-node=1
set -euo pipefail
srun python -m ecgjax.main "$@"
