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

import functools
import hashlib
import logging
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence, TypeVar

import numpy as np
import soundfile as sf
from tqdm import tqdm

from avdf.data.audio import resample
from avdf.data.mini.speech import MissingMaterialError, Speaker, load_speech, real_speakers

logger = logging.getLogger(__name__)

SIZES = ("tiny", "small")              # every dataset has these
EXTRA_SIZES = {"dfdc": ("medium", "small24")}  # and these datasets more
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


def _single_thread() -> None:
    """Worker initialiser: one intra-op thread each (the pool is the parallelism)."""
    import torch

    torch.set_num_threads(1)


def run_jobs(fn: Callable[[T], R], jobs: Sequence[T], workers: int = 1, desc: str = "") -> list[R]:
    """``[fn(j) for j in jobs]``, over ``workers`` processes when > 1, results in order.

    Each job must carry its own seed (see :func:`job_rng`), so results do not depend on
    ``workers``. Workers run torch single-threaded.
    """
    if workers <= 1 or len(jobs) < 4:
        _single_thread()
        return [fn(j) for j in tqdm(jobs, desc=desc, leave=False, disable=None)]
    chunk = max(1, len(jobs) // (workers * 8))
    with ProcessPoolExecutor(workers, initializer=_single_thread) as pool:
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


def _speech_runs(voiced: np.ndarray, e: np.ndarray, lo: int, hi: int, gap: int, max_len: int) -> list[list[int]]:
    """Speech runs ``[first, end)`` of frames lo..hi split at gaps of >= ``gap`` frames;
    runs longer than ``max_len`` are split again at shorter gaps, then at the weakest frame."""
    runs: list[list[int]] = []
    for i in np.flatnonzero(voiced[lo:hi]) + lo:
        if runs and i - runs[-1][1] < gap:
            runs[-1][1] = i + 1
        else:
            runs.append([i, i + 1])
    out: list[list[int]] = []
    for a, b in runs:
        if b - a <= max_len:
            out.append([a, b])
        elif gap > 4:
            out.extend(_speech_runs(voiced, e, a, b, gap // 2, max_len))
        else:
            m = a + (b - a) // 5 + int(np.argmin(e[a + (b - a) // 5: b - (b - a) // 5]))
            out.extend(_speech_runs(voiced, e, a, m, gap, max_len) + _speech_runs(voiced, e, m + 1, b, gap, max_len))
    return out


def speech_segments(x: np.ndarray, sr: int, min_s: float, max_s: float,
                    min_pause_s: float = 0.2, rel_db: float = 35.0) -> list[tuple[int, int]]:
    """Cut ``x`` at pauses into speech stretches of ``min_s``..``max_s`` seconds.

    Speech runs separated by at least ``min_pause_s`` of low energy (shorter pauses, then
    the weakest frame, inside runs longer than ``max_s``) are merged greedily while they
    fit in ``max_s``; each returned (start, end) sample range keeps up to half of the
    neighbouring pauses (at most 0.3 s) as margin.
    """
    hop = int(0.01 * sr)
    e = frame_db(x, sr, 0.01)
    voiced = e > e.max() - rel_db
    max_len = int(max_s / 0.01)
    runs = _speech_runs(voiced, e, 0, len(e), int(min_pause_s / 0.01), max_len)
    out: list[list[int]] = []
    for r in runs:
        if out and r[1] - out[-1][0] <= max_len:
            out[-1][1] = r[1]
        else:
            out.append(list(r))
    segs = []
    for k, (a, b) in enumerate(out):
        if not (min_s <= (b - a) * 0.01 <= max_s):
            continue
        prev_end = out[k - 1][1] if k else 0
        next_start = out[k + 1][0] if k + 1 < len(out) else len(e)
        a2 = max(prev_end + (a - prev_end) // 2, a - 30)
        b2 = min(b + (next_start - b) // 2, b + 30)
        segs.append((a2 * hop, min(len(x), b2 * hop)))
    return segs


def cut_at_pause(x: np.ndarray, sr: int, max_s: float, target_s: float | None = None) -> np.ndarray:
    """``x`` cut at the end of a phrase (a pause of >= 80 ms follows) so that its speech
    lasts at most ``max_s`` seconds and as close to ``target_s`` (default ``max_s``) as
    the pauses allow: synthetic speech then ends at a phrase boundary, as real segments
    do. A hard cut with a 20 ms fade-out when no pause fits."""
    a, b = speech_bounds(x, sr)
    if target_s is None and b - a <= max_s * sr:
        return x
    e = frame_db(x[a:b], sr, 0.01)
    hop = int(0.01 * sr)
    voiced = np.flatnonzero(e > e.max() - 35.0)
    gaps = np.flatnonzero(np.diff(voiced) >= 8)
    ends = [int(voiced[i] + 1) * hop for i in gaps] + [b - a]          # phrase ends, samples after a
    fits = [t for t in ends if t <= max_s * sr]
    if not fits:
        y = x[: a + int(max_s * sr)].copy()
        n = min(len(y), int(0.02 * sr))
        y[len(y) - n:] *= np.linspace(1.0, 0.0, n)
        return y
    goal = (target_s if target_s is not None else max_s) * sr
    t = min(fits, key=lambda t: abs(t - goal))
    return x[: a + t + int(0.05 * sr)]


@dataclass
class Segment:
    """A stretch of a real recording (16 kHz samples ``start``..``end`` of ``path``)."""

    speaker: str
    path: Path
    start: int
    end: int
    sr: int
    audio: np.ndarray = field(repr=False)

    @property
    def duration(self) -> float:
        return (self.end - self.start) / self.sr

    def source(self) -> str:
        """``<path>:<start s>-<end s>``: where the audio comes from."""
        return f"{self.path}:{self.start / self.sr:.3f}-{self.end / self.sr:.3f}"


def collect_segments(speaker: Speaker, n: int, rng: np.random.Generator, min_s: float, max_s: float,
                     sr: int = 16000, max_per_file: int = 3) -> list[Segment]:
    """Up to ``n`` speech segments of ``min_s``..``max_s`` s from ``speaker``'s recordings,
    visiting the files in a random order (only as many files are read as needed)."""
    out: list[Segment] = []
    for i in rng.permutation(len(speaker.files)):
        if len(out) >= n:
            break
        path = speaker.files[int(i)]
        x = load_speech(path, sr)
        for a, b in speech_segments(x, sr, min_s, max_s)[:max_per_file]:
            out.append(Segment(speaker.id, path, a, b, sr, x[a:b].copy()))
    return out[:n]


@functools.lru_cache(maxsize=None)
def speaker_gender(speaker_id: str) -> str:
    """``m``/``f`` of a real speaker: the catalogue's, or, where it says ``u``, from the
    median F0 of a few recordings (below 150 Hz: ``m``); the pocketsphinx readers measure
    about 100 Hz."""
    spk = {s.id: s for s in real_speakers(0.0)}[speaker_id]
    if spk.gender in ("m", "f"):
        return spk.gender
    import pyworld as pw

    f0s = []
    for path in spk.files[:5]:
        x = load_speech(path, 16000).astype(np.float64)
        f0, t = pw.dio(x, 16000)
        f0 = pw.stonemask(x, f0, t, 16000)
        f0s.extend(f0[f0 > 0])
    return "m" if f0s and float(np.median(f0s)) < 150.0 else "f"


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
