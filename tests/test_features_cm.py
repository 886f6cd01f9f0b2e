"""CM front-ends: LFCC (against a direct numpy implementation), CQCC, log spectrogram."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.fft import dct

from avdf.features import build_frontend
from avdf.features.cqcc import CQCC
from avdf.features.lfcc import LFCC
from avdf.features.spectrogram import LogSpectrogram

SR = 16000


def _speechlike(n: int, seed: int = 0) -> np.ndarray:
    """A chirp plus noise: energy everywhere, no silence (so no log of zero)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    x = 0.3 * np.sin(2 * np.pi * (200 + 1500 * t) * t) + 0.05 * rng.standard_normal(n)
    return x.astype(np.float32)


def numpy_lfcc(x: np.ndarray, n_fft=512, win=320, hop=160, n_filter=20, n_lfcc=20, preemph=0.97) -> np.ndarray:
    """avdf's default LFCC (its earlier front-end, not a baseline's), step by step (static part)."""
    x = np.concatenate([x[:1], x[1:] - preemph * x[:-1]]).astype(np.float64)
    pad = n_fft // 2
    xp = np.pad(x, (pad, pad))  # centred frames, zero padding
    n_frames = len(x) // hop + 1
    window = np.zeros(n_fft)
    off = (n_fft - win) // 2
    window[off:off + win] = np.hamming(win + 1)[:-1]  # periodic Hamming, centred in the FFT frame
    frames = np.stack([xp[i * hop:i * hop + n_fft] * window for i in range(n_frames)])
    power = np.abs(np.fft.rfft(frames, n_fft)) ** 2  # (frames, 257)
    freqs = np.linspace(0, SR / 2, n_fft // 2 + 1)
    edges = np.linspace(0, SR / 2, n_filter + 2)
    fb = np.zeros((n_fft // 2 + 1, n_filter))
    for m in range(n_filter):
        lo, c, hi = edges[m], edges[m + 1], edges[m + 2]
        fb[:, m] = np.maximum(0, np.minimum((freqs - lo) / (c - lo), (hi - freqs) / (hi - c)))
    static = dct(np.log(power @ fb + 1e-6), type=2, norm="ortho", axis=1)[:, :n_lfcc]
    static[:, 0] = np.log(power.sum(1) + 1e-6)  # c0 replaced by the log energy
    return static


def test_lfcc_matches_numpy_reference():
    x = _speechlike(8000)
    ours = LFCC(delta_order=0)(torch.from_numpy(x)[None])[0].numpy()
    ref = numpy_lfcc(x)
    assert ours.shape == ref.shape == (8000 // 160 + 1, 20)
    np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=2e-3)


def test_lfcc_deltas_shape_and_values():
    x = torch.from_numpy(_speechlike(16000))[None]
    full = LFCC()(x)[0]
    assert full.shape == (101, 60) and torch.isfinite(full).all()
    static = full[:, :20]
    # interior delta = (c[t+1] - c[t-1]) / 2
    torch.testing.assert_close(full[5, 20:40], (static[6] - static[4]) / 2, rtol=1e-4, atol=1e-4)


def test_lfcc_batch_equals_single():
    x = torch.from_numpy(np.stack([_speechlike(4800, 1), _speechlike(4800, 2)]))
    m = LFCC()
    torch.testing.assert_close(m(x)[1], m(x[1:])[0])


def test_cqcc_shapes_frames_finite():
    m = CQCC()
    for n in (4000, 16000, 16123):
        y = m(torch.from_numpy(_speechlike(n))[None])
        assert y.shape == (1, n // 160 + 1, 60)
        assert torch.isfinite(y).all()
    assert m.freqs.shape[0] == 864 and abs(m.freqs[0].item() - 15.625) < 1e-9


@pytest.mark.parametrize("f0", [250.0, 1000.0, 4000.0])
def test_cqt_peaks_at_the_tone(f0):
    m = CQCC()
    t = np.arange(SR) / SR
    x = torch.from_numpy((0.5 * np.sin(2 * np.pi * f0 * t)).astype(np.float32))[None]
    power = m.cqt_power(x)[0, 20:-20].mean(0)  # away from the edges
    k = int(power.argmax())
    # the peak bin is the one nearest the tone (bins are 1/96 octave apart)
    assert abs(math.log2(m.freqs[k].item() / f0)) <= 1 / 96
    # amplitude 0.5 -> power 0.25 in a bin centred on the tone (windows are normalised)
    if abs(math.log2(m.freqs[k].item() / f0)) < 1e-6:
        assert abs(power[k].item() - 0.25) < 0.02


def test_cqcc_baseline_size_option_and_dct():
    assert CQCC(n_ceps=30).dim == 90
    from avdf.features.cqcc import dct_basis
    np.testing.assert_allclose(dct_basis(50, 7), dct(np.eye(50), type=2, norm="ortho", axis=0)[:7], atol=1e-12)


def test_spectrogram_shape_and_registry():
    x = torch.from_numpy(_speechlike(3200))[None]
    y = LogSpectrogram()(x)
    assert y.shape == (1, 21, 257) and torch.isfinite(y).all()
    assert LogSpectrogram(n_bins=256)(x).shape[-1] == 256
    for name, dim in (("lfcc", 60), ("cqcc", 60), ("spectrogram", 257)):
        fe = build_frontend({"name": name})
        assert fe.sample_rate == SR and fe(x).shape == (1, 21, dim)
    with pytest.raises(ValueError):
        LogSpectrogram(n_bins=1000)
