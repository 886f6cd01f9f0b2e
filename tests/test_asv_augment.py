"""Augmentation: SNRs reached, RIR decay matches its RT60, MUSAN/RIRS layouts read."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from avdf.data.augment import (AugmentError, Augmenter, coloured_noise, reverberate, scale_to_snr,
                               simulate_rir)


def _speech(n=16000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    return (0.2 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.normal(size=n)).astype(np.float32)


def test_snr_is_reached():
    s = _speech()
    n = coloured_noise(len(s), 1.0, np.random.default_rng(0))
    for snr in (0.0, 7.5, 20.0):
        g = scale_to_snr(s, n, snr)
        assert abs(10 * np.log10(np.mean(s.astype(np.float64) ** 2) / np.mean(g ** 2)) - snr) < 1e-6


def test_coloured_noise_slope():
    rng = np.random.default_rng(0)
    for exp in (0.0, 1.0, 2.0):
        x = coloured_noise(2 ** 16, exp, rng)
        p = np.abs(np.fft.rfft(x)) ** 2
        f = np.fft.rfftfreq(len(x))
        band = (f > 0.001) & (f < 0.4)
        slope = np.polyfit(np.log(f[band]), np.log(p[band]), 1)[0]
        assert abs(slope + exp) < 0.15, (exp, slope)


def test_simulated_rir_decay_matches_rt60():
    for rt60 in (0.3, 0.8):
        h = simulate_rir(rt60, 16000, np.random.default_rng(1))
        assert abs(np.sum(h.astype(np.float64) ** 2) - 1) < 1e-5
        # decay rate of the tail's energy envelope (10 ms blocks from 50 ms on), as dB per second
        blocks = (h[800: len(h) - len(h) % 160].astype(np.float64) ** 2).reshape(-1, 160).sum(1)
        t = (np.arange(len(blocks)) + 0.5) * 0.01
        slope = np.polyfit(t, 10 * np.log10(blocks), 1)[0]
        est = -60 / slope
        assert 0.8 * rt60 < est < 1.25 * rt60, (rt60, est)


def test_reverberate_keeps_length_power_alignment():
    s = np.random.default_rng(5).normal(size=16000).astype(np.float32)
    h = simulate_rir(0.5, 16000, np.random.default_rng(2))
    y = reverberate(s, h)
    assert y.shape == s.shape
    assert abs(np.mean(y.astype(np.float64) ** 2) / np.mean(s.astype(np.float64) ** 2) - 1) < 1e-3
    lag = np.argmax(np.correlate(y[:4000], s[:4000], "full")) - 3999
    assert abs(lag) <= 2  # aligned to the direct path


def _tree(tmp_path):
    rng = np.random.default_rng(0)
    for sub, name in (("noise/free-sound", "noise-free-sound-0000"), ("music/gen", "music-gen-0000"),
                      ("speech/gen", "speech-gen-0000"), ("speech/gen", "speech-gen-0001")):
        p = tmp_path / "musan" / sub / f"{name}.wav"
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(p, coloured_noise(8000, 1.0, rng) * 0.1, 16000)  # shorter than the speech: tiled
    p = tmp_path / "RIRS_NOISES/simulated_rirs/smallroom/Room001/Room001-00001.wav"
    p.parent.mkdir(parents=True)
    sf.write(p, simulate_rir(0.3, 16000, rng), 16000)
    return tmp_path / "musan", tmp_path / "RIRS_NOISES"


def test_augmenter_reads_layouts(tmp_path):
    musan, rirs = _tree(tmp_path)
    aug = Augmenter(musan, rirs, prob=1.0)
    assert sorted(aug.types) == ["babble", "music", "noise", "reverb"]
    s = _speech(24000)
    outs = [aug(s, np.random.default_rng(i)) for i in range(12)]
    assert all(o.shape == s.shape and o.dtype == np.float32 for o in outs)
    assert all(not np.allclose(o, s) for o in outs)
    np.testing.assert_array_equal(aug(s, np.random.default_rng(3)), outs[3])  # reproducible
    assert np.array_equal(Augmenter(musan, None, prob=0.0)(s, np.random.default_rng(0)), s)
    only = Augmenter(None, rirs, prob=1.0, types=["reverb", "noise"])
    assert only.types == ["reverb"]


def test_augmenter_errors(tmp_path):
    with pytest.raises(AugmentError, match="does not exist"):
        Augmenter(tmp_path / "nope")
    (tmp_path / "RIRS_NOISES").mkdir()
    with pytest.raises(AugmentError, match="simulated_rirs"):
        Augmenter(None, tmp_path / "RIRS_NOISES")
    with pytest.raises(ValueError, match="unknown"):
        Augmenter(None, None, types=["wind"])
