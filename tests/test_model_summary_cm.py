"""Parameter counts of the ASVspoof 2019 LA recipe's paper configurations (model_summary)."""
from __future__ import annotations

from pathlib import Path

import pytest

from avdf.bin import model_summary

CONF = Path(__file__).resolve().parents[1] / "egs" / "asvspoof2019_la" / "cm1" / "conf"


@pytest.mark.parametrize("config, total, trainable", [
    ("aasist.yaml", 297_866, 297_866),        # Jung et al. 2022, clovaai/aasist
    ("aasist_l.yaml", 85_306, 85_306),
    ("rawnet2.yaml", 17_621_410, 17_621_410),  # ASVspoof 2021 baseline, ~17.6 M
    ("lfcc_lcnn.yaml", 269_729, 269_729),      # ASVspoof 2021 baseline, ~0.27 M
])
def test_paper_parameter_counts(config, total, trainable, capsys):
    assert model_summary.main([str(CONF / config)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == f"params: {total}"
    assert lines[-2] == f"trainable params: {trainable}"


def test_ssl_aasist_backend_count(capsys):
    """SSL-AASIST with a randomly initialised XLS-R 300M shape (no checkpoint needed)."""
    assert model_summary.main([str(CONF / "ssl_aasist.yaml"), "--model.ssl.pretrained", "false"]) == 0
    total = int(capsys.readouterr().out.strip().splitlines()[-1].split()[-1])
    assert total == 315_437_696 + 447_242  # torchaudio XLS-R 300M + projection and AASIST back-end
