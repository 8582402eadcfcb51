#!/usr/bin/env bash
# One process per node over a Slurm allocation (each process sees all its GPUs).
#
#   sbatch --nodes=2 --gpus-per-node=8 launch/slurm_gpu.sh --config=ecgjax/configs/pretrain.py:synthetic_large --workdir=/shared/run1
#
#SBATCH --ntasks-per-node=1
set -euo pipefail
head_node=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
export JAX_COORDINATOR_ADDRESS="${head_node}:12355"
export JAX_NUM_PROCESSES="$SLURM_NNODES"
srun bash -c 'JAX_PROCESS_ID=$SLURM_PROCID python -m ecgjax.main "$@"' _ "$@"
