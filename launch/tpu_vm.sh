#!/usr/bin/env bash
# ecgjax on every worker of a Cloud TPU VM slice.
#
#   launch/tpu_vm.sh setup TPU_NAME ZONE [--dry_run] [--clone=URL[@REF]]
#   launch/tpu_vm.sh run   TPU_NAME ZONE [--dry_run] -- FLAGS...
#
# setup puts the repository at ~/ecgjax on every worker and installs it with the
# `tpu` extra into ~/ecgjax/.venv. By default it copies this checkout's committed
# HEAD (git archive, so what runs is a commit you can name); --clone=URL[@REF]
# clones instead. run starts `python -m ecgjax.main FLAGS...` on all workers at
# once; jax.distributed.initialize() finds the other workers from the TPU
# environment and each reads its own slice of the data. Data and workdir belong
# in a bucket (gs://...), which TFDS, Orbax and the workdir files read and write.
#
# --dry_run prints every command, one per line, and runs none of them.
set -euo pipefail

usage() {
  sed -n '4,5p' "$0" | sed 's/^# *//' >&2
  exit 2
}

[ $# -ge 3 ] || usage
action=$1 tpu=$2 zone=$3
shift 3
dry_run=0 clone=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry_run) dry_run=1 ;;
    --clone=*) clone=${1#--clone=} ;;
    --) shift; break ;;
    *) echo "tpu_vm.sh: unknown option $1" >&2; usage ;;
  esac
  shift
done
case "$action" in setup|run) ;; *) echo "tpu_vm.sh: unknown action $action" >&2; usage ;; esac
if [ "$action" = run ] && [ $# -eq 0 ]; then
  echo "tpu_vm.sh run: give the flags of python -m ecgjax.main after --" >&2
  exit 2
fi

# One word for a shell: as it is when plain, else in single quotes.
quote() {
  if [[ $1 =~ ^[A-Za-z0-9_./:=@,+%-]+$ ]]; then
    printf '%s' "$1"
  else
    printf "'%s'" "${1//\'/\'\\\'\'}"
  fi
}

# Prints the command (quoted, so it can be pasted) or runs it.
step() {
  if [ "$dry_run" = 1 ]; then
    local words=() w
    for w in "$@"; do words+=("$(quote "$w")"); done
    echo "${words[*]}"
  else
    "$@"
  fi
}

ssh_all() {
  step gcloud compute tpus tpu-vm ssh "$tpu" --zone="$zone" --worker=all --command "$1"
}

install='cd ~/ecgjax && python3 -m venv .venv && . .venv/bin/activate && pip install -q -U pip && pip install -q -e ".[train,tpu]"'

if [ "$action" = setup ]; then
  if [ -n "$clone" ]; then
    url=${clone%@*} ref=""
    [ "$url" != "$clone" ] && ref=${clone##*@}
    checkout=""
    [ -n "$ref" ] && checkout=" && git -C ~/ecgjax checkout -q $(quote "$ref")"
    ssh_all "rm -rf ~/ecgjax && git clone -q $(quote "$url") ~/ecgjax$checkout && $install"
  else
    repo=$(cd "$(dirname "$0")/.." && pwd)
    archive=${TMPDIR:-/tmp}/ecgjax-$(git -C "$repo" rev-parse --short HEAD).tar.gz
    if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
      echo "tpu_vm.sh: uncommitted changes are not copied: setup copies HEAD" \
        "($(git -C "$repo" rev-parse --short HEAD))" >&2
    fi
    step git -C "$repo" archive --format=tar.gz -o "$archive" HEAD
    step gcloud compute tpus tpu-vm scp "$archive" "$tpu:ecgjax.tar.gz" --zone="$zone" --worker=all
    ssh_all "rm -rf ~/ecgjax && mkdir ~/ecgjax && tar -xzf ~/ecgjax.tar.gz -C ~/ecgjax && $install"
  fi
else
  flags=""
  for flag in "$@"; do flags+=" $(quote "$flag")"; done
  ssh_all "cd ~/ecgjax && . .venv/bin/activate && python -m ecgjax.main$flags"
fi
