#!/usr/bin/env bash
# ecgjax on a Slurm GPU cluster: one process per node, each driving its node's GPUs.
#
#   launch/slurm_gpu.sh --nodes=N --gpus_per_node=G [--dry_run] [--time=HH:MM:SS]
#       [--partition=P] [--venv=DIR] -- FLAGS...
#
# Submits one batch job (sbatch) whose single step (srun, one task per node)
# starts `python -m ecgjax.main FLAGS...` on every node, from this checkout
# (on the cluster's shared filesystem) with the virtual environment DIR (default:
# .venv in the checkout, installed with `pip install -e ".[train,cuda]"`).
# jax.distributed.initialize() reads the coordinator, process count and process id
# from Slurm's environment. The job's log is slurm-JOBID.out in this directory.
#
# --dry_run prints the sbatch command and the job script, and submits nothing.
set -euo pipefail

usage() {
  sed -n '4,5p' "$0" | sed 's/^# *//' >&2
  exit 2
}

nodes="" gpus="" dry_run=0 time_limit="" partition=""
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=$repo/.venv
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes=*) nodes=${1#--nodes=} ;;
    --gpus_per_node=*) gpus=${1#--gpus_per_node=} ;;
    --time=*) time_limit=${1#--time=} ;;
    --partition=*) partition=${1#--partition=} ;;
    --venv=*) venv=${1#--venv=} ;;
    --dry_run) dry_run=1 ;;
    --) shift; break ;;
    *) echo "slurm_gpu.sh: unknown option $1" >&2; usage ;;
  esac
  shift
done
for pair in "nodes:$nodes" "gpus_per_node:$gpus"; do
  if ! [[ ${pair#*:} =~ ^[1-9][0-9]*$ ]]; then
    echo "slurm_gpu.sh: --${pair%%:*} must be a positive integer, got '${pair#*:}'" >&2
    usage
  fi
done
if [ $# -eq 0 ]; then
  echo "slurm_gpu.sh: give the flags of python -m ecgjax.main after --" >&2
  exit 2
fi

sbatch_args=(--job-name=ecgjax --nodes="$nodes" --ntasks-per-node=1
             --gpus-per-node="$gpus" --exclusive)
[ -n "$time_limit" ] && sbatch_args+=(--time="$time_limit")
[ -n "$partition" ] && sbatch_args+=(--partition="$partition")

script="#!/usr/bin/env bash
set -euo pipefail
cd $(printf '%q' "$repo")
. $(printf '%q' "$venv")/bin/activate
srun --nodes=$nodes --ntasks-per-node=1 python -m ecgjax.main$(printf ' %q' "$@")"

if [ "$dry_run" = 1 ]; then
  printf '%q ' sbatch "${sbatch_args[@]}" | sed 's/ $//'
  echo
  echo "$script"
else
  echo "$script" | sbatch "${sbatch_args[@]}"
fi
