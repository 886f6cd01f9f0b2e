"""Parameter counts of the ASVspoof 2019 LA recipe's paper configurations (model_summary)."""
from __future__ import annotations

from pathlib import Path

import pytest

from avdf.bin import model_summary

CONF = Path(__file__).resolve().parents[1] / "egs" / "asvspoof2019_la" / "cm1" / "conf"


# total: the official models' counts. Trainable: without the residual blocks' BatchNorm
# "pre" (the official bn1), which the official forward pass never uses, so no gradient
# reaches it there either; avdf freezes it (AASIST 5 blocks x 2 x channels = 512, AASIST-L
# 272, RawNet2 848).
@pytest.mark.parametrize("config, total, trainable", [
    ("aasist.yaml", 297_866, 297_354),        # Jung et al. 2022, clovaai/aasist
    ("aasist_l.yaml", 85_306, 85_034),
    ("rawnet2.yaml", 17_621_410, 17_620_562),  # ASVspoof 2021 baseline, ~17.6 M
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
