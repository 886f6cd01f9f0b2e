"""MFCC / fbank front-ends, Kaldi deltas, energy VAD and sliding CMN against direct
re-implementations of Kaldi's definitions, and compute_vad on a data dir."""
from __future__ import annotations

import kaldiio
import numpy as np
import soundfile as sf
import pytest
import torch

from avdf.bin import compute_features
from avdf.bin import compute_vad as compute_vad_bin
from avdf.features import build_frontend
from avdf.features.cmvn import apply_cmn, sliding_cmn
from avdf.features.mfcc import add_deltas
from avdf.features.vad import compute_vad, select_voiced


def _tone(seconds=1.0, sr=16000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.3 * np.sin(2 * np.pi * 220 * t) * (t > 0.3) + 0.001 * rng.normal(size=t.size)
    return torch.from_numpy(x.astype(np.float32))


def test_mfcc_fbank_shapes_and_energy():
    wave = torch.stack([_tone(), _tone(seed=1)])
    mfcc = build_frontend({"name": "mfcc", "num_ceps": 20, "num_mel_bins": 40, "deltas": 2})
    m = mfcc(wave)
    # snip_edges false: Kaldi gives round(samples / shift) frames
    assert m.shape == (2, 100, 60) and mfcc.dim == 60
    # c0 is the log energy: silence (first 0.3 s) far below the tone
    assert m[0, 5:25, 0].mean() < m[0, 40:90, 0].mean() - 5
    fb = build_frontend({"name": "fbank", "num_mel_bins": 80})(wave)
    assert fb.shape == (2, 98, 80) and torch.isfinite(fb).all()  # snip_edges true: 1 + (T - 400) // 160


def _kaldi_delta_naive(x, order, window=2):
    # Kaldi DeltaFeatures::Process with clamped frame indices, written out directly
    norm = sum(j * j for j in range(-window, window + 1))
    scales = [np.array([1.0])]
    for _ in range(order):
        prev = scales[-1]
        cur = np.zeros(len(prev) + 2 * window)
        for j in range(-window, window + 1):
            for k, p in enumerate(prev):
                cur[j + window + k] += j * p / norm
        scales.append(cur)
    T = len(x)
    out = []
    for s in scales:
        off = (len(s) - 1) // 2
        y = np.zeros_like(x)
        for t in range(T):
            for j, c in enumerate(s):
                y[t] += c * x[min(max(t + j - off, 0), T - 1)]
        out.append(y)
    return np.concatenate(out, axis=1)


def test_deltas_match_kaldi_definition():
    x = np.random.default_rng(0).normal(size=(13, 3))
    got = add_deltas(torch.from_numpy(x), order=2).numpy()
    np.testing.assert_allclose(got, _kaldi_delta_naive(x, 2), atol=1e-12)
    one = add_deltas(torch.from_numpy(x[:1]), order=2).numpy()
    np.testing.assert_allclose(one, _kaldi_delta_naive(x[:1], 2), atol=1e-12)


def _vad_naive(e, thr, scale, ctx, prop):
    T = len(e)
    thr = thr + scale * e.mean()
    out = np.zeros(T)
    for t in range(T):
        num = den = 0
        for t2 in range(t - ctx, t + ctx + 1):
            if 0 <= t2 < T:
                den += 1
                num += e[t2] > thr
        out[t] = num >= den * prop
    return out


def test_vad_matches_kaldi_definition():
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(200, 4)) * 3 + 10
    for ctx, prop in ((2, 0.12), (0, 0.5), (5, 0.6)):
        np.testing.assert_array_equal(compute_vad(feats, 5.5, 0.5, ctx, prop), _vad_naive(feats[:, 0], 5.5, 0.5, ctx, prop))
    v = np.array([0, 1, 1, 0], dtype=np.float32)
    assert select_voiced(np.arange(8).reshape(4, 2), v).tolist() == [[2, 3], [4, 5]]
    assert select_voiced(np.ones((3, 2)), np.zeros(3)).shape == (3, 2)  # nothing voiced: keep all


def _cmn_naive(x, window):
    T = len(x)
    out = np.zeros_like(x)
    for t in range(T):
        s = t - window // 2
        e = s + window
        if s < 0:
            e -= s
            s = 0
        if e > T:
            s -= e - T
            e = T
            s = max(s, 0)
        out[t] = x[t] - x[s:e].mean(0)
    return out


def test_sliding_cmn_matches_kaldi_definition():
    x = np.random.default_rng(2).normal(size=(57, 3)).astype(np.float32)
    for w in (10, 11, 300):
        np.testing.assert_allclose(sliding_cmn(x, w), _cmn_naive(x.astype(np.float64), w), atol=1e-5)
    np.testing.assert_allclose(apply_cmn(x, "utterance").mean(0), 0, atol=1e-6)


def test_compute_vad_entry_point(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    wav_scp = []
    for i in range(3):
        p = tmp_path / f"u{i}.wav"
        sf.write(p, _tone(seed=i).numpy(), 16000)
        wav_scp.append(f"utt{i} {p}\n")
    (data / "wav.scp").write_text("".join(wav_scp))
    conf = tmp_path / "c.yaml"
    conf.write_text("frontend: {name: mfcc, num_ceps: 13, num_mel_bins: 23}\n")
    mains = {"avdf.bin.compute_features": compute_features.main, "avdf.bin.compute_vad": compute_vad_bin.main}
    run = lambda mod, *a: mains[mod](list(a)) == 0 or pytest.fail(f"{mod} {a} failed")
    for j in (1, 2):
        run("avdf.bin.compute_features", "--config", str(conf), "--data", str(data), "--out_dir",
            str(tmp_path / "dump"), "--nj", "2", "--job", str(j))
    run("avdf.bin.compute_features", "--merge", "--data", str(data), "--out_dir", str(tmp_path / "dump"), "--nj", "2")
    for j in (1, 2):
        run("avdf.bin.compute_vad", "--data", str(data), "--out_dir", str(tmp_path / "dump"), "--nj", "2", "--job", str(j))
    run("avdf.bin.compute_vad", "--merge", "--data", str(data), "--out_dir", str(tmp_path / "dump"), "--nj", "2")
    vad = dict(kaldiio.load_scp(str(data / "vad.scp")))
    assert sorted(vad) == ["utt0", "utt1", "utt2"]
    v = vad["utt0"]
    assert v[:25].sum() == 0 and v[40:90].all()  # silence first, then the tone
