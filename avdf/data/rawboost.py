"""RawBoost data augmentation for raw-waveform countermeasures (Tak et al., ICASSP 2022).

Three distortions of the waveform itself, no external noise corpus:

1. **Linear and non-linear convolutive noise** (``lnl``): the sum over ``n = 1..N_f`` of
   ``x^n`` filtered by a random FIR filter, the cascade of ``n_bands`` random notch
   (band-stop, Hamming-window ``firwin``) filters with random centre, width and length; the
   linear term's gain is drawn in ``[min_gain, max_gain]`` dB, the non-linear terms'
   ``min_bias`` .. ``max_bias`` dB lower. Models channel and transducer colouring.
2. **Impulsive signal-dependent noise** (``isd``): up to ``p_max`` % of the samples,
   chosen at random, get ``x[t] * g_sd * u1 * u2`` added (``u1, u2`` uniform in [-1, 1]).
   Models clipping and quantisation-like artefacts.
3. **Stationary signal-independent noise** (``ssi``): white noise coloured by a random
   FIR filter as in (1), added at an SNR drawn in ``[snr_min, snr_max]`` dB.

``algo`` selects them as the paper's code numbers them: 0 none, 1 lnl, 2 isd, 3 ssi,
4 series 1+2+3, 5 series 1+2, 6 series 1+3, 7 series 2+3, 8 parallel 1 and 2 (their sum).
Defaults are the paper's (LA: ``algo 5``; the DF system used ``algo 3``). A result whose
peak exceeds 1 is scaled back to a peak of 1. All randomness comes from ``rng`` (the
trainer seeds numpy per epoch and worker, so augmented epochs are reproducible).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from scipy import signal

SERIES = {0: (), 1: ("lnl",), 2: ("isd",), 3: ("ssi",), 4: ("lnl", "isd", "ssi"), 5: ("lnl", "isd"),
          6: ("lnl", "ssi"), 7: ("isd", "ssi")}
PARALLEL = {8: ("lnl", "isd")}


@dataclass
class RawBoostConfig:
    algo: int = 5
    sample_rate: int = 16000
    # notch filter bank (lnl and ssi)
    n_bands: int = 5
    min_freq: float = 20.0
    max_freq: float = 8000.0
    min_bw: float = 100.0
    max_bw: float = 1000.0
    min_coeff: int = 10
    max_coeff: int = 100
    min_gain: float = 0.0
    max_gain: float = 0.0
    # lnl
    min_bias: float = 5.0
    max_bias: float = 20.0
    n_f: int = 5
    # isd
    p_max: float = 10.0
    g_sd: float = 2.0
    # ssi
    snr_min: float = 10.0
    snr_max: float = 40.0

    @classmethod
    def from_dict(cls, conf: dict[str, Any] | None) -> "RawBoostConfig":
        conf = dict(conf or {})
        known = {f.name for f in fields(cls)}
        unknown = set(conf) - known
        if unknown:
            raise ValueError(f"rawboost: unknown keys {sorted(unknown)}; known: {sorted(known)}")
        out = cls(**conf)
        if out.algo not in SERIES and out.algo not in PARALLEL:
            raise ValueError(f"rawboost.algo must be 0..8, got {out.algo}")
        return out


def _norm_peak(x: np.ndarray, always: bool = False) -> np.ndarray:
    peak = np.abs(x).max() if x.size else 0.0
    if peak > 0 and (always or peak > 1):
        return x / peak
    return x


def random_notch_cascade(c: RawBoostConfig, rng: np.random.Generator, gain_db: tuple[float, float]) -> np.ndarray:
    """FIR taps of ``n_bands`` random notch (band-stop) filters in cascade, peak response set to
    the gain: the random colouring the paper's filter bank applies. (A cascade of band-*pass*
    filters with unrelated bands would pass almost nothing: the product of their responses is
    near zero everywhere, and a narrow-band signal could come out silent.)"""
    taps = np.ones(1)
    nyq = c.sample_rate / 2
    for _ in range(c.n_bands):
        fc = rng.uniform(c.min_freq, c.max_freq)
        bw = rng.uniform(c.min_bw, c.max_bw)
        n = int(rng.uniform(c.min_coeff, c.max_coeff))
        n += 1 - n % 2  # odd length: a type-I filter can pass any band
        lo = max(fc - bw / 2, 1e-3)
        hi = min(fc + bw / 2, nyq - 1e-3)
        if hi <= lo:
            lo, hi = max(nyq - bw, 1e-3), nyq - 1e-3
        taps = np.convolve(signal.firwin(n, [lo, hi], pass_zero="bandstop", window="hamming", fs=c.sample_rate),
                           taps)
    gain = rng.uniform(*sorted(gain_db))
    _, h = signal.freqz(taps, 1, fs=c.sample_rate)
    return 10 ** (gain / 20) * taps / max(np.abs(h).max(), 1e-12)


def _fir_same(x: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Filter ``x`` with ``taps`` compensating the group delay (same length as ``x``)."""
    y = signal.lfilter(taps, 1.0, np.concatenate([x, np.zeros(len(taps))]))
    d = (len(taps) - 1) // 2
    return y[d:d + len(x)]


def lnl_convolutive(x: np.ndarray, c: RawBoostConfig, rng: np.random.Generator) -> np.ndarray:
    y = np.zeros_like(x)
    for n in range(1, c.n_f + 1):
        gains = (c.min_gain, c.max_gain) if n == 1 else (c.min_gain - c.min_bias, c.max_gain - c.max_bias)
        y += _fir_same(x ** n, random_notch_cascade(c, rng, gains))
    return _norm_peak(y - y.mean())


def isd_additive(x: np.ndarray, c: RawBoostConfig, rng: np.random.Generator) -> np.ndarray:
    y = x.copy()
    n = int(len(x) * rng.uniform(0, c.p_max) / 100)
    idx = rng.permutation(len(x))[:n]
    y[idx] += c.g_sd * x[idx] * rng.uniform(-1, 1, n) * rng.uniform(-1, 1, n)
    return _norm_peak(y)


def ssi_additive(x: np.ndarray, c: RawBoostConfig, rng: np.random.Generator) -> np.ndarray:
    noise = _norm_peak(_fir_same(rng.standard_normal(len(x)), random_notch_cascade(c, rng, (c.min_gain, c.max_gain))),
                       always=True)
    snr = rng.uniform(c.snr_min, c.snr_max)
    scale = np.linalg.norm(x) / max(np.linalg.norm(noise), 1e-12) / 10 ** (snr / 20)
    return x + scale * noise


_ALGOS = {"lnl": lnl_convolutive, "isd": isd_additive, "ssi": ssi_additive}


class RawBoost:
    """``RawBoost(conf)(wave, rng)`` -> augmented float32 wave of the same length."""

    def __init__(self, conf: dict[str, Any] | RawBoostConfig | None = None):
        self.conf = conf if isinstance(conf, RawBoostConfig) else RawBoostConfig.from_dict(conf)

    def __call__(self, wave: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = rng if rng is not None else np.random.default_rng(np.random.randint(2 ** 31))
        x = np.asarray(wave, dtype=np.float64)
        algo = self.conf.algo
        if algo in PARALLEL:
            x = _norm_peak(np.sum([_ALGOS[a](x, self.conf, rng) for a in PARALLEL[algo]], axis=0))
        else:
            for a in SERIES[algo]:
                x = _ALGOS[a](x, self.conf, rng)
        return x.astype(np.float32)
