"""joint_av (Zhou and Lim, ICCV 2021): the sync stream learns audio-visual synchrony, the
mini DFDC's per-modality labels, checkpoints of the earlier sync stream."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from avdf.data.datadir import read_kv
from avdf.metrics import auc
from avdf.models import build_model
from avdf.models.av.blocks import video_to_tensor
from avdf.models.av.joint_av import AlignedLevel, JointAV
from avdf.utils.config import load_config
from tests.recipe_local import load_local

RECIPE = Path(__file__).resolve().parents[1] / "egs" / "dfdc" / "av1"
TINY = {"name": "joint_av", "num_frames": 8, "image_size": 16, "audio_samples": 2560, "sample_rate": 8000,
        "video_channels": [8, 16], "audio_channels": [8, 16], "n_mels": 16, "sync_dim": 16, "sync_heads": 2,
        "dropout": 0.0}


def _sync_pairs(n: int, rng: np.random.Generator, frames: int = 8, size: int = 16, samples: int = 2560):
    """``n`` clips where only audio-visual synchrony says real from fake: a mouth square
    whose brightness follows a random open/closed pattern per frame, and a tone whose
    loudness follows the same pattern (real, label 0) or the next clip's (fake, label 1).
    Every frame sequence and every audio track is once in a real and once in a fake clip,
    so neither modality alone tells them apart."""
    env = rng.integers(0, 2, size=(n, frames)).astype(np.float32)
    video = np.full((n, frames, size, size, 3), 60.0, dtype=np.float32)
    video[:, :, 4:12, 4:12, :] += 150.0 * env[:, :, None, None, None]
    video += rng.normal(0, 8, video.shape).astype(np.float32)
    spf = samples // frames
    t = np.arange(samples) / 8000.0
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)

    def audio(e):
        return tone * (0.02 + 0.5 * np.repeat(e, spf, axis=-1)) + rng.normal(0, 0.005, samples).astype(np.float32)

    real = [(video[i], audio(env[i]), 0.0) for i in range(n)]
    fake = [(video[i], audio(env[(i + 1) % n]), 1.0) for i in range(n)]
    items = real + fake
    v = torch.from_numpy(np.clip(np.stack([x[0] for x in items]), 0, 255))
    a = torch.from_numpy(np.stack([x[1] for x in items]).astype(np.float32))
    return v, a, torch.tensor([x[2] for x in items])


def _train_sync(model: JointAV, steps: int, seed: int = 0) -> float:
    """Held-out AUC of the sync head after ``steps`` Adam steps on synthetic sync pairs."""
    rng = np.random.default_rng(seed)
    v, a, y = _sync_pairs(64, rng)
    tv, ta, ty = _sync_pairs(32, rng)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        model.train()
        idx = torch.from_numpy(rng.choice(len(y), 16, replace=False))
        out = model(v[idx], a[idx])
        loss = F.binary_cross_entropy_with_logits(out["heads"]["sync"], y[idx])
        loss = loss + sum(F.binary_cross_entropy_with_logits(out["heads"][h], torch.zeros_like(y[idx]))
                          for h in ("video", "audio"))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        s = model(tv, ta)["heads"]["sync"].numpy()
    t = ty.numpy()
    return auc(-s[t == 0], -s[t == 1])      # higher = real, as avdf.metrics.auc scores


def test_sync_stream_learns_synchrony():
    """The default sync stream (sync_fusion: aligned, the paper's temporal alignment) learns
    from pairs that only synchrony tells apart and ranks new ones; the earlier avdf stream
    (sync_fusion: pooled; the old default) did not: its attention starts uniform over the clip
    and it averages over time before comparing, so it stays near chance (it did on the small
    mini DFDC too)."""
    torch.manual_seed(0)
    model = build_model(TINY)
    assert model.sync_fusion == "aligned" and all(isinstance(lvl, AlignedLevel) for lvl in model.levels)
    assert _train_sync(model, 200) > 0.8        # 0.88-1.0 over five seeds
    torch.manual_seed(0)
    assert _train_sync(build_model({**TINY, "sync_fusion": "pooled"}), 200) < 0.65   # 0.44-0.52


def test_aligned_level_attention_and_gradients():
    """Inter attention: weights over the video locations of each step and over the frequency
    bins sum to one; with sync_attention false the level pools by means. Every parameter gets
    a gradient from the sum of the heads in both."""
    torch.manual_seed(0)
    v, a, _ = _sync_pairs(2, np.random.default_rng(1))
    for attention in (True, False):
        model = build_model({**TINY, "sync_attention": attention})
        out = model(v, a)
        assert set(out["heads"]) == {"video", "audio", "sync"} and torch.equal(out["logit"], out["heads"]["sync"])
        sum(out["heads"].values()).sum().backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    lvl = model.levels[0]
    with torch.no_grad():
        _, fv = model.video(video_to_tensor(v), return_stages=True)
        fa = model.audio(a)
        av, aa = lvl.aligned(fv[0], fa[0])
        assert av.shape[2] == aa.shape[3] == fv[0].shape[2]       # audio on the video's clock
        wv, wa = lvl.weights(av, aa)
    assert torch.allclose(wv.sum(-1), torch.ones(wv.shape[:2]))
    assert torch.allclose(wa.sum(1), torch.ones(wa.shape[0], wa.shape[2]))
    with pytest.raises(ValueError, match="sync_fusion"):
        build_model({**TINY, "sync_fusion": "concat"})


def test_weights_of_the_other_sync_fusion_are_refused_clearly():
    old = build_model({**TINY, "sync_fusion": "pooled"})
    with pytest.raises(RuntimeError, match="sync_fusion: pooled"):
        build_model(TINY).load_state_dict(old.state_dict())
    build_model({**TINY, "sync_fusion": "pooled"}).load_state_dict(old.state_dict())
    with pytest.raises(RuntimeError, match="sync_fusion: aligned"):
        old.load_state_dict(build_model(TINY).state_dict())


@pytest.mark.parametrize("name", ["joint_av.yaml", "joint_av_mini.yaml", "joint_av_tiny.yaml"])
def test_configs_use_the_aligned_sync_stream(name):
    model = load_config(RECIPE / "conf" / name)["model"]
    assert model["sync_fusion"] == "aligned" and model["sync_attention"] is True


prep = load_local(RECIPE / "local" / "prepare_dfdc.py", "prepare_dfdc")
ROWS = [  # name, label, attack, video, audio
    ("reala", "REAL", "-", "-", "-"), ("realb", "REAL", "-", "-", "-"),
    ("fswap", "FAKE", "faceswap", "fsgan", "-"), ("lsync", "FAKE", "lipsync", "lipsync", "-"),
    ("aswap", "FAKE", "audioswap", "-", "swap:ps_cards"), ("revoc", "FAKE", "revocode", "-", "world"),
    ("bothr", "FAKE", "both", "faceswap", "griffin_lim"), ("boths", "FAKE", "both", "faceswap", "swap:june"),
    ("lrevo", "FAKE", "local-revocode", "-", "lpc"),
]


def _tree(root: Path, columns: bool) -> Path:
    part = root / "dfdc_train_part_0"
    part.mkdir(parents=True)
    meta = {f"{n}.mp4": ({"label": lab, "split": "train"} if lab == "REAL" else
                         {"label": lab, "split": "train", "original": "reala.mp4"}) for n, lab, *_ in ROWS}
    (part / "metadata.json").write_text(json.dumps(meta))
    (root / "test").mkdir()
    (root / "test" / "labels.csv").write_text("filename,label\ntreal.mp4,0\ntfake.mp4,1\n")
    with open(root / "mini_fake_types.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filename", "folder", "label", "attack"] + (["video", "audio"] if columns else []))
        test_rows = [("treal", "REAL", "-", "-", "-"), ("tfake", "FAKE", "revocode", "-", "lpc")]
        for n, lab, attack, video, audio in ROWS + test_rows:
            w.writerow([f"{n}.mp4", "x", lab, attack] + ([video, audio] if columns else []))
    return root


def test_mini_dfdc_per_modality_labels(tmp_path):
    """With the mini corpus's video/audio columns, stage 1 writes the modality labels of each
    fake: frames manipulated -> video spoof, synthetic speech -> audio spoof, another real
    speaker's speech -> audio bonafide (the pairing is fake: the overall label). Before, an
    audio swap or a re-vocoded clip was "video fake, audio real" for joint_av's heads."""
    db = _tree(tmp_path / "db", columns=True)
    out = tmp_path / "data"
    assert prep.main(["--db_root", str(db), "--out", str(out), "--dev_ratio", "0.01", "--check_files", "false"]) == 0
    lab, lv, la = ({**read_kv(out / "train" / f), **read_kv(out / "dev" / f)}
                   for f in ("utt2label", "utt2label_video", "utt2label_audio"))
    want = {"reala": ("bonafide", "bonafide"), "realb": ("bonafide", "bonafide"), "fswap": ("spoof", "bonafide"),
            "lsync": ("spoof", "bonafide"), "aswap": ("bonafide", "bonafide"), "revoc": ("bonafide", "spoof"),
            "bothr": ("spoof", "spoof"), "boths": ("spoof", "bonafide"), "lrevo": ("bonafide", "spoof")}
    got = {u: (lv[u], la[u]) for u in lab}
    assert got == want
    assert all(lab[u] == "spoof" for u in lab if u not in ("reala", "realb"))
    test = (read_kv(out / "test" / "utt2label_video"), read_kv(out / "test" / "utt2label_audio"))
    assert test == ({"treal": "bonafide", "tfake": "bonafide"}, {"treal": "bonafide", "tfake": "spoof"})


def test_dfdc_without_modality_columns_keeps_the_overall_label(tmp_path):
    """DFDC itself (or a list without the columns): the video label is the overall one and
    no audio label is written (a stale one is removed)."""
    db = _tree(tmp_path / "db", columns=False)
    out = tmp_path / "data"
    (out / "train").mkdir(parents=True)
    (out / "train" / "utt2label_audio").write_text("reala bonafide\n")
    assert prep.main(["--db_root", str(db), "--out", str(out), "--dev_ratio", "0.01", "--check_files", "false"]) == 0
    assert read_kv(out / "train" / "utt2label_video") == read_kv(out / "train" / "utt2label")
    assert not (out / "train" / "utt2label_audio").exists()
