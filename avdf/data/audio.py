"""Reading audio the way Kaldi's ``wav.scp`` describes it.

A ``wav.scp`` value is either a file (WAV/FLAC read with soundfile; m4a/mp4/aac and
other containers decoded with PyAV) or a command ending in ``|`` whose standard output is
a WAV/FLAC stream (``sox x.flac -t wav -r 16000 - |``,
``ffmpeg -v 8 -i x.m4a -f wav -acodec pcm_s16le - |``). Errors name the scp file, the
line and the reason.

A pipe is the only thing avdf ever hands to a shell, and only from a ``wav.scp`` value: data
preparation writes pipes with :func:`pipe_command` (every word quoted, so a file name is
never read as shell syntax), and readers of dataset files (``read_audio(...,
allow_pipe=False)``, the AV preprocessing) take a value ending in ``|`` as a file name.
"""
from __future__ import annotations

import io
import os
import re
import shlex
import subprocess
from math import gcd
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from avdf.data.datadir import read_kv

_SOUNDFILE_EXT = {".wav", ".flac", ".ogg", ".aiff", ".aif", ".au", ".sph", ".raw_wav"}


class AudioError(RuntimeError):
    """Audio that cannot be read, or is not what the recipe expects."""


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling by the exact rational ratio; float32 out."""
    if sr_in == sr_out:
        return x.astype(np.float32, copy=False)
    g = gcd(sr_in, sr_out)
    return resample_poly(x, sr_out // g, sr_in // g).astype(np.float32)


def _decode_bytes(data: bytes) -> tuple[np.ndarray, int]:
    x, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return x, sr


def _decode_pyav(path: str) -> tuple[np.ndarray, int]:
    import av  # imported here: only containers need it

    with av.open(path) as container:
        if not container.streams.audio:
            raise AudioError("no audio stream")
        stream = container.streams.audio[0]
        chunks = []
        for frame in container.decode(stream):
            a = frame.to_ndarray()
            if a.dtype.kind == "i":
                a = a.astype(np.float32) / np.iinfo(a.dtype).max
            a = a.astype(np.float32)
            if frame.format.is_planar:
                chunks.append(a.T)  # (samples, channels)
            else:
                chunks.append(a.reshape(-1, len(frame.layout.channels)))
        if not chunks:
            raise AudioError("audio stream has no samples")
        return np.concatenate(chunks), stream.rate


_DATA_CHUNK = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.M)


def _check_complete(path: str) -> None:
    """A WAV file whose header promises more audio than the file holds (a cut copy) is an
    error: libsndfile would read the part that is there without a word."""
    m = _DATA_CHUNK.search(sf.info(path).extra_info)
    if m and int(m.group(2)) < int(m.group(1)):
        raise AudioError(f"truncated: the header says {m.group(1)} bytes of audio, the file holds {m.group(2)}")


def pipe_command(*argv: str | os.PathLike) -> str:
    """A ``wav.scp`` pipe value (``cmd args... |``) whose every word is shell-quoted:
    ``pipe_command("sox", path, "-t", "wav", "-")``. The one way avdf writes a pipe."""
    return " ".join(shlex.quote(str(a)) for a in argv) + " |"


def read_audio(spec: str, *, expected_sr: int | None = None, resample_to: int | None = None,
               where: str = "", allow_pipe: bool = True) -> tuple[np.ndarray, int]:
    """Read one ``wav.scp`` value; return mono float32 samples in [-1, 1] and the rate.

    ``allow_pipe=False``: ``spec`` is a file name even if it ends in ``|`` (a dataset's
    file, never run).

    ``expected_sr``: fail (naming ``where`` and the file) if the audio has another rate.
    ``resample_to``: resample to this rate instead. ``where`` is ``"wav.scp:LINE"`` for
    error messages.
    """
    prefix = f"{where}: " if where else ""
    if allow_pipe:
        spec = spec.strip()
    try:
        if allow_pipe and spec.endswith("|"):
            cmd = spec[:-1].strip()
            r = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True)
            if r.returncode != 0:
                err = r.stderr.decode(errors="replace").strip().splitlines()
                raise AudioError(f"command exited {r.returncode}: {err[-1] if err else ''}")
            if not r.stdout:
                raise AudioError("command wrote no audio")
            x, sr = _decode_bytes(r.stdout)
        else:
            if not os.path.isfile(spec):
                raise AudioError("file does not exist")
            if os.path.getsize(spec) == 0:
                raise AudioError("file is empty")
            if Path(spec).suffix.lower() in _SOUNDFILE_EXT:
                x, sr = sf.read(spec, dtype="float32", always_2d=True)
                _check_complete(spec)
            else:
                x, sr = _decode_pyav(spec)
    except AudioError as e:
        raise AudioError(f"{prefix}{spec}: {e}") from None
    except (sf.LibsndfileError, RuntimeError, ValueError, OSError) as e:
        raise AudioError(f"{prefix}{spec}: cannot decode audio: {e}") from None
    if x.shape[0] == 0:
        raise AudioError(f"{prefix}{spec}: no samples")
    mono = x.mean(axis=1) if x.shape[1] > 1 else x[:, 0]
    if expected_sr is not None and sr != expected_sr:
        raise AudioError(f"{prefix}{spec}: sample rate {sr} Hz, expected {expected_sr} Hz")
    if resample_to is not None and sr != resample_to:
        mono, sr = resample(mono, sr, resample_to), resample_to
    return np.ascontiguousarray(mono, dtype=np.float32), sr


class WavScp:
    """A ``wav.scp`` as a random-access reader whose errors name the file and line."""

    def __init__(self, path: str | os.PathLike, expected_sr: int | None = None,
                 resample_to: int | None = None):
        self.path = Path(path)
        self.entries = read_kv(self.path)
        self.line = {k: n for n, k in enumerate(self.entries, 1)}
        self.expected_sr = expected_sr
        self.resample_to = resample_to

    def __len__(self) -> int:
        return len(self.entries)

    def keys(self) -> list[str]:
        return list(self.entries)

    def __contains__(self, utt: str) -> bool:
        return utt in self.entries

    def read(self, utt: str) -> tuple[np.ndarray, int]:
        if utt not in self.entries:
            raise KeyError(f"{self.path}: no utterance {utt!r}")
        return read_audio(self.entries[utt], expected_sr=self.expected_sr, resample_to=self.resample_to,
                          where=f"{self.path}:{self.line[utt]}")

    def __iter__(self) -> Iterator[tuple[str, np.ndarray, int]]:
        for utt in self.entries:
            x, sr = self.read(utt)
            yield utt, x, sr
