"""Parameter counts of the ASV models through `python -m avdf.bin.model_summary` on the
recipe configs: ECAPA-TDNN exactly speechbrain's embedding model, the x-vector TDNN the
Kaldi network up to the x-vector (segment6)."""
from __future__ import annotations

import pytest
from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN

from avdf.bin import model_summary
from avdf.models.asv.speaker_net import SpeakerNet
from avdf.models import build_model
from tests.conftest import ROOT

V3 = ROOT / "egs/voxceleb/v3/conf"


def _params(capsys, config) -> int:
    assert model_summary.main([str(config)]) == 0
    return int(capsys.readouterr().out.strip().splitlines()[-1].split("params:")[1])


@pytest.mark.parametrize("config,channels,expected", [
    ("ecapa_c512.yaml", [512, 512, 512, 512, 1536], 6_194_048),
    ("ecapa_c1024.yaml", [1024, 1024, 1024, 1024, 1536], 14_660_416),
])
def test_ecapa_counts(capsys, config, channels, expected):
    n = _params(capsys, V3 / config)
    sb = ECAPA_TDNN(80, channels=channels, attention_channels=128, lin_neurons=192)
    assert n == expected == sum(p.numel() for p in sb.parameters())


def test_xvector_count(capsys):
    # frame1 30*5*512+512, frame2/3 1536*512+512, frame4 512*512+512, frame5 512*1500+1500,
    # segment6 3000*512+512; Kaldi's batch norm has no learned scale/offset
    want = (150 * 512 + 512) + 2 * (1536 * 512 + 512) + (512 * 512 + 512) + (512 * 1500 + 1500) + (3000 * 512 + 512)
    assert _params(capsys, ROOT / "egs/voxceleb/v2/conf/xvector.yaml") == want == 4_219_868
    # the trained module adds segment7 (512x512) and the softmax over 7,323 speakers (Kaldi's pool)
    net = SpeakerNet(build_model({"name": "xvector_tdnn"}), 7323, {"name": "softmax"}, hidden=[512])
    assert sum(p.numel() for p in net.parameters()) == want + (512 * 512 + 512) + (512 * 7323 + 7323)


def test_speaker_net_embedding_state_roundtrip():
    from avdf.models.asv.speaker_net import embedding_state
    net = SpeakerNet(build_model({"name": "ecapa_tdnn", "input_dim": 40, "channels": [16, 16, 16, 16, 48],
                                  "attention_channels": 8, "se_channels": 8, "res2net_scale": 4, "lin_neurons": 16}),
                     5, {"name": "aamsoftmax"})
    emb = build_model({"name": "ecapa_tdnn", "input_dim": 40, "channels": [16, 16, 16, 16, 48],
                       "attention_channels": 8, "se_channels": 8, "res2net_scale": 4, "lin_neurons": 16})
    emb.load_state_dict(embedding_state(net.state_dict()))
    with pytest.raises(KeyError, match="embedding"):
        embedding_state({"loss.weight": 0})
