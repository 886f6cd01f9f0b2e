"""Every recipe's CPU-sized ``conf/*_mini*.yaml`` (the configs the RESULTS.md rows of the small
mini corpora come from, which no recipe test trains) loads, builds its model, and carries a
valid RawBoost section where it asks for one: a typo there would otherwise surface only in a
long run."""
from __future__ import annotations

from pathlib import Path

import pytest

from avdf.bin import model_summary
from avdf.data.rawboost import RawBoostConfig
from avdf.utils.config import load_config

EGS = Path(__file__).resolve().parents[1] / "egs"
MINI = sorted(p for p in EGS.glob("*/*/conf/*_mini*.yaml"))


def test_there_are_mini_configs():
    assert {p.parent.parent.name for p in MINI} >= {"cm1", "av1", "v2", "v3"}


@pytest.mark.parametrize("config", MINI, ids=[str(p.relative_to(EGS)) for p in MINI])
def test_mini_config_builds(config, capsys):
    cfg = load_config(config)
    if "rawboost" in cfg.get("data", {}):
        RawBoostConfig.from_dict(cfg["data"]["rawboost"])
    if "model" not in cfg:   # i-vector: a backend config without a network, built by its recipe test
        return
    assert model_summary.main([str(config)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("params: ")
