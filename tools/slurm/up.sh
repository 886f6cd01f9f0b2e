#!/usr/bin/env bash
# Brings up a single-node Slurm on this machine (node "localhost", partition "debug"), for
# the tests and for trying the recipes' --cmd_backend slurm without a cluster.
#   tools/slurm/up.sh [--timeout SECONDS]     (as root; tools/slurm/down.sh takes it down)
# Needs the Debian packages slurmctld, slurmd, slurm-client and munge (tools/install_debian.sh)
# and no systemd: it writes /etc/slurm/slurm.conf (CPUs and memory of this machine), starts
# munged, slurmctld and slurmd, and waits until sinfo shows the node idle. Idempotent: if
# all is up with the same config it does nothing. It never overwrites a slurm.conf that it
# did not write (a real cluster's). Prints "started" or "already up" as its last line.
set -euo pipefail
timeout=60
while [ $# -gt 0 ]; do
  case "$1" in
    --timeout) timeout=$2; shift 2;;
    *) echo "usage: $0 [--timeout SECONDS]" >&2; exit 1;;
  esac
done

me="tools/slurm/up.sh"
export PATH="$PATH:/usr/sbin:/sbin:/usr/bin:/bin"
die() { echo "$me: $*" >&2; exit 1; }
MARK="# Written by avdf tools/slurm/up.sh"
CONF=/etc/slurm/slurm.conf

[ "$(id -u)" -eq 0 ] || die "must run as root (it writes $CONF and starts munged, slurmctld and slurmd as root); \
on a machine with a Slurm cluster, use that cluster instead"
for exe in /usr/sbin/munged /usr/sbin/slurmctld /usr/sbin/slurmd sinfo scontrol runuser; do
  command -v "$exe" >/dev/null || die "$exe not found; install the Debian packages slurmctld slurmd slurm-client munge (make -C tools)"
done
if [ -f "$CONF" ] && ! grep -qxF "$MARK" "$CONF"; then
  die "$CONF exists and was not written by this script; not touching it (move it away to use the localhost Slurm)"
fi

# (the daemons are started with the lock's descriptor closed, or they would hold it forever)
exec 9>/run/avdf-slurm.lock
flock -w "$timeout" 9 || die "another tools/slurm/up.sh or down.sh holds /run/avdf-slurm.lock"

# alive PIDFILE COMM: the pid in PIDFILE runs a program named COMM (a zombie does not count).
alive() {
  local pid
  pid=$(cat "$1" 2>/dev/null) && [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] \
    && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null
}

node=$(/usr/sbin/slurmd -C | head -1)
cpus=$(nproc)
detected_mb=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<< "$node")
[ -n "$detected_mb" ] || die "could not read this machine's memory from 'slurmd -C': $node"
mem_mb=$((detected_mb * 8 / 10))  # leave room for the system, as a real node does

conf="$MARK
ClusterName=avdf
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=5
MailProg=/bin/true
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP"

node_state() { sinfo -h -N -n localhost -o %t 2>/dev/null | head -1; }

changed=false
if [ "$(cat "$CONF" 2>/dev/null)" != "$conf" ]; then
  changed=true
fi
if ! $changed && alive /run/munge/munged.pid munged && alive /run/slurmctld.pid slurmctld \
   && alive /run/slurmd.pid slurmd && [[ "$(node_state)" =~ ^(idle|mix|alloc) ]]; then
  echo "$me: already up (node localhost $(node_state), $cpus CPUs, ${mem_mb} MB)"
  exit 0
fi

mkdir -p /etc/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm /run/munge
if $changed; then
  printf '%s\n' "$conf" > "$CONF.tmp" && mv "$CONF.tmp" "$CONF"
  # a node change needs both daemons restarted (scontrol reconfigure refuses it)
  for d in slurmd slurmctld; do
    if alive "/run/$d.pid" "$d"; then
      kill "$(cat "/run/$d.pid")"
      for _ in $(seq 100); do alive "/run/$d.pid" "$d" || break; sleep 0.1; done
    fi
  done
fi

if ! alive /run/munge/munged.pid munged; then
  if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --keyfile /etc/munge/munge.key
  fi
  chown munge: /run/munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
  runuser -u munge -- /usr/sbin/munged 9>&- || die "munged did not start (see /var/log/munge/munged.log)"
fi
alive /run/slurmctld.pid slurmctld || /usr/sbin/slurmctld 9>&- || die "slurmctld did not start (see /var/log/slurm/slurmctld.log)"
alive /run/slurmd.pid slurmd || /usr/sbin/slurmd -N localhost 9>&- || die "slurmd did not start (see /var/log/slurm/slurmd.log)"

deadline=$((SECONDS + timeout))
resumed=false
while :; do
  state=$(node_state)
  case "$state" in
    idle*|mix*|alloc*) break;;
    drain*|down*)
      if ! $resumed; then scontrol update NodeName=localhost State=RESUME 2>/dev/null || true; resumed=true; fi;;
  esac
  if [ $SECONDS -ge $deadline ]; then
    echo "$me: node localhost is not idle after ${timeout}s (state: '${state:-no answer from slurmctld}')" >&2
    for log in /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log; do
      echo "--- last lines of $log:" >&2; tail -n 15 "$log" >&2 2>/dev/null || true
    done
    exit 1
  fi
  sleep 0.2
done
echo "$me: started (node localhost $state, $cpus CPUs, ${mem_mb} MB)"
