"""utils/run.pl, utils/queue.pl (against a fake qsub) and utils/slurm.pl's flag mapping
(against a fake sbatch); the real-Slurm tests are in test_slurm.py."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Stand-ins for the schedulers: record the arguments, run the job script once per task
# with the scheduler's task variable set, and exit with the highest task exit code.
FAKE_QSUB = r"""#!/usr/bin/env bash
printf '%s\n' "$@" > "$FAKE_ARGS"
range=
while [ $# -gt 1 ]; do [ "$1" = -t ] && range=$2; shift; done
script=$1; rc=0
for i in $(seq ${range%-*} ${range#*-}); do
  [ "$i" = "${FAKE_SKIP:-}" ] && continue
  SGE_TASK_ID=$i bash "$script" || rc=$?
done
exit $rc
"""
FAKE_SBATCH = r"""#!/usr/bin/env bash
printf '%s\n' "$@" > "$FAKE_ARGS"
range=
for a in "$@"; do case $a in --array=*) range=${a#--array=}; range=${range%\%*};; esac; script=$a; done
echo 4242
rc=0
for i in $(seq ${range%-*} ${range#*-}); do SLURM_ARRAY_TASK_ID=$i bash "$script" || rc=$?; done
exit $rc
"""


@pytest.fixture
def recipe(tmp_path) -> Path:
    """A recipe-like directory with a `utils` symlink and fake qsub/sbatch in bin/."""
    (tmp_path / "utils").symlink_to(ROOT / "utils")
    (tmp_path / "bin").mkdir()
    for name, text in (("qsub", FAKE_QSUB), ("sbatch", FAKE_SBATCH)):
        (tmp_path / "bin" / name).write_text(text)
        (tmp_path / "bin" / name).chmod(0o755)
    return tmp_path


def run(recipe: Path, tool: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PATH": f"{recipe}/bin:/usr/bin:/bin", "FAKE_ARGS": str(recipe / "args"), **env}
    return subprocess.run([f"utils/{tool}", *args], cwd=recipe, env=environ, capture_output=True, text=True,
                          timeout=60)


def body(log: Path) -> list[str]:
    """The command's output in a task log: the lines between the header and the footer."""
    lines = log.read_text().splitlines()
    assert lines[1].startswith("# Started at ") and lines[-2].startswith("# Accounting: time=")
    assert re.match(r"# Ended \(code \d+\) at ", lines[-1])
    return lines[4:-2]


def test_run_pl_writes_one_log_per_task(recipe):
    r = run(recipe, "run.pl", "JOB=1:3", "log/x.JOB.log", "echo", "JOB")
    assert r.returncode == 0, r.stderr
    for j in (1, 2, 3):
        log = recipe / f"log/x.{j}.log"
        assert body(log) == [str(j)]
        text = log.read_text()
        assert text.startswith(f"# echo {j}\n") and "threads=1" in text and "# Ended (code 0)" in text


def test_run_pl_failure_names_the_log(recipe):
    r = run(recipe, "run.pl", "--num-threads=2", "JOB=1:3", "exp/log/y.JOB.log", "test JOB -ne 2")
    assert r.returncode == 1
    assert "run.pl: 1 / 3 failed, log is in exp/log/y.*.log" in r.stderr
    assert "exp/log/y.2.log (exit code 1)" in r.stderr
    assert "# Ended (code 1)" in (recipe / "exp/log/y.2.log").read_text()
    assert "threads=2" in (recipe / "exp/log/y.1.log").read_text()
    r = run(recipe, "run.pl", "deep/er/single.log", "exit 3")
    assert r.returncode == 1 and "1 / 1 failed, log is in deep/er/single.log" in r.stderr


def test_arguments_survive_quoting(recipe):
    args = ["a  b", "$HOME", "*", "it's", '"dq"', "x|y", "`id`", "back\\slash", "", "tab\there", "JOB-less"]
    r = run(recipe, "run.pl", "log/args.log", "printf", "[%s]\\n", *args)
    assert r.returncode == 0, r.stderr
    assert body(recipe / "log/args.log") == [f"[{a}]" for a in args]


def test_pipelines_and_pipefail(recipe):
    # Kaldi's idiom: a lone escaped operator stays an operator
    assert run(recipe, "run.pl", "JOB=2:3", "log/p.JOB.log", "echo", "abcJOB", "|", "tr", "a-z", "A-Z").returncode == 0
    assert body(recipe / "log/p.3.log") == ["ABC3"]
    # a single argument is a command line for bash
    assert run(recipe, "run.pl", "log/q.log", "echo abc | wc -c >&2").returncode == 0
    assert body(recipe / "log/q.log") == ["4"]
    r = run(recipe, "run.pl", "log/pf.log", "false | cat")
    assert r.returncode == 1 and "# Ended (code 1)" in (recipe / "log/pf.log").read_text()


def _intervals(recipe: Path, pattern: str) -> list[tuple[float, float]]:
    return sorted(tuple(map(float, body(p))) for p in recipe.glob(pattern))


def test_max_jobs_run(recipe):
    cmd = "date +%s.%N; sleep 0.3; date +%s.%N"
    assert run(recipe, "run.pl", "--max-jobs-run", "1", "JOB=1:3", "log/s.JOB.log", cmd).returncode == 0
    spans = _intervals(recipe, "log/s.*.log")
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), spans
    assert run(recipe, "run.pl", "--max-jobs-run", "3", "JOB=1:3", "log/t.JOB.log", cmd).returncode == 0
    spans = _intervals(recipe, "log/t.*.log")
    assert spans[-1][0] < spans[0][1], spans  # all three ran at once


def test_usage_errors(recipe):
    r = run(recipe, "run.pl", "JOB=1:3", "log/one.log", "true")
    assert r.returncode == 1 and "3 tasks would write one log log/one.log" in r.stderr
    r = run(recipe, "run.pl", "JOB=3:1", "log/x.JOB.log", "true")
    assert r.returncode == 1 and "empty task range JOB=3:1" in r.stderr
    r = run(recipe, "run.pl", "--max-jobs-run", "zero", "log/x.log", "true")
    assert r.returncode == 1 and "--max-jobs-run must be an integer" in r.stderr
    r = run(recipe, "slurm.pl", "--no-such", "1", "log/x.log", "true")
    assert r.returncode == 1 and "unknown option --no-such" in r.stderr


def test_run_pl_stops_its_tasks_on_sigterm(recipe):
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    p = subprocess.Popen(["utils/run.pl", "JOB=1:2", "log/k.JOB.log", "sleep 300 # marker-JOB-run-pl-test"],
                         cwd=recipe, env=env, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) != 0
    time.sleep(0.2)
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "marker-1-run-pl-test" not in ps and "marker-2-run-pl-test" not in ps


def test_queue_pl_through_a_fake_qsub(recipe):
    r = run(recipe, "queue.pl", "--mem", "2G", "--num-threads", "2", "--max-jobs-run", "2",
            "JOB=1:3", "exp/log/q.JOB.log", "echo", "task JOB")
    assert r.returncode == 0, r.stderr
    for j in (1, 2, 3):
        assert body(recipe / f"exp/log/q.{j}.log") == [f"task {j}"]
    args = (recipe / "args").read_text().splitlines()
    for flags in (["-sync", "y"], ["-t", "1-3"], ["-tc", "2"], ["-l", "mem_free=2G"], ["-pe", "smp", "2"]):
        assert any(args[i:i + len(flags)] == flags for i in range(len(args))), (flags, args)
    assert args[-1] == "exp/log/q/q.sh"
    r = run(recipe, "queue.pl", "JOB=1:3", "exp/log/f.JOB.log", "test JOB -ne 3")
    assert r.returncode == 1 and "1 / 3 failed, log is in exp/log/f.*.log" in r.stderr
    # a task the scheduler never ran (no log) counts as failed even though qsub exits 0
    r = run(recipe, "queue.pl", "JOB=1:3", "exp/log/g.JOB.log", "true", FAKE_SKIP="2")
    assert r.returncode == 1 and "exp/log/g.2.log (no log: the task never ran)" in r.stderr


def test_queue_config_file(recipe):
    (recipe / "queue.conf").write_text("command qsub -V -q all.q  # site queue\n"
                                       "option mem=* -l h_vmem=$0\noption gpu=0\noption gpu=* -l gpu=$0\n")
    r = run(recipe, "queue.pl", "--config", "queue.conf", "--mem", "3G", "--gpu", "1", "log/c.log", "true")
    assert r.returncode == 0, r.stderr
    args = (recipe / "args").read_text().splitlines()
    assert args[:3] == ["-V", "-q", "all.q"] and "h_vmem=3G" in args and "gpu=1" in args
    r = run(recipe, "queue.pl", "--config", "queue.conf", "--num-threads", "2", "log/c.log", "true")
    assert r.returncode == 1 and "unknown option --num-threads" in r.stderr
    r = run(recipe, "queue.pl", "--config", "missing.conf", "log/c.log", "true")
    assert r.returncode == 1 and "--config missing.conf: file does not exist" in r.stderr


def test_slurm_pl_flags_through_a_fake_sbatch(recipe):
    r = run(recipe, "slurm.pl", "--gpu", "1", "--mem", "1G", "--num-threads", "2", "--max-jobs-run", "2",
            "JOB=1:4", "log/s.JOB.log", "echo", "JOB")
    assert r.returncode == 0, r.stderr
    args = (recipe / "args").read_text().splitlines()
    for flag in ("--wait", "--array=1-4%2", "--gres=gpu:1", "--cpus-per-task", "--export=ALL"):
        assert flag in args, (flag, args)
    assert args[args.index("--mem") + 1] == "1G"
    assert [body(recipe / f"log/s.{j}.log") for j in (1, 2, 3, 4)] == [["1"], ["2"], ["3"], ["4"]]


def test_tasks_end_when_the_recipe_is_killed(tmp_path):
    """A recipe killed with kill -9 takes run.pl's tasks with it (they run in their own
    sessions, so nothing else would stop them), instead of leaving them writing into the
    experiment that the re-run resumes."""
    marker = tmp_path / "still_running"
    recipe = tmp_path / "recipe.sh"
    recipe.write_text(f'#!/usr/bin/env bash\n"{ROOT}/utils/run.pl" JOB=1:2 "{tmp_path}/log.JOB" '
                      f'"sleep 30; touch {marker}.JOB"\n')
    recipe.chmod(0o755)
    env = {**os.environ, "PATH": f"{ROOT / 'tools' / 'venv' / 'bin'}:{os.environ['PATH']}"}
    p = subprocess.Popen([str(recipe)], env=env, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline and not all((tmp_path / f"log.{i}").is_file() for i in (1, 2)):
        time.sleep(0.2)
    time.sleep(1)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    time.sleep(3)
    left = subprocess.run(["pgrep", "-f", f"touch {marker}"], capture_output=True, text=True).stdout.split()
    assert left == [], f"tasks still running: {left}"
