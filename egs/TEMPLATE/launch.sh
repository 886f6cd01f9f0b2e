#!/usr/bin/env bash
# Runs a python module on one process, or under DDP on several.
#   launch.sh [--ngpu N] [--nproc N] [--nnodes N] -- MODULE ARGS...
# --ngpu N > 1: torchrun on N GPUs of this node (nccl). --nproc N > 1 without GPUs:
# N CPU processes (gloo), as CLUSTER.md describes. Under an srun allocation with several
# tasks, the ranks come from Slurm (avdf/train/distributed.py reads SLURM_*).
set -euo pipefail
ngpu=0; nproc=1; nnodes=1
while [ $# -gt 0 ]; do
  case "$1" in
    --ngpu) ngpu=$2; shift 2;;
    --nproc) nproc=$2; shift 2;;
    --nnodes) nnodes=$2; shift 2;;
    --) shift; break;;
    *) break;;
  esac
done
[ $# -ge 1 ] || { echo "launch.sh: no module given" >&2; exit 1; }
module=$1; shift
procs=$nproc
[ "$ngpu" -gt 1 ] && procs=$ngpu
cpu_flag=()
[ "$ngpu" -eq 0 ] && cpu_flag=(--cpu)
if [ "$procs" -gt 1 ] || [ "$nnodes" -gt 1 ]; then
  if [ "$nnodes" -gt 1 ]; then
    exec torchrun --nnodes "$nnodes" --nproc_per_node "$procs" --rdzv_backend c10d \
      --rdzv_endpoint "${MASTER_ADDR:-127.0.0.1}:${MASTER_PORT:-29500}" -m "$module" "$@" "${cpu_flag[@]}"
  fi
  exec torchrun --standalone --nproc_per_node "$procs" -m "$module" "$@" "${cpu_flag[@]}"
fi
exec python -m "$module" "$@" "${cpu_flag[@]}"
