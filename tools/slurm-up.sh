#!/usr/bin/env bash
# A one-node SLURM on this machine, for the tests of `--executor slurm` (tests/slurm/) and for trying
# the executor without a cluster. Run as root (or with sudo); CI runs it before the tests.
#
# Installs slurm-wlm and munge from the distribution's packages when missing, writes
# /etc/slurm/slurm.conf for this machine (its real CPU count and memory, from `slurmd -C`), starts
# munged, slurmctld and slurmd (no systemd needed), and waits until `sinfo` shows the node idle.
# Without accounting (no slurmdbd): the executor reads job states from `scontrol`, and finished jobs
# are kept in the controller's memory for a day (MinJobAge). A slurm.conf that this script did not
# write is never replaced. `tools/slurm-down.sh` stops the daemons.
set -euo pipefail

MARK="# written by dnn-suite tools/slurm-up.sh"
CONF=/etc/slurm/slurm.conf
STATE=/var/lib/dnn-suite-slurm
sudo=$([ "$(id -u)" -eq 0 ] || echo sudo)

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

if [ -e "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
  echo "slurm-up: $CONF exists and was not written by this script; not replacing it" >&2
  exit 1
fi

node=$(hostname -s)
# `slurmd -C`: NodeName=... CPUs=... Boards=... SocketsPerBoard=... CoresPerSocket=... ThreadsPerCore=... RealMemory=...
hardware=$(slurmd -C | head -n 1 | sed "s/^NodeName=[^ ]*/NodeName=$node/")
$sudo mkdir -p /etc/slurm "$STATE/ctld" "$STATE/d" /run/munge /var/log/munge /var/lib/munge
$sudo tee "$CONF" >/dev/null <<EOF
$MARK
ClusterName=dnnsuite
SlurmctldHost=$node
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
# finished jobs stay visible to scontrol for a day (there is no accounting database)
MinJobAge=86400
# SIGTERM, then SIGKILL this many seconds later (time limit, scancel): the tests wait for both
KillWait=5
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
$hardware State=UNKNOWN
# OverSubscribe: up to 4 jobs share a CPU, so that the tests' jobs (mostly waiting) run side by side on 2 cores
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF

$sudo chown munge:munge /run/munge /var/log/munge /var/lib/munge
if [ ! -s /etc/munge/munge.key ]; then
  $sudo dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=128 status=none
  $sudo chown munge:munge /etc/munge/munge.key && $sudo chmod 400 /etc/munge/munge.key
fi
start() {  # start daemon $1 (command: the rest) unless it runs; on failure show its log's end
  local name=$1 log=$2; shift 2
  pgrep -x -r D,R,S "$name" >/dev/null && return 0  # zombies of an earlier run do not count
  "$@" || { echo "slurm-up: $name did not start; the end of $log:" >&2; $sudo tail -n 5 "$log" >&2; exit 1; }
}
start munged /var/log/munge/munged.log $sudo runuser -u munge -- munged
start slurmctld "$STATE/slurmctld.log" $sudo slurmctld
start slurmd "$STATE/slurmd.log" $sudo slurmd

for _ in $(seq 30); do
  state=$(timeout 5 sinfo -h -n "$node" -o %T 2>/dev/null || true)
  if [ "$state" = idle ]; then
    echo "slurm-up: node $node idle ($(sinfo -h -n "$node" -o '%c CPUs, %m MB'))"
    exit 0
  fi
  sleep 1
done
echo "slurm-up: node $node not idle after 30 tries (state: ${state:-no answer}); logs in $STATE" >&2
exit 1
