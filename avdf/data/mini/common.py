"""Helpers shared by the mini-corpus generators: seeding, parallel jobs, audio conditioning
and writing.

Determinism: every unit of work (one utterance) gets its own random generator derived
from the corpus seed and a stable key (:func:`job_rng`), so the result does not depend
on how jobs are spread over worker processes.

Audio conditioning: most real speech installed offline is 8 kHz telephone-band, so every
mini-corpus file (bona fide and spoof alike) passes the same 8 kHz channel
(:func:`narrowband`), is trimmed to speech with a random margin, set to a random active
level and gets a low noise floor (:func:`condition`). Bandwidth, loudness, leading silence
and digital silence are then no cue to the class.
"""
from __future__ import annotations

import hashlib
import logging
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable, Iterable, Sequence, TypeVar

import numpy as np
import soundfile as sf
from tqdm import tqdm

from avdf.data.audio import resample
from avdf.data.mini.speech import MissingMaterialError

logger = logging.getLogger(__name__)

SIZES = ("tiny", "small")
CHANNEL_SR = 8000
# program -> Debian package that provides it
DEBIAN_PACKAGE = {"espeak-ng": "espeak-ng", "flite": "flite", "ffmpeg": "ffmpeg",
                  "ffprobe": "ffmpeg", "sox": "sox"}
YTID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

T = TypeVar("T")
R = TypeVar("R")


def require_programs(*programs: str) -> None:
    """Raise :class:`MissingMaterialError` naming the ``apt-get install`` line for any
    of ``programs`` that is not on PATH."""
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        pkgs = sorted({DEBIAN_PACKAGE.get(p, p) for p in missing})
        raise MissingMaterialError(f"program(s) {', '.join(missing)} not found; install them with: "
                                   f"apt-get install {' '.join(pkgs)} (or: make -C tools)")


def stable_int(*key: object) -> int:
    """A 63-bit integer from ``key`` that is the same in every process and run."""
    h = hashlib.sha256("\x1f".join(map(str, key)).encode()).digest()
    return int.from_bytes(h[:8], "little") >> 1


def job_rng(seed: int, *key: object) -> np.random.Generator:
    """The random generator of one job, from the corpus seed and the job's key."""
    return np.random.default_rng([int(seed), stable_int(*key)])


def run_jobs(fn: Callable[[T], R], jobs: Sequence[T], workers: int = 1, desc: str = "") -> list[R]:
    """``[fn(j) for j in jobs]``, over ``workers`` processes when > 1, results in order."""
    if workers <= 1 or len(jobs) < 4:
        return [fn(j) for j in tqdm(jobs, desc=desc, leave=False, disable=None)]
    chunk = max(1, len(jobs) // (workers * 8))
    with ProcessPoolExecutor(workers) as pool:
        return list(tqdm(pool.map(fn, jobs, chunksize=chunk), total=len(jobs), desc=desc,
                         leave=False, disable=None))


def random_ytid(rng: np.random.Generator) -> str:
    """An 11-character YouTube-like video id (letters, digits, ``-`` and ``_``)."""
    return "".join(YTID_CHARS[i] for i in rng.integers(0, len(YTID_CHARS), 11))


# ------------------------------------------------------------------ audio conditioning
def frame_db(x: np.ndarray, sr: int, frame_s: float = 0.02) -> np.ndarray:
    """Energy in dB of consecutive non-overlapping frames."""
    n = max(1, int(frame_s * sr))
    m = len(x) // n
    if m == 0:
        return np.array([10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-12)])
    fr = x[: m * n].astype(np.float64).reshape(m, n)
    return 10 * np.log10(np.mean(fr ** 2, axis=1) + 1e-12)


def active_level_db(x: np.ndarray, sr: int) -> float:
    """RMS level (dBFS) of the frames within 30 dB of the loudest: a simple speech level."""
    e = frame_db(x, sr)
    act = e[e > e.max() - 30]
    return float(10 * np.log10(np.mean(10 ** (act / 10)) + 1e-12))


def narrowband(x: np.ndarray, sr: int) -> np.ndarray:
    """Pass ``x`` through an 8 kHz channel (anti-alias low-pass at 4 kHz) and back to ``sr``."""
    if sr <= CHANNEL_SR:
        return x.astype(np.float32)
    y = resample(resample(x, sr, CHANNEL_SR), CHANNEL_SR, sr)
    return y[: len(x)] if len(y) >= len(x) else np.pad(y, (0, len(x) - len(y)))


def speech_bounds(x: np.ndarray, sr: int, rel_db: float = 35.0) -> tuple[int, int]:
    """First and last sample of the frames within ``rel_db`` of the loudest frame."""
    n = int(0.01 * sr)
    e = frame_db(x, sr, 0.01)
    on = np.flatnonzero(e > e.max() - rel_db)
    if len(on) == 0:
        return 0, len(x)
    return int(on[0] * n), int(min(len(x), (on[-1] + 1) * n))


def speech_segments(x: np.ndarray, sr: int, min_s: float, max_s: float,
                    min_pause_s: float = 0.2, rel_db: float = 35.0) -> list[tuple[int, int]]:
    """Cut ``x`` at pauses into speech stretches of ``min_s``..``max_s`` seconds.

    Stretches of speech separated by at least ``min_pause_s`` of low energy are merged
    greedily while they fit in ``max_s``; each returned (start, end) keeps up to half
    the neighbouring pause as margin. Stretches longer than ``max_s`` are dropped.
    """
    hop = int(0.01 * sr)
    e = frame_db(x, sr, 0.01)
    voiced = e > e.max() - rel_db
    runs: list[list[int]] = []           # [first, last+1] frame of speech runs
    for i in np.flatnonzero(voiced):
        if runs and i - runs[-1][1] < min_pause_s / 0.01:
            runs[-1][1] = i + 1
        else:
            runs.append([i, i + 1])
    out: list[tuple[int, int]] = []
    cur: list[int] | None = None
    for r in runs:
        if cur is not None and (r[1] - cur[0]) * 0.01 <= max_s:
            cur[1] = r[1]
            continue
        if cur is not None:
            out.append((cur[0], cur[1]))
        cur = list(r)
    if cur is not None:
        out.append((cur[0], cur[1]))
    segs = []
    nfr = len(e)
    for k, (a, b) in enumerate(out):
        if not (min_s <= (b - a) * 0.01 <= max_s):
            continue
        prev_end = out[k - 1][1] if k else 0
        next_start = out[k + 1][0] if k + 1 < len(out) else nfr
        a2 = max(prev_end + (a - prev_end) // 2, a - 30)
        b2 = min(b + (next_start - b) // 2, b + 30)
        segs.append((a2 * hop, min(len(x), b2 * hop)))
    return segs


def condition(x: np.ndarray, sr: int, rng: np.random.Generator, *, level_db: tuple[float, float] = (-30.0, -22.0),
              margin_s: tuple[float, float] = (0.05, 0.3), floor_db: tuple[float, float] = (-60.0, -48.0),
              max_s: float | None = None) -> np.ndarray:
    """The common last step of every mini-corpus utterance, bona fide or spoof.

    8 kHz channel, trim to speech with a random margin each side, cut to ``max_s``, a
    random active level in ``level_db`` dBFS, a pink-ish noise floor ``floor_db`` below
    the speech level, and a peak limit. The same random draws apply to every class.
    """
    x = narrowband(np.asarray(x, dtype=np.float32), sr)
    a, b = speech_bounds(x, sr)
    ma, mb = (int(rng.uniform(*margin_s) * sr) for _ in range(2))
    x = np.concatenate([np.zeros(max(0, ma - a), np.float32), x[max(0, a - ma): b + mb],
                        np.zeros(max(0, b + mb - len(x)), np.float32)])
    if max_s is not None and len(x) > max_s * sr:
        x = x[: int(max_s * sr)]
    x = x * 10 ** ((rng.uniform(*level_db) - active_level_db(x, sr)) / 20)
    noise = np.cumsum(rng.standard_normal(len(x))) * 0.02   # brownish ...
    noise = rng.standard_normal(len(x)) + noise - np.convolve(noise, np.ones(64) / 64, "same")  # ... detrended
    noise = narrowband(noise.astype(np.float32), sr)
    lvl = active_level_db(x, sr) + rng.uniform(*floor_db)
    x = x + noise / (np.sqrt(np.mean(noise ** 2)) + 1e-12) * 10 ** (lvl / 20)
    peak = np.abs(x).max()
    if peak > 0.95:
        x = x * (0.95 / peak)
    return x.astype(np.float32)


# ------------------------------------------------------------------ writing
def write_audio(path: Path, x: np.ndarray, sr: int) -> None:
    """Write 16-bit PCM mono WAV or FLAC (by extension); parents are created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".flac": "FLAC", ".wav": "WAV"}[path.suffix.lower()]
    sf.write(str(path), np.clip(x, -1.0, 1.0), sr, format=fmt, subtype="PCM_16")


def write_m4a(path: Path, x: np.ndarray, sr: int, bit_rate: int = 48000) -> None:
    """Write mono AAC-LC in an MP4 (``.m4a``) container with PyAV (FFmpeg's native encoder)."""
    import av  # imported here: only VoxCeleb2 needs it

    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = (np.clip(x, -1.0, 1.0) * 32767).astype(np.int16)
    with av.open(str(path), mode="w", format="ipod") as out:
        stream = out.add_stream("aac", rate=sr, layout="mono")
        stream.bit_rate = bit_rate
        frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
        frame.sample_rate = sr
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def write_lines(path: Path, lines: Iterable[str], *, newline: str = "\n", bom: bool = False) -> None:
    """Write text lines (each ending with ``newline``) in UTF-8, optionally with a BOM."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(line + newline for line in lines).encode("utf-8")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
