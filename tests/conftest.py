"""Shared fixtures. Mini corpora are generated once per test session and reused by
the corpus tests and the recipe tests (generation is the slow part)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def recipe_env() -> dict[str, str]:
    """Environment for running recipe shell scripts from tests (venv first on PATH)."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}:{ROOT / 'utils'}:{env.get('PATH', '')}"
    env["LC_ALL"] = "C"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_recipe(recipe_dir: Path, *args: str, timeout: int = 1200) -> subprocess.CompletedProcess:
    """Run ``./run.sh ARGS`` in ``recipe_dir``; fail the test with the log tail if it fails."""
    r = subprocess.run(["bash", "run.sh", *args], cwd=recipe_dir, env=recipe_env(),
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        pytest.fail(f"{recipe_dir}/run.sh {' '.join(args)} exited {r.returncode}\n"
                    f"--- stdout ---\n{r.stdout[-4000:]}\n--- stderr ---\n{r.stderr[-8000:]}")
    return r


@pytest.fixture(scope="session")
def mini_corpus(tmp_path_factory):
    """``mini_corpus(dataset, size='tiny')`` -> path of that mini corpus, generated once."""
    cache: dict[tuple[str, str], Path] = {}
    base = tmp_path_factory.mktemp("mini")

    def get(dataset: str, size: str = "tiny") -> Path:
        key = (dataset, size)
        if key not in cache:
            out = base / f"{dataset}_{size}"
            r = subprocess.run([sys.executable, "-m", "avdf.bin.make_mini_corpus", "--dataset", dataset,
                                "--out", str(out), "--size", size, "--seed", "0"],
                               cwd=ROOT, env=recipe_env(), capture_output=True, text=True, timeout=900)
            if r.returncode != 0:
                pytest.fail(f"make_mini_corpus {dataset} failed:\n{r.stderr[-6000:]}")
            cache[key] = out
        return cache[key]

    return get


@pytest.fixture(scope="session")
def dfdc_tiny_exp(mini_corpus, tmp_path_factory):
    """The DFDC AV recipe (egs/dfdc/av1) run once, every stage, with ``conf/fgi_tiny.yaml``
    on the tiny mini DFDC; returns its experiment dir (``model.pt``, ``config.yaml``,
    ``scores/``, ``explain/``). The work dir (``data/``, ``dump/``, ``RESULTS.md``) is its
    grandparent. Used by the DFDC recipe test and by FakeAVCeleb's cross-dataset step."""
    work = tmp_path_factory.mktemp("dfdc_av1")
    run_recipe(ROOT / "egs" / "dfdc" / "av1", "--mini", "true", "--mini_root", str(mini_corpus("dfdc")),
               "--config", "conf/fgi_tiny.yaml", "--work", str(work), "--results", str(work / "RESULTS.md"),
               "--nj", "2")
    return work / "exp" / "fgi_tiny"
