"""utils/parse_options.sh: Kaldi's option parsing for recipe scripts, driven from bash."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = f"""#!/usr/bin/env bash
# demo.sh: a script whose header comment is its usage.
# Usage: demo.sh [options] <in> <out>
set -euo pipefail
stage=0 stop_stage=100   # two on one line
use_gpu=false
foo_bar="a b"
config=conf/exp.yaml
. {ROOT}/utils/parse_options.sh
printf '%s\\n' "stage=$stage" "stop_stage=$stop_stage" "use_gpu=$use_gpu" "foo_bar=$foo_bar" \\
  "config=$config" "nargs=$#"
for a in "$@"; do printf 'arg=%s\\n' "$a"; done
"""


def _run(tmp_path: Path, *args: str, script: str = SCRIPT) -> subprocess.CompletedProcess:
    path = tmp_path / "demo.sh"
    path.write_text(script)
    return subprocess.run(["bash", str(path), *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=30)


def _vars(r: subprocess.CompletedProcess) -> dict[str, str]:
    assert r.returncode == 0, r.stderr
    return dict(line.split("=", 1) for line in r.stdout.splitlines() if not line.startswith("arg="))


def _args(r: subprocess.CompletedProcess) -> list[str]:
    return [line[4:] for line in r.stdout.splitlines() if line.startswith("arg=")]


def test_dashes_and_underscores_set_the_variable(tmp_path):
    v = _vars(_run(tmp_path, "--foo-bar", "x", "--stop_stage", "3"))
    assert v["foo_bar"] == "x" and v["stop_stage"] == "3" and v["stage"] == "0"
    assert _vars(_run(tmp_path, "--foo_bar=y"))["foo_bar"] == "y"


def test_values_with_spaces_and_metacharacters_are_kept(tmp_path):
    value = "a  b; echo $HOME | cat 'q' \"dq\" *"
    assert _vars(_run(tmp_path, "--foo-bar", value))["foo_bar"] == value


@pytest.mark.parametrize("args, message", [
    (["--no-such-option", "1"], "unknown option --no-such-option"),
    (["--stage"], "option --stage needs a value"),
    (["--use-gpu", "yes"], "option --use-gpu takes true or false, got 'yes'"),
    (["--config", "missing.sh"], "--config: file 'missing.sh' does not exist"),
    (["--config", "missing.yaml"], "--config: file 'missing.yaml' does not exist"),
    (["--foo.bar", "1"], "unknown option --foo.bar"),
])
def test_bad_options_fail_with_a_message(tmp_path, args, message):
    r = _run(tmp_path, *args)
    assert r.returncode == 1 and message in r.stderr, r.stderr
    assert r.stdout == ""


def test_booleans_accept_true_and_false(tmp_path):
    assert _vars(_run(tmp_path, "--use-gpu", "true"))["use_gpu"] == "true"


def test_stops_at_the_first_positional_argument(tmp_path):
    r = _run(tmp_path, "--stage", "2", "in dir", "out", "--stage", "5")
    assert _vars(r)["stage"] == "2" and _vars(r)["nargs"] == "4"
    assert _args(r) == ["in dir", "out", "--stage", "5"]
    r = _run(tmp_path, "--stage", "2", "--", "--not-an-option")
    assert _args(r) == ["--not-an-option"]


def test_config_sources_a_shell_file_or_sets_a_yaml_config(tmp_path):
    (tmp_path / "opts.conf").write_text("stage=7\nfoo_bar='from conf'\n")
    v = _vars(_run(tmp_path, "--config", "opts.conf", "--stop-stage", "8"))
    assert (v["stage"], v["foo_bar"], v["stop_stage"], v["config"]) == ("7", "from conf", "8", "conf/exp.yaml")
    (tmp_path / "other.yaml").write_text("model: {}\n")
    assert _vars(_run(tmp_path, "--config", "other.yaml"))["config"] == "other.yaml"


def test_help_prints_the_header_and_current_values(tmp_path):
    r = _run(tmp_path, "--stage", "4", "--help")
    assert r.returncode == 0, r.stderr
    assert "demo.sh: a script whose header comment is its usage." in r.stdout
    assert "Usage: demo.sh [options] <in> <out>" in r.stdout
    for name, value in [("stage", "4"), ("stop_stage", "100"), ("use_gpu", "false"), ("foo_bar", "a b")]:
        assert any(line.split(None, 1) == [f"--{name}", f"'{value}'"] for line in r.stdout.splitlines()), r.stdout
    assert "set -euo" not in r.stdout


def test_help_without_a_header_comment_under_set_e(tmp_path):
    script = ("#!/usr/bin/env bash\nset -euo pipefail\nstage=0\nif false; then never_set=1; fi\n"
              f'help_message="Usage: bare.sh <dir>"\n. {ROOT}/utils/parse_options.sh\n')
    r = _run(tmp_path, "--help", script=script)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["Usage: bare.sh <dir>", "Options (current values):", "  --stage" + " " * 18 + "'0'"]
