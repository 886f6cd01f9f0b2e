#!/usr/bin/env python3
"""Augmentation material for runs without MUSAN and RIRS_NOISES (the mini corpus), written
in their layouts so that the same reading code (avdf.data.augment) serves both:

    OUT/musan/noise/sim/noise-sim-NNNN.wav        coloured noise (white..brown), some with hum
    OUT/musan/music/sim/music-sim-NNNN.wav        chords of harmonic tones with note envelopes
    OUT/musan/speech/sim/speech-sim-NNNN.wav      speech of the --speech_scp utterances (babble)
    OUT/RIRS_NOISES/simulated_rirs/{smallroom,mediumroom,largeroom}/RoomNNN/RoomNNN-00001.wav

    python local/make_sim_augment.py --out db/sim_aug --speech_scp data/vox2_test/wav.scp

RIRs are exponentially decaying filtered noise with a direct path and early reflections
(avdf.data.augment.simulate_rir), RT60 drawn per room size: small 0.15-0.4 s, medium
0.4-0.8 s, large 0.8-1.2 s. Use speakers for babble that are not evaluated. Writes
``OUT/.complete`` last; an existing complete OUT is left alone.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from avdf.data.audio import WavScp
from avdf.data.augment import coloured_noise, simulate_rir
from avdf.utils.fileio import atomic_path

ROOMS = {"smallroom": (0.15, 0.4), "mediumroom": (0.4, 0.8), "largeroom": (0.8, 1.2)}


def _write(path: Path, x: np.ndarray, sr: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".wav") as tmp:
        sf.write(tmp, np.clip(x, -1, 1).astype(np.float32), sr, subtype="PCM_16")


def music(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Random chords of harmonic tones, one every 0.25-0.6 s, with decaying envelopes."""
    out = np.zeros(n)
    t0 = 0
    while t0 < n:
        dur = int(sr * rng.uniform(0.25, 0.6))
        t = np.arange(min(dur, n - t0)) / sr
        env = np.exp(-t * rng.uniform(2, 8))
        root = 110 * 2 ** (rng.integers(0, 24) / 12)
        for ratio in (1.0, 1.26, 1.5):
            for h in range(1, 5):
                out[t0:t0 + len(t)] += env * np.sin(2 * np.pi * root * ratio * h * t + rng.uniform(0, 6.3)) / h
        t0 += dur
    return 0.3 * out / (np.abs(out).max() + 1e-9)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--speech_scp", type=Path, help="wav.scp whose utterances become MUSAN speech (babble)")
    p.add_argument("--sample_rate", type=int, default=16000)
    p.add_argument("--n_noise", type=int, default=12)
    p.add_argument("--n_music", type=int, default=6)
    p.add_argument("--n_speech", type=int, default=30)
    p.add_argument("--n_rooms", type=int, default=8, help="rooms per size")
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if (a.out / ".complete").is_file():
        print(f"{a.out}: already complete", file=sys.stderr)
        return 0
    rng = np.random.default_rng(a.seed)
    sr, n = a.sample_rate, int(a.seconds * a.sample_rate)
    for i in range(a.n_noise):
        x = coloured_noise(n, float(rng.uniform(0, 2)), rng) * 0.1
        if i % 3 == 2:  # mains hum with harmonics
            t = np.arange(n) / sr
            x += 0.05 * sum(np.sin(2 * np.pi * 50 * k * t) / k for k in range(1, 6))
        _write(a.out / f"musan/noise/sim/noise-sim-{i:04d}.wav", x, sr)
    for i in range(a.n_music):
        _write(a.out / f"musan/music/sim/music-sim-{i:04d}.wav", music(n, sr, rng), sr)
    if a.speech_scp is not None:
        scp = WavScp(a.speech_scp, resample_to=sr)
        utts = scp.keys()
        for i, u in enumerate(rng.permutation(utts)[: a.n_speech]):
            _write(a.out / f"musan/speech/sim/speech-sim-{i:04d}.wav", scp.read(str(u))[0], sr)
    k = 0
    for room, (lo, hi) in ROOMS.items():
        for _ in range(a.n_rooms):
            k += 1
            h = simulate_rir(float(rng.uniform(lo, hi)), sr, rng)
            _write(a.out / f"RIRS_NOISES/simulated_rirs/{room}/Room{k:03d}/Room{k:03d}-00001.wav", h / np.abs(h).max(), sr)
    (a.out / ".complete").write_text(f"seed {a.seed}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
