#!/usr/bin/env bash
# Runs a command, or an array of tasks JOB=1:N, as one Slurm array job (sbatch --wait --array) and waits for it.
# Usage: slurm.pl [--gpu N] [--mem M] [--num-threads T] [--max-jobs-run K] [--config conf/queue.conf] \
#          [JOB=1:N] LOGFILE COMMAND...
# JOB is replaced by the task number in LOGFILE and COMMAND. Each log gets the command, the
# start time, '# Accounting: time=S threads=T' and '# Ended (code N) at ...'. Exits 1 with
# 'slurm.pl: N / M failed, log is in ...' if any task fails. Details: avdf/utils/queue.py.
exec "$(dirname "$(readlink -f "$0")")/avdf_python.sh" -m avdf.bin.queue slurm "$@"
