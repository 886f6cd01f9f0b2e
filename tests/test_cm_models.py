"""CM models: shapes, gradients, the sinc filters, SSL-AASIST checkpoint loading, RawBoost."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torchaudio

from avdf.data.rawboost import RawBoost, RawBoostConfig
from avdf.models import build_model
from avdf.models.cm.sinc import mel_sinc_filters
from avdf.models.cm.ssl_aasist import SSLCheckpointError, load_wav2vec2, wav2vec2_arch

TINY_AASIST = dict(first_conv=32, filts=[12, [1, 4], [4, 4], [4, 8], [8, 8]], gat_dims=[8, 8])
TINY_W2V = dict(extractor_mode="layer_norm", extractor_conv_layer_config=[[16, 10, 5], [16, 3, 2], [16, 2, 2]],
                extractor_conv_bias=True, encoder_embed_dim=32, encoder_pos_conv_kernel=8,
                encoder_pos_conv_groups=4, encoder_num_layers=2, encoder_num_heads=4,
                encoder_ff_interm_features=48, encoder_layer_norm_first=True)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _fwd_bwd(model, x):
    out = model(x)
    out.float().sum().backward()
    # a residual block's BN ``pre`` is unused in the official AASIST / RawNet2 computation
    # (preact_blocks: false): it is in the model (and in official checkpoints) but gets no gradient
    grads = [p.grad for n, p in model.named_parameters() if p.requires_grad and ".pre." not in n]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    return out


@pytest.mark.parametrize("conf", [
    {"name": "aasist", **TINY_AASIST},
    {"name": "aasist_l", **TINY_AASIST},
    {"name": "rawnet2", "first_conv": 64, "filts": [8, [8, 8], [8, 16], [16, 16]], "gru_node": 16,
     "nb_gru_layer": 1, "nb_fc_node": 16},
])
def test_raw_models_two_logits_any_length(conf):
    model = build_model(conf)
    out = _fwd_bwd(model, torch.randn(3, 8000))
    assert out.shape == (3, 2)
    model.eval()
    with torch.no_grad():  # eval on another length works too, and is deterministic
        x = torch.randn(1, 12345)
        a, b = model(x), model(x)
    assert a.shape == (1, 2)
    torch.testing.assert_close(a, b)


def test_lcnn_score_and_logits():
    one = build_model({"name": "lfcc_lcnn", "feat_dim": 60})
    assert _fwd_bwd(one, torch.randn(2, 64, 60)).shape == (2, 1)
    two = build_model({"name": "lfcc_lcnn", "feat_dim": 60, "num_classes": 2})
    assert two(torch.randn(2, 40, 60)).shape == (2, 2)
    with pytest.raises(ValueError, match="16 frames"):
        one(torch.randn(1, 10, 60))


def test_aasist_graph_sizes():
    m = build_model({"name": "aasist"})
    assert m.backend.pos_spectral.shape == (1, 23, 64)  # 70 sinc filters / 3
    assert m.sinc.kernel_size == 129  # 128 made odd


def test_sinc_filters_pass_their_band():
    f = mel_sinc_filters(10, 257, 16000)
    assert f.shape == (10, 257)
    np.testing.assert_allclose(f, f[:, ::-1], atol=1e-12)  # symmetric (linear phase)
    h = np.abs(np.fft.rfft(f, 4096, axis=1))
    peaks = np.fft.rfftfreq(4096, 1 / 16000)[h.argmax(1)]
    assert np.all(np.diff(peaks) > 0)  # bands ordered low to high, mel-spaced


# -- SSL-AASIST ------------------------------------------------------------------------------
def _ssl_conf(ckpt, **kw):
    return {"name": "ssl_aasist", "ssl": {"arch": TINY_W2V, "checkpoint": str(ckpt), **kw}, "proj_dim": 24,
            "filts": [24, [1, 4], [4, 4], [4, 8], [8, 8]], "gat_dims": [8, 8]}


def _tiny_w2v():
    return torchaudio.models.wav2vec2_model(**wav2vec2_arch(TINY_W2V))


def _to_fairseq_keys(state: dict) -> dict:
    """torchaudio -> fairseq key names (the inverse of torchaudio's importer, for the test)."""
    rules = [
        (r"feature_extractor\.conv_layers\.(\d+)\.conv\.", r"feature_extractor.conv_layers.\1.0."),
        (r"feature_extractor\.conv_layers\.(\d+)\.layer_norm\.", r"feature_extractor.conv_layers.\1.2.1."),
        (r"encoder\.feature_projection\.projection\.", "post_extract_proj."),
        (r"encoder\.feature_projection\.layer_norm\.", "layer_norm."),
        (r"encoder\.transformer\.pos_conv_embed\.conv\.parametrizations\.weight\.original0", "encoder.pos_conv.0.weight_g"),
        (r"encoder\.transformer\.pos_conv_embed\.conv\.parametrizations\.weight\.original1", "encoder.pos_conv.0.weight_v"),
        (r"encoder\.transformer\.pos_conv_embed\.conv\.bias", "encoder.pos_conv.0.bias"),
        (r"encoder\.transformer\.layer_norm\.", "encoder.layer_norm."),
        (r"encoder\.transformer\.layers\.(\d+)\.attention\.", r"encoder.layers.\1.self_attn."),
        (r"encoder\.transformer\.layers\.(\d+)\.layer_norm\.", r"encoder.layers.\1.self_attn_layer_norm."),
        (r"encoder\.transformer\.layers\.(\d+)\.feed_forward\.intermediate_dense\.", r"encoder.layers.\1.fc1."),
        (r"encoder\.transformer\.layers\.(\d+)\.feed_forward\.output_dense\.", r"encoder.layers.\1.fc2."),
        (r"encoder\.transformer\.layers\.(\d+)\.final_layer_norm\.", r"encoder.layers.\1.final_layer_norm."),
    ]
    out = {}
    for k, v in state.items():
        for pat, rep in rules:
            if re.match(pat, k):
                k = re.sub(pat, rep, k)
                break
        else:
            raise AssertionError(f"no rule for {k}")
        out[k] = v
    out["mask_emb"] = torch.zeros(32)  # pre-training-only weights are ignored
    return out


def test_ssl_aasist_loads_torchaudio_checkpoint_and_trains(tmp_path):
    ref = _tiny_w2v()
    ckpt = tmp_path / "w2v.pt"
    torch.save(ref.state_dict(), ckpt)
    model = build_model(_ssl_conf(ckpt))
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(model.ssl.state_dict()[k], v)
    out = _fwd_bwd(model, torch.randn(2, 8000))
    assert out.shape == (2, 2)
    assert model.ssl.encoder.transformer.layers[0].attention.k_proj.weight.grad is not None  # fine-tuned


def test_ssl_loads_fairseq_checkpoint(tmp_path):
    ref = _tiny_w2v().eval()
    cfg = {"model": {"_name": "wav2vec2", "extractor_mode": "layer_norm", "encoder_layers": 2,
                     "encoder_embed_dim": 32, "encoder_ffn_embed_dim": 48, "encoder_attention_heads": 4,
                     "conv_feature_layers": "[(16, 10, 5)] + [(16, 3, 2)] + [(16, 2, 2)] * 1",
                     "conv_bias": True, "conv_pos": 8, "conv_pos_groups": 4, "layer_norm_first": True}}
    ckpt = tmp_path / "fairseq.pt"
    torch.save({"cfg": cfg, "model": _to_fairseq_keys(ref.state_dict())}, ckpt)
    loaded = load_wav2vec2(TINY_W2V, ckpt).eval()
    x = torch.randn(1, 4000)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)[0], ref(x)[0])
    # the checkpoint's own config is checked against the configured architecture
    bad = dict(TINY_W2V, encoder_num_layers=3)
    with pytest.raises(SSLCheckpointError, match="encoder_layers=2"):
        load_wav2vec2(bad, ckpt)


def test_ssl_checkpoint_errors(tmp_path):
    with pytest.raises(SSLCheckpointError, match=str(tmp_path / "nope.pt")):
        load_wav2vec2(TINY_W2V, tmp_path / "nope.pt")
    with pytest.raises(SSLCheckpointError, match="not set"):
        load_wav2vec2(TINY_W2V, None)
    other = dict(TINY_W2V, encoder_embed_dim=16)
    ckpt = tmp_path / "other.pt"
    torch.save(torchaudio.models.wav2vec2_model(**wav2vec2_arch(other)).state_dict(), ckpt)
    with pytest.raises((SSLCheckpointError, RuntimeError), match="other.pt|size mismatch"):
        load_wav2vec2(TINY_W2V, ckpt)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(SSLCheckpointError, match="junk.pt"):
        load_wav2vec2(TINY_W2V, junk)
    assert load_wav2vec2(TINY_W2V, None, pretrained=False) is not None


# -- RawBoost --------------------------------------------------------------------------------
def test_rawboost_algorithms():
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    x = (0.5 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(16000)).astype(np.float32)
    for algo in range(9):
        y = RawBoost({"algo": algo})(x, np.random.default_rng(1))
        assert y.shape == x.shape and y.dtype == np.float32 and np.isfinite(y).all()
        assert np.abs(y).max() <= max(1.0, np.abs(x).max() * 1.01 + 1.0)
        if algo == 0:
            np.testing.assert_array_equal(y, x)
        else:
            assert not np.allclose(y, x)
    # the same generator state gives the same augmentation
    a = RawBoost({"algo": 4})(x, np.random.default_rng(5))
    b = RawBoost({"algo": 4})(x, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)


def test_rawboost_ssi_snr_and_isd_fraction():
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(32000)).astype(np.float32)
    y = RawBoost({"algo": 3, "snr_min": 20, "snr_max": 20})(x, np.random.default_rng(2))
    snr = 10 * np.log10(np.sum(x.astype(np.float64) ** 2) / np.sum((y - x).astype(np.float64) ** 2))
    assert abs(snr - 20) < 0.1
    y = RawBoost({"algo": 2, "p_max": 10})(x, np.random.default_rng(3))
    assert 0 < np.mean(y != x) <= 0.10


def test_rawboost_config_errors():
    with pytest.raises(ValueError, match="unknown keys"):
        RawBoostConfig.from_dict({"algo": 1, "snr": 3})
    with pytest.raises(ValueError, match="0..8"):
        RawBoostConfig.from_dict({"algo": 9})
