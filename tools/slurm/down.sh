#!/usr/bin/env bash
# Takes down the single-node Slurm that tools/slurm/up.sh started: cancels what is queued
# or running, then stops slurmd, slurmctld and munged by the PIDs in their pid files
# (killing slurmd alone would leave job processes running). Idempotent; as root.
set -euo pipefail
me="tools/slurm/down.sh"
export PATH="$PATH:/usr/sbin:/sbin:/usr/bin:/bin"
die() { echo "$me: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root (it stops the daemons that tools/slurm/up.sh started as root)"
exec 9>/run/avdf-slurm.lock
flock -w 60 9 || die "another tools/slurm/up.sh or down.sh holds /run/avdf-slurm.lock"

# alive PIDFILE COMM: the pid in PIDFILE runs a program named COMM (a zombie does not count).
alive() {
  local pid
  pid=$(cat "$1" 2>/dev/null) && [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] \
    && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null
}

if alive /run/slurmctld.pid slurmctld; then
  jobs=$(squeue -h -o %A 2>/dev/null || true)
  if [ -n "$jobs" ]; then
    # shellcheck disable=SC2086
    scancel $jobs || true
    for _ in $(seq 100); do [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.1; done
  fi
fi

stopped=()
for spec in /run/slurmd.pid:slurmd /run/slurmctld.pid:slurmctld /run/munge/munged.pid:munged; do
  pidfile=${spec%%:*} name=${spec##*:}
  alive "$pidfile" "$name" || continue
  pid=$(cat "$pidfile")
  kill "$pid"
  for _ in $(seq 100); do alive "$pidfile" "$name" || break; sleep 0.1; done
  if alive "$pidfile" "$name"; then kill -9 "$pid"; fi
  stopped+=("$name")
done
if [ ${#stopped[@]} -eq 0 ]; then
  echo "$me: nothing was running"
else
  echo "$me: stopped ${stopped[*]}"
fi
