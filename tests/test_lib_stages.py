"""egs/TEMPLATE/lib.sh: finished stages are skipped; a redone stage makes the later ones stale."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

LIB = Path(__file__).resolve().parents[1] / "egs" / "TEMPLATE" / "lib.sh"
SCRIPT = """
set -euo pipefail
stage=${1:-0}; stop_stage=${2:-100}; force=${3:-false}
. "$LIB"
if stage_begin 1 "data" "$W/.done.data"; then echo run1 >> "$W/ran"; stage_end "$W/.done.data"; fi
if stage_begin 2 "features" "$W/.done.feats"; then echo run2 >> "$W/ran"; stage_end "$W/.done.feats"; fi
if stage_begin 3 "train" "$W/.done.train"; then echo run3 >> "$W/ran"; stage_end "$W/.done.train"; fi
"""


def _run(tmp_path, *args):
    (tmp_path / "ran").unlink(missing_ok=True)
    r = subprocess.run(["bash", "-c", SCRIPT, "x", *args], env={"LIB": str(LIB), "W": str(tmp_path), "PATH": "/usr/bin:/bin"},
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ran = (tmp_path / "ran").read_text().split() if (tmp_path / "ran").exists() else []
    return ran, r.stderr


def test_done_stages_are_skipped_and_a_redone_stage_invalidates_the_later_ones(tmp_path):
    assert _run(tmp_path)[0] == ["run1", "run2", "run3"]
    ran, err = _run(tmp_path)
    assert ran == [] and err.count("already done") == 3
    time.sleep(1.1)  # marker times are compared
    assert _run(tmp_path, "1", "1", "true")[0] == ["run1"]  # data prep redone alone
    ran, err = _run(tmp_path, "2")  # features and training were made from the old data
    assert ran == ["run2", "run3"] and "an earlier stage was redone" in err
    assert _run(tmp_path)[0] == []


def test_a_failed_redo_leaves_no_marker(tmp_path):
    _run(tmp_path)
    failing = SCRIPT.replace('echo run2 >> "$W/ran"; stage_end', 'false; stage_end')
    r = subprocess.run(["bash", "-c", failing, "x", "2", "2", "true"], env={"LIB": str(LIB), "W": str(tmp_path),
                       "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert r.returncode != 0
    assert not (tmp_path / ".done.feats").exists()
    assert _run(tmp_path, "2")[0] == ["run2", "run3"]
