"""utils/slurm.pl on a real single-node Slurm (tools/slurm/up.sh), and a CPU DDP step (gloo)
under torchrun and under srun whose ranks must end with the same, correct gradients.

The Slurm tests need root and the Debian Slurm packages (CI has both). Without them they
FAIL with the reason; set AVDF_SKIP_SLURM=1 to skip them on purpose.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.ddp_grad_check import gradients, make_batch, make_model, shard

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
SLURM_EXES = ("/usr/sbin/munged", "/usr/sbin/slurmctld", "/usr/sbin/slurmd", "sbatch", "srun", "sinfo")


def _env() -> dict[str, str]:
    """This environment with the venv first on PATH, one thread per process, and no
    leftover Slurm/torchrun variables from an enclosing job."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SLURM_") and k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env.update(PATH=f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}", OMP_NUM_THREADS="1", LC_ALL="C")
    return env


@pytest.fixture(scope="session")
def slurm():
    """A running localhost Slurm; taken down at the end if this session started it."""
    if os.environ.get("AVDF_SKIP_SLURM") == "1":
        pytest.skip("AVDF_SKIP_SLURM=1")
    if os.geteuid() != 0:
        pytest.fail("the Slurm tests need root: tools/slurm/up.sh writes /etc/slurm/slurm.conf and starts "
                    "munged/slurmctld/slurmd (run as root, or set AVDF_SKIP_SLURM=1 to skip them)", pytrace=False)
    missing = [exe for exe in SLURM_EXES if shutil.which(exe) is None]
    if missing:
        pytest.fail(f"Slurm is not installed ({', '.join(missing)} missing): run `make -C tools` "
                    "(tools/install_debian.sh), or set AVDF_SKIP_SLURM=1 to skip", pytrace=False)
    r = subprocess.run(["tools/slurm/up.sh"], cwd=ROOT, capture_output=True, text=True, timeout=180)
    if r.returncode != 0:
        pytest.fail(f"tools/slurm/up.sh failed:\n{r.stdout}\n{r.stderr}", pytrace=False)
    started = "started" in r.stdout.strip().splitlines()[-1]
    yield
    if started:
        subprocess.run(["tools/slurm/down.sh"], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.slurm
def test_up_is_idempotent_and_needs_root(slurm):
    r = subprocess.run(["tools/slurm/up.sh"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "already up" in r.stdout, r.stderr
    for script in ("up.sh", "down.sh"):
        r = subprocess.run(["runuser", "-u", "nobody", "--", f"tools/slurm/{script}"], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 1 and f"tools/slurm/{script}: must run as root" in r.stderr, r.stderr


def _body(log: Path) -> list[str]:
    lines = log.read_text().splitlines()
    assert lines[1].startswith("# Started at ") and lines[-2].startswith("# Accounting: time=")
    return lines[4:-2]


@pytest.mark.slurm
def test_slurm_pl_runs_an_array_and_propagates_a_failure(slurm, tmp_path):
    (tmp_path / "utils").symlink_to(ROOT / "utils")
    env = _env()
    # both arrays are submitted at once: sbatch --wait spends most of its time polling
    good = subprocess.Popen(["utils/slurm.pl", "--mem", "100M", "--num-threads", "1", "JOB=1:4",
                             "exp/log/x.JOB.log", "echo JOB $SLURM_ARRAY_TASK_ID; echo 'a  b|c'"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    bad = subprocess.Popen(["utils/slurm.pl", "--max-jobs-run", "2", "JOB=1:3", "exp/log/f.JOB.log",
                            "test", "JOB", "-ne", "2"],
                           cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, good_err = good.communicate(timeout=120)
    _, bad_err = bad.communicate(timeout=120)
    assert good.returncode == 0, good_err
    for j in (1, 2, 3, 4):
        assert _body(tmp_path / f"exp/log/x.{j}.log") == [f"{j} {j}", "a  b|c"]
        assert "# Ended (code 0)" in (tmp_path / f"exp/log/x.{j}.log").read_text()
    assert (tmp_path / "exp/log/q/x.sh").is_file()
    assert bad.returncode == 1, bad_err
    assert "slurm.pl: 1 / 3 failed, log is in exp/log/f.*.log" in bad_err
    assert "exp/log/f.2.log (exit code 1)" in bad_err
    assert "# Ended (code 1)" in (tmp_path / "exp/log/f.2.log").read_text()
    assert "# Ended (code 0)" in (tmp_path / "exp/log/f.3.log").read_text()


def _check_ddp_gradients(out: Path) -> None:
    """Both ranks hold the full-batch gradient, which differs from each rank's own half."""
    x, y = make_batch()
    full = gradients(make_model(), x, y)
    for rank in (0, 1):
        result = torch.load(out / f"grads.{rank}.pt", weights_only=True)
        assert (result["rank"], result["world_size"]) == (rank, 2)
        own = gradients(make_model(), x[shard(rank, 2)], y[shard(rank, 2)])
        assert any(not torch.allclose(own[n], full[n], atol=1e-4) for n in full), "the halves do not differ"
        for name, g in full.items():
            torch.testing.assert_close(result["grads"][name], g, rtol=1e-5, atol=1e-6)


def _run_ddp(argv: list[str], out: Path) -> None:
    r = subprocess.run(argv, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{' '.join(argv)} exited {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
    _check_ddp_gradients(out)


def test_ddp_gradients_agree_under_torchrun(tmp_path):
    _run_ddp([str(VENV_BIN / "torchrun"), "--standalone", "--nproc_per_node", "2",
              "tests/ddp_grad_check.py", str(tmp_path)], tmp_path)


@pytest.mark.slurm
def test_ddp_gradients_agree_under_srun(slurm, tmp_path):
    _run_ddp(["srun", "-n2", "--kill-on-bad-exit=1", "--job-name=avdf-ddp-test",
              sys.executable, "tests/ddp_grad_check.py", str(tmp_path)], tmp_path)
