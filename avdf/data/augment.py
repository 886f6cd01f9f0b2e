"""Additive noise and reverberation for speaker-embedding training, read from local copies of
MUSAN (``musan/{noise,music,speech}/**/*.wav``) and RIRS_NOISES
(``RIRS_NOISES/simulated_rirs/**/*.wav``), as Kaldi's and WeSpeaker's VoxCeleb recipes use.

Each call picks one augmentation with probability ``prob`` (uniformly among the types
whose material is there): ``reverb`` (a simulated room impulse response, output aligned
to the direct path and brought back to the input power, like Kaldi's ``wav-reverberate``),
``noise`` (SNR 0-15 dB), ``music`` (5-15 dB) or ``babble`` (3-7 MUSAN speech segments,
each at 13-20 dB), the ranges of Kaldi's ``egs/voxceleb/v2`` and WeSpeaker. Noise segments
are read from a random offset of a random file and tiled when shorter than the speech.

``coloured_noise`` and ``simulate_rir`` make material of the same kinds when the real
corpora are not there (the mini recipes write them into the MUSAN / RIRS layouts, so the
same reading code serves both).
"""
from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf
from scipy.signal import fftconvolve

from avdf.data.audio import resample

logger = logging.getLogger(__name__)

SNR_RANGES = {"noise": (0.0, 15.0), "music": (5.0, 15.0), "babble": (13.0, 20.0)}
AUG_TYPES = ("reverb", "noise", "music", "babble")


class AugmentError(RuntimeError):
    """Augmentation material missing or unreadable."""


def musan_files(musan_root: str | os.PathLike) -> dict[str, list[Path]]:
    """``{"noise": [...], "music": [...], "babble": [...]}`` from a MUSAN tree (sorted)."""
    root = Path(musan_root)
    if not root.is_dir():
        raise AugmentError(f"{root}: MUSAN directory does not exist")
    out = {kind: sorted((root / sub).rglob("*.wav")) for kind, sub in
           (("noise", "noise"), ("music", "music"), ("babble", "speech"))}
    if not any(out.values()):
        raise AugmentError(f"{root}: no wav files under noise/, music/ or speech/ (expected the MUSAN layout)")
    return out


def rir_files(rirs_root: str | os.PathLike) -> list[Path]:
    """Simulated RIRs under ``RIRS_NOISES/simulated_rirs/`` (or a ``simulated_rirs`` dir given directly)."""
    root = Path(rirs_root)
    sim = root / "simulated_rirs" if (root / "simulated_rirs").is_dir() else root
    files = sorted(sim.rglob("*.wav")) if sim.is_dir() else []
    if not files:
        raise AugmentError(f"{root}: no RIR wav files under simulated_rirs/ (expected the RIRS_NOISES layout)")
    return files


def _power(x: np.ndarray) -> float:
    return float(np.mean(x.astype(np.float64) ** 2)) + 1e-12


def scale_to_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``g * noise`` with ``g`` chosen so that the speech-to-noise ratio is ``snr_db``."""
    return np.sqrt(_power(speech) / (_power(noise) * 10 ** (snr_db / 10))) * noise.astype(np.float64)


def reverberate(speech: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve with a unit-energy ``rir``; keep the length, align to the direct path
    (the RIR's peak) and restore the input power."""
    rir = rir.astype(np.float64) / (np.sqrt(np.sum(rir.astype(np.float64) ** 2)) + 1e-12)
    peak = int(np.argmax(np.abs(rir)))
    y = fftconvolve(speech.astype(np.float64), rir)[peak: peak + len(speech)]
    y *= np.sqrt(_power(speech) / _power(y))
    return y.astype(np.float32)


class Augmenter:
    """``augmenter(wave, rng) -> wave``; see the module docstring. ``musan`` / ``rirs`` are
    local paths (either may be None); ``types`` restricts the augmentations used."""

    def __init__(self, musan: str | os.PathLike | None = None, rirs: str | os.PathLike | None = None,
                 prob: float = 0.6, types: Sequence[str] = AUG_TYPES, sample_rate: int = 16000,
                 snr: dict[str, Sequence[float]] | None = None, babble_speakers: Sequence[int] = (3, 7)):
        unknown = set(types) - set(AUG_TYPES)
        if unknown:
            raise ValueError(f"augment.types: unknown {sorted(unknown)}; known: {', '.join(AUG_TYPES)}")
        self.prob = float(prob)
        self.sample_rate = sample_rate
        self.snr = {**SNR_RANGES, **{k: tuple(v) for k, v in (snr or {}).items()}}
        self.babble_speakers = tuple(babble_speakers)
        self.files: dict[str, list[Path]] = {}
        if musan is not None:
            self.files.update(musan_files(musan))
        if rirs is not None:
            self.files["reverb"] = rir_files(rirs)
        self.types = [t for t in types if self.files.get(t)]
        if not self.types:
            raise AugmentError(f"augmentation asked for {list(types)} but no material was found "
                               f"(musan={musan}, rirs={rirs})")
        logger.info("augmentation p=%.2f over %s (%s)", self.prob, self.types,
                    ", ".join(f"{t}: {len(self.files[t])} files" for t in self.types))

    @functools.lru_cache(maxsize=512)
    def _rir(self, path: Path) -> np.ndarray:
        x, sr = sf.read(path, dtype="float32", always_2d=True)
        return resample(x[:, 0], sr, self.sample_rate)

    def _segment(self, path: Path, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` samples from a random offset of ``path`` (tiled if the file is shorter)."""
        try:
            info = sf.info(path)
            want = int(np.ceil(n * info.samplerate / self.sample_rate))
            start = int(rng.integers(0, max(1, info.frames - want + 1)))
            x, sr = sf.read(path, start=start, frames=want, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as e:
            raise AugmentError(f"{path}: cannot read augmentation audio: {e}") from None
        x = resample(x[:, 0], sr, self.sample_rate)
        if len(x) == 0:
            raise AugmentError(f"{path}: augmentation audio is empty")
        return np.tile(x, int(np.ceil(n / len(x))))[:n]

    def __call__(self, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() >= self.prob:
            return wave
        kind = self.types[int(rng.integers(len(self.types)))]
        files = self.files[kind]
        if kind == "reverb":
            return reverberate(wave, self._rir(files[int(rng.integers(len(files)))]))
        lo, hi = self.snr[kind]
        n_src = int(rng.integers(self.babble_speakers[0], self.babble_speakers[1] + 1)) if kind == "babble" else 1
        out = wave.astype(np.float64)
        for _ in range(n_src):  # babble: each talker at its own SNR against the clean speech
            noise = self._segment(files[int(rng.integers(len(files)))], len(wave), rng)
            out += scale_to_snr(wave, noise, float(rng.uniform(lo, hi)))
        peak = np.abs(out).max()
        if peak > 1.0:  # keep the mixture in range as 16-bit audio would be
            out = out / peak
        return out.astype(np.float32)


# -- material for when MUSAN / RIRS_NOISES are not available ------------------------------
def coloured_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with a 1/f^exponent power spectrum (0 white, 1 pink, 2 brown), unit RMS."""
    spec = np.fft.rfft(rng.normal(size=n))
    f = np.fft.rfftfreq(n)
    f[0] = f[1] if n > 1 else 1.0
    x = np.fft.irfft(spec / f ** (exponent / 2), n)
    return (x / (np.sqrt(np.mean(x ** 2)) + 1e-12)).astype(np.float32)


def simulate_rir(rt60: float, sample_rate: int, rng: np.random.Generator, direct_delay_s: float = 0.005,
                 n_early: int = 8) -> np.ndarray:
    """A room impulse response: a direct path, ``n_early`` sparse early reflections within
    the first 50 ms, then Gaussian noise decaying by 60 dB over ``rt60`` seconds, low-passed
    progressively (high frequencies die first, as in real rooms). Unit energy."""
    n = int(sample_rate * max(0.1, 1.5 * rt60)) + int(direct_delay_s * sample_rate) + 1
    t = np.arange(n) / sample_rate
    d0 = int(direct_delay_s * sample_rate)
    decay = np.exp(-6.9078 * np.maximum(t - direct_delay_s, 0) / rt60)  # ln(1000): -60 dB at rt60
    tail = rng.normal(size=n) * decay
    # two one-pole low-pass passes whose cut-off falls along the tail
    alpha = np.clip(0.2 + 0.75 * (t - direct_delay_s) / (rt60 + 1e-9), 0.2, 0.95)
    gain = np.sqrt((1 + alpha) / (1 - alpha))  # undo the filter's white-noise power loss
    for _ in range(2):
        y = np.empty_like(tail)
        acc = 0.0
        for i, (v, a) in enumerate(zip(tail, alpha)):
            acc = a * acc + (1 - a) * v
            y[i] = acc
        tail = y * gain
    tail[: d0 + 1] = 0.0
    h = 0.3 * tail / (np.sqrt(np.sum(tail ** 2)) + 1e-12)
    h[d0] = 1.0
    for _ in range(n_early):
        k = d0 + int(rng.integers(int(0.002 * sample_rate), int(0.05 * sample_rate)))
        if k < n:
            h[k] += rng.uniform(-0.6, 0.6) * np.exp(-6.9078 * (k - d0) / sample_rate / rt60)
    return (h / np.sqrt(np.sum(h ** 2))).astype(np.float32)
