"""Kaldi's job launchers, run.pl (local), queue.pl (Grid Engine) and slurm.pl, in one module.

One interface for all three (``utils/run.pl``, ``utils/queue.pl``, ``utils/slurm.pl``):

    CMD [--gpu N] [--mem M] [--num-threads T] [--max-jobs-run K] [--config FILE] \\
        [JOB=1:N] LOGFILE COMMAND...

``JOB`` (or whatever name comes before ``=``) is replaced by the task number in LOGFILE
and COMMAND. Each task runs as ``bash -o pipefail -c COMMAND`` through the same small
bash job script on every back-end, which writes the command line and start time at the
top of the task's log and ``# Accounting: time=S threads=T`` and ``# Ended (code N) at
...`` at the bottom; a task's exit status is read back from that line, so a task that a
scheduler killed (no such line) counts as failed. COMMAND arguments are quoted for the
shell one by one, so spaces and metacharacters survive; a lone shell operator argument
(``\\|``, ``\\>``, ``\\&\\&`` ...) stays an operator, which is Kaldi's idiom for a
pipeline; a single COMMAND argument is run by bash as it is.
"""
from __future__ import annotations

import logging
import os
import re
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

SHELL_OPERATORS = frozenset({"|", "||", "&&", ";", "&", ">", ">>", "<", "2>", "2>>", "&>", "2>&1", "|&"})
_RANGE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(\d+)(?::(\d+))?$")
_ENDED = re.compile(r"^# Ended \(code (-?\d+)\)")

# Kaldi-style option maps: `option NAME=VALUE flags` (VALUE * matches anything; $0 is the
# value), `default NAME=VALUE`, `command <submit command>`. --max-jobs-run is built in.
DEFAULT_CONFIGS = {
    "slurm": """
command sbatch --export=ALL
option mem=* --mem $0
option mem=0
option num_threads=* --cpus-per-task $0
option num_threads=1 --cpus-per-task 1
default gpu=0
option gpu=0
option gpu=* --gres=gpu:$0
option time=* --time $0
option partition=* --partition $0
""",
    "sge": """
command qsub -V -cwd -S /bin/bash -j y
option mem=* -l mem_free=$0
option mem=0
option num_threads=* -pe smp $0
option num_threads=1
default gpu=0
option gpu=0
option gpu=* -l gpu=$0
option time=* -l h_rt=$0
""",
}


class QueueError(Exception):
    """Bad usage or a failed submission; the message is for the user."""


@dataclass
class Job:
    """A parsed command line: options, task range, log pattern and command."""
    prog: str
    options: dict[str, str] = field(default_factory=dict)
    config: str | None = None
    jobname: str | None = None
    first: int = 1
    last: int = 1
    logfile: str = ""
    command: list[str] = field(default_factory=list)

    @property
    def tasks(self) -> range:
        return range(self.first, self.last + 1)

    def _sub(self, text: str, task: int) -> str:
        return text.replace(self.jobname, str(task)) if self.jobname else text

    def log_of(self, task: int) -> str:
        return self._sub(self.logfile, task)

    def command_of(self, task: int) -> str:
        """The shell command line of one task, quoted as the module docstring says."""
        args = [self._sub(a, task) for a in self.command]
        if len(args) == 1:
            return args[0]
        return " ".join(a if a in SHELL_OPERATORS else shlex.quote(a) for a in args)

    @property
    def log_pattern(self) -> str:
        return self.logfile.replace(self.jobname, "*") if self.jobname and len(self.tasks) > 1 else self.log_of(self.first)

    def int_option(self, name: str, default: int, minimum: int) -> int:
        value = self.options.get(name, str(default))
        if not value.isdigit() or int(value) < minimum:
            raise QueueError(f"{self.prog}: --{name.replace('_', '-')} must be an integer >= {minimum}, got '{value}'")
        return int(value)


def parse_args(prog: str, argv: list[str]) -> Job:
    """Parse ``[--name value ...] [JOB=a:b] LOGFILE COMMAND...`` (``--name=value`` too;
    dashes and underscores in names are the same)."""
    job = Job(prog)
    i = 0
    while i < len(argv) and argv[i].startswith("--"):
        if "=" in argv[i]:
            opt, value = argv[i].split("=", 1)
            i += 1
        elif i + 1 < len(argv):
            opt, value = argv[i], argv[i + 1]
            i += 2
        else:
            raise QueueError(f"{prog}: option {argv[i]} needs a value")
        name = opt[2:].replace("-", "_")
        if name == "config":
            job.config = value
        else:
            job.options[name] = value
    m = _RANGE.match(argv[i]) if i < len(argv) else None
    if m:
        job.jobname, job.first = m.group(1), int(m.group(2))
        job.last = int(m.group(3)) if m.group(3) is not None else job.first
        if job.last < job.first:
            raise QueueError(f"{prog}: empty task range {argv[i]}")
        i += 1
    if len(argv) - i < 2:
        raise QueueError(f"usage: {prog} [--gpu N] [--mem M] [--num-threads T] [--max-jobs-run K] "
                         "[--config FILE] [JOB=1:N] LOGFILE COMMAND...")
    job.logfile, job.command = argv[i], argv[i + 1:]
    if len(job.tasks) > 1 and job.jobname not in job.logfile:
        raise QueueError(f"{prog}: {len(job.tasks)} tasks would write one log {job.logfile}; "
                         f"put {job.jobname} in its name")
    return job


def job_script(job: Job, tasks: range | list[int], task_var: str) -> str:
    """The bash script that runs task ``$task_var`` of ``job`` and writes its log."""
    cases = "\n".join(f"  {t}) log={shlex.quote(job.log_of(t))}; cmd={shlex.quote(job.command_of(t))};;"
                      for t in tasks)
    threads = job.int_option("num_threads", 1, 1)
    return f"""#!/usr/bin/env bash
# Written by {job.prog}; runs one task of {job.logfile}.
cd {shlex.quote(os.getcwd())} || exit 1
task=${{{task_var}:-}}
case "$task" in
{cases}
  *) echo "{job.prog}: no task '$task' in $0" >&2; exit 1;;
esac
mkdir -p "$(dirname "$log")" || exit 1
{{
  printf '# %s\\n' "${{cmd//$'\\n'/$'\\n'# }}"
  echo "# Started at $(date)"
  echo "# Running on $(hostname)"
  echo "#"
}} > "$log" || exit 1
start=$(date +%s)
bash -o pipefail -c "$cmd" >> "$log" 2>&1 < /dev/null
rc=$?
end=$(date +%s)
echo "# Accounting: time=$((end - start)) threads={threads}" >> "$log"
echo "# Ended (code $rc) at $(date), elapsed time $((end - start)) seconds" >> "$log"
exit $rc
"""


def task_status(logfile: str) -> tuple[int | None, str]:
    """(exit code, reason) of a task from its log; code None when the log has no end line."""
    try:
        with open(logfile, "rb") as f:
            f.seek(max(0, os.path.getsize(logfile) - 4096))
            tail = f.read().decode("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return None, "no log: the task never ran"
    for line in reversed(tail):
        m = _ENDED.match(line)
        if m:
            code = int(m.group(1))
            return code, f"exit code {code}"
    return None, "no '# Ended' line: the task was killed or is still running"


def failures(job: Job) -> list[tuple[str, str]]:
    """(log, reason) of every task whose log does not end with code 0."""
    out = []
    for t in job.tasks:
        code, reason = task_status(job.log_of(t))
        if code != 0:
            out.append((job.log_of(t), reason))
    return out


def _prepare_logs(job: Job) -> None:
    """Create the log directories and remove old logs, so a stale log never passes as a result."""
    for t in job.tasks:
        log = Path(job.log_of(t))
        log.parent.mkdir(parents=True, exist_ok=True)
        log.unlink(missing_ok=True)


def _default_max_jobs(job: Job) -> int:
    """Kaldi's default: one task per GPU with --gpu, else one per CPU core."""
    if job.int_option("gpu", 0, 0) > 0:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible is not None:
            return max(1, len([d for d in visible.split(",") if d.strip()]))
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30).stdout
            return max(1, len(out.splitlines()))
        except (OSError, subprocess.SubprocessError):
            return 1
    return len(os.sched_getaffinity(0))


def _terminate_on_signals() -> None:
    """Turn SIGTERM into SystemExit so that cleanup code runs (Ctrl-C already raises), and
    ask Linux for a SIGTERM when the process that started run.pl dies (a recipe killed with
    ``kill -9``): the tasks, each in its own session, then end with it instead of running on
    and writing into the experiment a re-run resumes."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        import ctypes
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            return
        if os.getppid() != parent:  # it died before the request took effect
            sys.exit(128 + signal.SIGTERM)


def run_local(job: Job) -> list[tuple[str, str]]:
    """run.pl: the tasks as local processes, at most --max-jobs-run at a time."""
    max_jobs = job.int_option("max_jobs_run", _default_max_jobs(job), 1)
    _prepare_logs(job)
    _terminate_on_signals()
    pending = list(job.tasks)
    running: dict[int, subprocess.Popen] = {}
    try:
        while pending or running:
            while pending and len(running) < max_jobs:
                t = pending.pop(0)
                p = subprocess.Popen(["bash", "-c", job_script(job, [t], "AVDF_TASK")],
                                     env={**os.environ, "AVDF_TASK": str(t)},
                                     stdin=subprocess.DEVNULL, start_new_session=True)
                running[p.pid] = p
            pid, status = os.wait()
            if pid in running:
                running.pop(pid).returncode = os.waitstatus_to_exitcode(status)
    except BaseException:
        for p in running.values():
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        raise
    return failures(job)


def read_config(prog: str, path: str | None, backend: str) -> tuple[list[str], dict[str, dict[str, str]], dict[str, str]]:
    """Parse a Kaldi queue config: (submit command, {option: {value or *: flags}}, defaults)."""
    if path is not None and not os.path.isfile(path):
        raise QueueError(f"{prog}: --config {path}: file does not exist")
    text = Path(path).read_text() if path else DEFAULT_CONFIGS[backend]
    where = path or f"{prog}'s built-in config"
    command: list[str] = []
    rules: dict[str, dict[str, str]] = {}
    defaults: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        kind, _, rest = line.partition(" ")
        rest = rest.strip()
        if kind == "command" and rest:
            command = shlex.split(rest)
            continue
        spec, _, flags = rest.partition(" ")
        name, eq, value = spec.partition("=")
        if kind not in ("option", "default") or not eq or not name or not value:
            raise QueueError(f"{prog}: {where}:{n}: expected 'command ...', 'option NAME=VALUE flags' "
                             f"or 'default NAME=VALUE', got {raw!r}")
        if kind == "default":
            defaults[name] = value
        else:
            rules.setdefault(name, {})[value] = flags.strip()
    if not command:
        raise QueueError(f"{prog}: {where}: no 'command' line")
    return command, rules, defaults


def submit_flags(job: Job, backend: str) -> list[str]:
    """The submit command with the flags that the config maps the options to."""
    command, rules, defaults = read_config(job.prog, job.config, backend)
    for name in job.options:
        if name != "max_jobs_run" and name not in rules:
            raise QueueError(f"{job.prog}: unknown option --{name.replace('_', '-')} "
                             f"(options: {', '.join('--' + r.replace('_', '-') for r in sorted(rules))}, --max-jobs-run)")
    flags = list(command)
    for name, by_value in rules.items():
        value = job.options.get(name, defaults.get(name))
        if value is None:
            continue
        if value in by_value:
            flags += shlex.split(by_value[value])
        elif "*" in by_value:
            flags += shlex.split(by_value["*"].replace("$0", value))
        else:
            raise QueueError(f"{job.prog}: no rule for --{name.replace('_', '-')} {value} in the config")
    return flags


def _queue_paths(job: Job) -> tuple[Path, str]:
    """Kaldi's layout: <logdir>/q/ holds the job script and the scheduler's own output."""
    parts = Path(job.logfile).parts
    cut = next((i for i, p in enumerate(parts[:-1]) if job.jobname and job.jobname in p), len(parts) - 1)
    qdir = Path(*parts[:cut], "q") if cut else Path("q")
    base = parts[-1].replace(f".{job.jobname}", "").replace(job.jobname, "") if job.jobname else parts[-1]
    return qdir, re.sub(r"\.[A-Za-z]{1,5}$", "", base) or "job"


def run_scheduler(job: Job, backend: str) -> list[tuple[str, str]]:
    """slurm.pl / queue.pl: one array job, waited for, then every task's log checked."""
    flags = submit_flags(job, backend)
    max_jobs = job.int_option("max_jobs_run", 0, 0)
    qdir, stem = _queue_paths(job)
    qdir.mkdir(parents=True, exist_ok=True)
    _prepare_logs(job)
    script = qdir / f"{stem}.sh"
    task_var = "SLURM_ARRAY_TASK_ID" if backend == "slurm" else "SGE_TASK_ID"
    script.write_text(job_script(job, job.tasks, task_var))
    script.chmod(0o755)
    if backend == "slurm":
        array = f"{job.first}-{job.last}" + (f"%{max_jobs}" if max_jobs else "")
        argv = [*flags, "--wait", "--parsable", f"--array={array}", f"--job-name={stem}",
                f"--output={qdir}/{stem}.%a.log", f"--chdir={os.getcwd()}", str(script)]
    else:
        argv = [*flags, "-sync", "y", "-t", f"{job.first}-{job.last}", *(["-tc", str(max_jobs)] if max_jobs else []),
                "-N", stem, "-o", f"{qdir}/{stem}.log", str(script)]
    (qdir / f"{stem}.cmd").write_text(shlex.join(argv) + "\n")
    _terminate_on_signals()
    try:
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except FileNotFoundError:
        raise QueueError(f"{job.prog}: {argv[0]} not found on PATH") from None
    job_id = None
    try:
        if backend == "slurm":
            first = p.stdout.readline().strip()
            job_id = first.split(";")[0] or None
        out, err = p.communicate()
    except BaseException:
        if job_id:
            subprocess.run(["scancel", job_id], check=False)
        p.kill()
        raise
    if p.returncode != 0 and not any(os.path.exists(job.log_of(t)) for t in job.tasks):
        raise QueueError(f"{job.prog}: {argv[0]} failed (code {p.returncode}) and no task ran: "
                         f"{err.strip() or out.strip()} (the command is in {qdir}/{stem}.cmd)")
    if p.returncode != 0:
        logger.info("%s exited %d: %s", argv[0], p.returncode, err.strip())
    return failures(job)
