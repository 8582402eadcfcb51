#!/usr/bin/env bash
# Runs the same ecgjax command on every worker of a TPU VM slice.
#
#   launch/tpu_vm.sh TPU_NAME ZONE -- --config=ecgjax/configs/pretrain.py:synthetic_large --workdir=gs://BUCKET/run1
#
# Each worker needs the repository at ~/ecgjax and the dataset where the config
# points (a gs:// data_dir works for TFDS). jax.distributed.initialize() finds
# the other workers from the TPU environment; each reads its own data slice.
set -euo pipefail
tpu=$1 zone=$2
shift 2
[ "${1:-}" = "--" ] && shift
args=$(printf ' %q' "$@")
gcloud compute tpus tpu-vm ssh "$tpu" --zone="$zone" --worker=all --command \
  "cd ~/ecgjax && . .venv/bin/activate && python -m ecgjax.main$args"
