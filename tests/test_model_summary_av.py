"""model_summary on the AV recipe's configs: the parameter count is reported and right."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from avdf.models import build_model
from avdf.utils.config import load_config

CONF = Path(__file__).resolve().parents[1] / "egs" / "dfdc" / "av1" / "conf"


@pytest.mark.parametrize("name", ["fgi.yaml", "joint_av.yaml"])
def test_model_summary_counts_parameters(name):
    r = subprocess.run([sys.executable, "-m", "avdf.bin.model_summary", str(CONF / name)],
                       capture_output=True, text=True, check=True)
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("params: ")
    model = build_model(load_config(CONF / name)["model"])
    assert int(last.split()[1]) == sum(p.numel() for p in model.parameters())
    assert int(last.split()[1]) > 1_000_000
