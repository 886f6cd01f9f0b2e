"""Independent checks of audio-visual mini-corpus media, shared by the DFDC and
FakeAVCeleb corpus tests: PyAV probing and decoding, OpenCV Haar face detection, mouth
activity against loudness, and a search for a real recording inside a clip's audio.
Nothing here imports the generators."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import soundfile as sf
from scipy.signal import fftconvolve, resample_poly

_CASCADE = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"))
REAL_SPEECH_ROOTS = ("/usr/share/asterisk/sounds/", "/usr/share/pocketsphinx/test/data/")


@dataclass
class Probe:
    vcodec: str
    pix_fmt: str
    width: int
    height: int
    rate: Fraction
    acodec: str
    sample_rate: int
    channels: int
    duration: float


def probe(path: Path) -> Probe:
    """Stream parameters from the container (PyAV)."""
    with av.open(str(path)) as c:
        assert len(c.streams.video) == 1 and len(c.streams.audio) == 1, f"{path}: streams {c.streams}"
        v, a = c.streams.video[0], c.streams.audio[0]
        return Probe(v.codec_context.name, v.codec_context.pix_fmt, v.codec_context.width, v.codec_context.height,
                     v.average_rate, a.codec_context.name, a.rate, a.codec_context.channels,
                     float(c.duration or 0) / 1e6)


def decode(path: Path) -> tuple[list[np.ndarray], float, np.ndarray, int]:
    """(RGB frames, fps, mono float audio, audio rate)."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        fps = float(v.average_rate)
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(v)]
    with av.open(str(path)) as c:
        sr = c.streams.audio[0].rate
        audio = np.concatenate([f.to_ndarray().astype(np.float32).mean(axis=0) for f in c.decode(audio=0)])
    return frames, fps, audio, sr


def face_box(frame: np.ndarray):
    """The largest Haar frontal-face box (x, y, w, h) or None."""
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    boxes = _CASCADE.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=4, minSize=(40, 40))
    return max(boxes, key=lambda b: b[2] * b[3]) if len(boxes) else None


def face_boxes(frames: list[np.ndarray]) -> list:
    return [face_box(f) for f in frames]


def detection_rate(boxes: list) -> float:
    """Share of frames with a face, from :func:`face_boxes`."""
    return float(np.mean([b is not None for b in boxes]))


def mouth_sync(frames: list[np.ndarray], boxes: list, fps: float, audio: np.ndarray, sr: int,
               max_lag: int = 3) -> dict[int, float]:
    """Correlation between mouth darkness (share of dark pixels in the lower middle of the
    detected face box) and the loudness (dB) of the audio under each frame, per lag in
    frames (positive lag: the mouth moves later than the sound)."""
    n = len(frames)
    hop = sr / fps
    loud = np.array([10 * np.log10(np.mean(audio[int(k * hop): int((k + 1) * hop)] ** 2) + 1e-10) for k in range(n)])
    dark = np.full(n, np.nan)
    for k, (f, b) in enumerate(zip(frames, boxes)):
        if b is None:
            continue
        x, y, w, h = b
        grey = cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)
        centre = grey[y + h // 4: y + 3 * h // 4, x + w // 4: x + 3 * w // 4]
        region = grey[int(y + 0.62 * h): int(y + h), int(x + 0.25 * w): int(x + 0.75 * w)]
        dark[k] = np.mean(region < 0.5 * np.median(centre))
    out = {}
    for lag in range(-max_lag, max_lag + 1):
        d = dark[max(0, lag): n + min(0, lag)]
        lo = loud[max(0, -lag): n - max(0, lag)]
        ok = ~np.isnan(d)
        out[lag] = float(np.corrcoef(d[ok], lo[ok])[0, 1]) if ok.sum() > 3 and d[ok].std() > 0 else 0.0
    return out


def contains_recording(audio: np.ndarray, sr: int, recording: Path, search_s: float = 1.5) -> float:
    """Peak normalised cross-correlation of 0.8 s from inside ``recording``'s speech with
    the first ``search_s`` seconds (plus that excerpt) of ``audio``, both at 8 kHz."""
    ref, ref_sr = sf.read(str(recording), dtype="float32", always_2d=True)
    ref = resample_poly(ref.mean(axis=1), 8000, ref_sr)
    x = resample_poly(audio, 8000, sr)
    e = np.array([np.mean(ref[i: i + 80] ** 2) for i in range(0, len(ref) - 80, 80)])
    start = int(np.flatnonzero(10 * np.log10(e + 1e-12) > 10 * np.log10(e.max()) - 30)[0]) * 80 + 400
    seg = ref[start: start + 6400]
    x = x[: int(search_s * 8000) + len(seg)]
    num = fftconvolve(x, seg[::-1], mode="valid")
    energy = np.convolve(x ** 2, np.ones(len(seg)), mode="valid")
    return float(np.max(num / (np.sqrt(energy * np.sum(seg ** 2)) + 1e-12)))


def read_provenance(root: Path) -> dict[str, tuple[str, dict[str, str]]]:
    """``provenance.tsv`` (an addition outside the official layout): path -> (kind, fields)."""
    out = {}
    for line in (root / "provenance.tsv").read_text(encoding="utf-8").splitlines():
        path, kind, source = line.split("\t")
        out[path] = (kind, dict(item.split("=", 1) for item in source.split(";")))
    return out
