"""Entry point of utils/run.pl, utils/queue.pl and utils/slurm.pl (see avdf.utils.queue):

    python -m avdf.bin.queue run|sge|slurm [--gpu N] [--mem M] [--num-threads T] \\
        [--max-jobs-run K] [--config FILE] [JOB=1:N] LOGFILE COMMAND...

Exits 0 when every task ended with code 0; otherwise prints
``<prog>: N / M failed, log is in <log pattern>`` and the failed logs, and exits 1.
"""
from __future__ import annotations

import sys

from avdf.utils import queue
from avdf.bin import run

PROGS = {"run": "run.pl", "sge": "queue.pl", "slurm": "slurm.pl"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in PROGS:
        print(f"usage: python -m avdf.bin.queue {{{'|'.join(PROGS)}}} ARGS...", file=sys.stderr)
        return 2
    backend, prog = argv[0], PROGS[argv[0]]
    try:
        job = queue.parse_args(prog, argv[1:])
        failed = queue.run_local(job) if backend == "run" else queue.run_scheduler(job, backend)
    except queue.QueueError as e:
        print(e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    if not failed:
        return 0
    n = len(job.tasks)
    print(f"{prog}: {len(failed)} / {n} failed, log is in {job.log_pattern}", file=sys.stderr)
    for log, reason in failed[:10]:
        print(f"{prog}: failed: {log} ({reason})", file=sys.stderr)
    if len(failed) > 10:
        print(f"{prog}: ... and {len(failed) - 10} more", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(run(main, "queue"))
