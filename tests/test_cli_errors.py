"""The top-level error handler of the avdf.bin entry points (avdf.bin.run)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from avdf.data.datadir import DataDirError
from avdf.bin import run

ROOT = Path(__file__).resolve().parents[1]


def test_project_errors_are_one_line_and_bugs_keep_their_traceback(capsys):
    def bad_data():
        raise DataDirError("data/x/wav.scp:3: no such file")
    assert run(bad_data, "prog") == 1
    assert capsys.readouterr().err == "prog: data/x/wav.scp:3: no such file\n"

    def missing():
        open("/nonexistent/file.txt")
    assert run(missing, "prog") == 1
    assert capsys.readouterr().err == "prog: /nonexistent/file.txt: No such file or directory\n"

    def bug():
        raise ZeroDivisionError("a bug")
    with pytest.raises(ZeroDivisionError):
        run(bug, "prog")


@pytest.mark.parametrize("argv, words", [
    (["avdf.bin.model_summary", "egs/asvspoof2019_la/cm1/conf/aasist.yaml", "--model.filtz", "3"],
     ["model_summary: override model.filtz: unknown key"]),
    (["avdf.bin.model_summary", "conf/none.yaml"], ["model_summary:", "none.yaml does not exist"]),
    (["avdf.bin.train", "--config", "egs/asvspoof2019_la/cm1/conf/aasist.yaml", "--exp_dir", "/tmp/x",
      "--train.epohcs", "3"], ["train: override train.epohcs: unknown key"]),
])
def test_entry_points_answer_in_one_line(argv, words):
    r = subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in err[0], err[0]
