"""RawBoost (avdf.data.rawboost): each distortion does what the paper describes, on a
narrow-band speech-like signal like the mini corpora's (nothing above 4 kHz)."""
import numpy as np
import pytest
from scipy import signal

from avdf.data.rawboost import RawBoost, RawBoostConfig, isd_additive, lnl_convolutive, random_notch_cascade, \
    ssi_additive

SR = 16000


def _narrowband(seed: int, seconds: float = 1.0) -> np.ndarray:
    """Harmonics of a 120-200 Hz voice up to 3.4 kHz with a slow amplitude envelope."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    f0 = rng.uniform(120, 200)
    x = sum(rng.uniform(0.2, 1.0) / k * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
            for k in range(1, int(3400 // f0)))
    x *= 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    return (0.3 * x / np.abs(x).max()).astype(np.float64)


def test_filter_cascade_is_notches():
    """Five random notches in cascade leave most of the band near the peak gain."""
    c = RawBoostConfig()
    for seed in range(20):
        taps = random_notch_cascade(c, np.random.default_rng(seed), (0.0, 0.0))
        _, h = signal.freqz(taps, 1, worN=4096, fs=SR)
        mag = np.abs(h)
        assert mag.max() == pytest.approx(1.0, rel=1e-3)  # normalised on a coarser grid
        # five notches of at most 1 kHz each cannot stop more than 5 kHz of the 8 kHz band
        assert np.mean(mag > 0.5) > 0.3, seed


def test_lnl_keeps_narrowband_speech():
    """The linear term passes the signal through random notches: the output stays the input,
    coloured (a band-pass cascade would return near silence on narrow-band audio)."""
    c = RawBoostConfig()
    corr, ratio = [], []
    for seed in range(20):
        x = _narrowband(seed)
        y = lnl_convolutive(x, c, np.random.default_rng(seed))
        assert y.shape == x.shape and np.abs(y).max() <= 1.0 + 1e-9
        corr.append(abs(np.corrcoef(x, y)[0, 1]))
        ratio.append(y.std() / x.std())
    assert np.median(corr) > 0.7
    assert np.median(ratio) > 0.3


def test_isd_touches_at_most_p_max_percent():
    c = RawBoostConfig(p_max=10.0)
    x = _narrowband(0)
    for seed in range(10):
        y = isd_additive(x, c, np.random.default_rng(seed))
        assert np.mean(y != x) <= 0.10 + 1e-9


def test_ssi_snr_in_range():
    c = RawBoostConfig(snr_min=10.0, snr_max=40.0)
    x = _narrowband(1)
    for seed in range(10):
        y = ssi_additive(x, c, np.random.default_rng(seed))
        snr = 20 * np.log10(np.linalg.norm(x) / np.linalg.norm(y - x))
        assert 10.0 - 1e-6 <= snr <= 40.0 + 1e-6


def test_series_and_config_errors():
    x = _narrowband(2).astype(np.float32)
    y = RawBoost({"algo": 5})(x, np.random.default_rng(0))
    assert y.dtype == np.float32 and y.shape == x.shape
    assert abs(np.corrcoef(x, y)[0, 1]) > 0.3
    assert np.array_equal(RawBoost({"algo": 0})(x, np.random.default_rng(0)), x)
    with pytest.raises(ValueError, match="unknown keys"):
        RawBoost({"algo": 5, "snr": 3})
    with pytest.raises(ValueError, match="0..8"):
        RawBoost({"algo": 9})
