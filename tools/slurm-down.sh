#!/usr/bin/env bash
# Stop the one-node SLURM that tools/slurm-up.sh started: slurmd, slurmctld, munged (their pid files).
set -uo pipefail
STATE=/var/lib/dnn-suite-slurm
sudo=$([ "$(id -u)" -eq 0 ] || echo sudo)
for pidfile in "$STATE/slurmd.pid" "$STATE/slurmctld.pid" /run/munge/munged.pid; do
  [ -s "$pidfile" ] && $sudo kill "$(cat "$pidfile")" 2>/dev/null
done
echo "slurm-down: stopped"
