"""Deterministic test waveforms for the fidelity tests (the official code was run on the
same ones to make the reference figures stored in those tests).

Each is a voiced-speech-like signal (a gliding harmonic series with syllable-rate amplitude
modulation, plus noise), quantised to 16-bit, so that a WAV file of it reads back exactly.
"""
from __future__ import annotations

import numpy as np

#: (seed, samples): shorter than 64,600 (repeat-padded), equal and longer (cut)
CASES = [(1, 16000), (2, 24000), (3, 40000), (4, 64600), (5, 70000), (6, 96000)]


def signal(seed: int, n: int, sample_rate: int = 16000) -> np.ndarray:
    """``n`` samples of int16 as float32 in [-1, 1) (value / 32768)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sample_rate
    f0 = 100 + 80 * rng.random() + 30 * np.sin(2 * np.pi * (0.5 + rng.random()) * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    x = sum(np.sin(k * phase + rng.random() * 6.28) / k for k in range(1, 20))
    x *= 0.5 + 0.5 * np.sin(2 * np.pi * (3 + 2 * rng.random()) * t) ** 2
    x += 0.05 * rng.standard_normal(n)
    x = x / np.abs(x).max() * (0.3 + 0.5 * rng.random())
    q = np.round(x * 32767).astype(np.int16)
    return (q.astype(np.float32) / 32768.0)


def write_wav(path, seed: int, n: int, sample_rate: int = 16000) -> None:
    import soundfile as sf
    sf.write(str(path), signal(seed, n, sample_rate), sample_rate, subtype="PCM_16")
