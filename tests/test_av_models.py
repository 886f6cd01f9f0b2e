"""Shapes and maps of the audio-visual detectors (fgi, joint_av)."""
from __future__ import annotations

import pytest
import torch

from avdf.models import build_model
from avdf.models.av.blocks import LogMelAudioEncoder, RawAudioEncoder, ShallowResNet3D

TINY = {"num_frames": 8, "image_size": 32, "audio_samples": 4000, "visual_channels": [8, 16], "audio_channels": [8, 16]}


def _inputs(b=2, t=8, size=32, samples=4000):
    torch.manual_seed(0)
    return torch.randint(0, 256, (b, t, size, size, 3), dtype=torch.uint8), torch.randn(b, samples)


@torch.no_grad()
def test_fgi_paper_shapes():
    """30 x 3 x 224 x 224 frames and 48,000 samples -> 28 x 28 distance and attention maps."""
    model = build_model({"name": "fgi"}).eval()
    video, audio = _inputs(1, 30, 224, 48000)
    fv = model.visual(torch.zeros(1, 3, 30, 224, 224))
    assert fv.shape == (1, 128, 15, 28, 28)
    assert model.audio(audio).shape == (1, 128, 15)
    out = model(video, audio)
    assert out["logit"].shape == (1,)
    assert out["distance"].shape == out["attention"].shape == out["product"].shape == (1, 28, 28)
    assert out["attention"].sum().item() == pytest.approx(1.0, abs=1e-5)
    assert torch.allclose(out["product"], out["distance"] * out["attention"])


@torch.no_grad()
def test_fgi_distance_is_the_l2_map_and_ablations():
    model = build_model({"name": "fgi", **TINY}).eval()
    video, audio = _inputs()
    out = model(video, audio)
    from avdf.models.av.blocks import video_to_tensor
    fv, fa = model.visual(video_to_tensor(video)), model.audio(audio)
    assert fv.shape[2:] == (4, 4, 4) and fa.shape[1:] == (16, 4)
    manual = torch.linalg.vector_norm((fv[1, :, :, 2, 3] - fa[1]).flatten())
    assert out["distance"][1, 2, 3].item() == pytest.approx(manual.item(), rel=1e-4)
    no_att = build_model({"name": "fgi", **TINY, "attention": False}).eval()(video, audio)
    assert no_att["attention"] is None and torch.equal(no_att["product"], no_att["distance"])
    res = build_model({"name": "fgi", **TINY, "residual": True}).eval()
    o = res(video, audio)
    assert torch.allclose(o["product"], o["distance"] * o["attention"] + o["distance"])
    assert build_model({"name": "fgi", **TINY, "map_size": 2}).eval()(video, audio)["distance"].shape == (2, 2, 2)
    with pytest.raises(ValueError, match="expects 4000"):
        model(video, audio[:, :100])
    with pytest.raises(ValueError, match="the model expects 8 x 32"):
        model(video[:, :4], audio)


def test_fgi_appearance_inputs():
    """``appearance: true``: the linear layer sees the k x k map and F_v averaged over T', H', W'."""
    model = build_model({"name": "fgi", **TINY, "appearance": True}).eval()
    assert model.classifier.in_features == 4 * 4 + 16
    video, audio = _inputs()
    from avdf.models.av.blocks import video_to_tensor
    with torch.no_grad():
        out = model(video, audio)
        fv = model.visual(video_to_tensor(video))
        manual = model.classifier(torch.cat([out["product"].flatten(1), fv.mean(dim=(2, 3, 4))], dim=1)).squeeze(1)
    assert torch.allclose(out["logit"], manual, atol=1e-5)
    assert out["distance"].shape == (2, 4, 4)
    # the appearance inputs reach the visual branch's gradient even with the map's weights at zero
    model.train()
    with torch.no_grad():
        model.classifier.weight[:, :16] = 0
    model.zero_grad()
    model(video, audio)["logit"].sum().backward()
    assert model.classifier.weight.grad[:, 16:].abs().sum() > 0
    assert build_model({"name": "fgi", **TINY}).classifier.in_features == 16


@torch.no_grad()
def test_fgi_centre_frames_ignores_a_static_offset():
    """``centre_frames: true``: adding the same image to every frame of a chunk changes nothing."""
    model = build_model({"name": "fgi", **TINY, "centre_frames": True}).eval()
    video, audio = _inputs()
    video = video.clamp(40, 200)
    offset = torch.randint(-40, 40, (1, 1, 32, 32, 3), generator=torch.Generator().manual_seed(1))
    shifted = (video.to(torch.int16) + offset).to(torch.uint8)
    a, b = model(video, audio), model(shifted, audio)
    assert torch.allclose(a["logit"], b["logit"], atol=1e-4) and torch.allclose(a["distance"], b["distance"], atol=1e-4)
    plain = build_model({"name": "fgi", **TINY}).eval()
    plain.load_state_dict(model.state_dict())
    assert not torch.allclose(plain(video, audio)["distance"], plain(shifted, audio)["distance"], atol=1e-4)


def test_blocks_output_shapes():
    assert ShallowResNet3D.output_shape(30, 224, 2) == (15, 28)
    assert ShallowResNet3D.output_shape(25, 64, 2) == (13, 8)
    enc = RawAudioEncoder(48000, 15)
    assert enc.project[0].stride == (99,) and enc.project[0].kernel_size == (111,)
    with pytest.raises(ValueError, match="fewer than"):
        RawAudioEncoder(200, 15)


def test_fgi_logmel_audio_frontend():
    enc = LogMelAudioEncoder(16000, 16000, 15, out_channels=32, channels=(16, 32), n_mels=40)
    wave = torch.randn(3, 16000)
    assert enc(wave).shape == (3, 32, 15)             # 101 frames of 10 ms -> projection stride 6, kernel 17
    assert enc.project[0].stride == (6,) and enc.project[0].kernel_size == (17,)
    with pytest.raises(ValueError, match="fewer than the 15 needed"):
        LogMelAudioEncoder(800, 16000, 15)
    conf = {"name": "fgi", **TINY, "audio_frontend": "logmel", "sample_rate": 8000, "n_mels": 16}
    model = build_model(conf).eval()
    assert isinstance(model.audio, LogMelAudioEncoder)
    video, audio = _inputs()
    with torch.no_grad():
        out = model(video, audio)
    assert out["logit"].shape == (2,) and out["distance"].shape == (2, 4, 4) and torch.isfinite(out["logit"]).all()
    model.train()
    model(video, audio)["logit"].sum().backward()
    assert model.audio.front[1].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="needs model.sample_rate"):
        build_model({**conf, "sample_rate": None})
    with pytest.raises(ValueError, match="waveform or logmel"):
        build_model({**conf, "audio_frontend": "mfcc"})


def test_joint_av_heads_and_inference_modes():
    conf = {"name": "joint_av", "num_frames": 8, "image_size": 32, "audio_samples": 4000, "sample_rate": 8000,
            "video_channels": [8, 16], "audio_channels": [8, 16], "n_mels": 16, "sync_dim": 16, "sync_heads": 2}
    video, audio = _inputs()
    model = build_model(conf).eval()
    with torch.no_grad():
        out = model(video, audio)
    assert set(out["heads"]) == {"video", "audio", "sync"}
    assert all(v.shape == (2,) for v in out["heads"].values())
    assert torch.equal(out["logit"], out["heads"]["sync"])
    model.infer_by = "streams"
    with torch.no_grad():
        out = model(video, audio)
    assert torch.equal(out["logit"], torch.maximum(out["heads"]["video"], out["heads"]["audio"]))
    model.train()
    out = model(video, audio)
    sum(out["heads"].values()).sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    with pytest.raises(ValueError, match="infer_by"):
        build_model({**conf, "infer_by": "vote"})
