"""Temporally-local pseudo-fakes (Astrid, Ghorbel and Aouada, BMVC 2024).

With probability ``prob`` a training clip of n frames gets a random segment replaced in
the audio, the video or both (chosen uniformly) by the same time span of another clip, and
is labelled fake. The video segment is l frames, ``l`` uniform in ``[max(l_min, r_min n),
r_max n]``, from a uniform first frame. The audio segment, with ``audio_segment``:

- ``frames`` (the default, avdf's): the samples that play with the video segment's frames
  (``len(audio) / n`` samples a frame), so audio and video segments stay aligned in time and
  cover whole frames; "both" replaces the two over that one window;
- ``samples`` (the FGI authors' code, ``dataset_3d.py``): its own window, drawn in samples
  as the video's is in frames: a length uniform in ``[max(audio_l_min, r_min L), r_max L]``
  samples (L = ``len(audio)``; ``audio_l_min`` defaults to ``l_min``; the authors' is 2) from
  a uniform first sample; "both" draws the audio and the video windows independently.

Either way "both" takes its audio and its video parts from the same other clip. Which
clips are altered (real ones, or all) is the caller's choice (avdf.tasks.av); a fake stays
fake.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

MODALITIES = ("audio", "video", "both")


@dataclass
class PseudoFakeInfo:
    """What was replaced: modality, the video window's first frame and length (frames; with
    ``audio_segment: samples`` and modality audio, the window drawn but not used), and the
    audio's first sample and length (samples; 0 when the audio was not replaced)."""
    modality: str
    start: int
    length: int
    audio_start: int = 0
    audio_length: int = 0


def segment_length(n: int, rng: np.random.Generator, r_min: float = 0.0, r_max: float = 1.0,
                   l_min: int = 2) -> int:
    """A segment length in frames, uniform in ``[max(l_min, ceil(r_min n)), floor(r_max n)]``."""
    lo = max(int(l_min), int(np.ceil(r_min * n)))
    hi = min(n, int(np.floor(r_max * n)))
    if lo > hi:
        raise ValueError(f"pseudo-fake segment: no length in [max(l_min={l_min}, r_min*n={r_min * n:g}), "
                         f"r_max*n={r_max * n:g}] for n={n} frames")
    return int(rng.integers(lo, hi + 1))


def replace_segment(video: np.ndarray, audio: np.ndarray, other_video: np.ndarray, other_audio: np.ndarray,
                    modality: str, start: int, length: int,
                    audio_span: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Copies of (video, audio) with frames ``start:start+length`` (and the matching audio
    samples, or the samples ``audio_span`` = (first, stop) when given) taken from the other
    clip in ``modality`` (audio | video | both)."""
    if modality not in MODALITIES:
        raise ValueError(f"modality {modality!r} is not one of {MODALITIES}")
    n = video.shape[0]
    if other_video.shape != video.shape or other_audio.shape != audio.shape:
        raise ValueError(f"the other clip {other_video.shape}/{other_audio.shape} differs in shape from "
                         f"{video.shape}/{audio.shape}")
    video, audio = video.copy(), audio.copy()
    if modality in ("video", "both"):
        video[start:start + length] = other_video[start:start + length]
    if modality in ("audio", "both"):
        if audio_span is None:
            spf = len(audio) / n
            a0, a1 = int(round(start * spf)), int(round((start + length) * spf))
        else:
            a0, a1 = int(audio_span[0]), int(audio_span[1])
        audio[a0:a1] = other_audio[a0:a1]
    return video, audio


class PseudoFaker:
    """Draws and applies temporally-local pseudo-fakes with the paper's defaults."""

    def __init__(self, prob: float = 0.5, r_min: float = 0.0, r_max: float = 1.0, l_min: int = 2,
                 modalities: tuple[str, ...] = MODALITIES, audio_segment: str = "frames",
                 audio_l_min: int | None = None):
        if audio_segment not in ("frames", "samples"):
            raise ValueError(f"pseudo_fake.audio_segment must be frames or samples, got {audio_segment!r}")
        self.audio_segment = audio_segment
        self.audio_l_min = int(l_min if audio_l_min is None else audio_l_min)
        bad = [m for m in modalities if m not in MODALITIES]
        if bad or not modalities:
            raise ValueError(f"pseudo_fake.modalities {list(modalities)}: use some of {MODALITIES}")
        if not 0 <= r_min <= r_max <= 1:
            raise ValueError(f"pseudo_fake: need 0 <= r_min <= r_max <= 1, got r_min={r_min}, r_max={r_max}")
        self.prob, self.r_min, self.r_max, self.l_min = float(prob), float(r_min), float(r_max), int(l_min)
        self.modalities = tuple(modalities)

    def __call__(self, video: np.ndarray, audio: np.ndarray,
                 other: Callable[[], tuple[np.ndarray, np.ndarray]],
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, PseudoFakeInfo | None]:
        """(video, audio, info): unchanged with info None, or a pseudo-fake; ``other()``
        gives another clip of the same shapes, drawn only when needed."""
        if rng.random() >= self.prob:
            return video, audio, None
        n = video.shape[0]
        length = segment_length(n, rng, self.r_min, self.r_max, self.l_min)
        start = int(rng.integers(0, n - length + 1))
        modality = self.modalities[int(rng.integers(len(self.modalities)))]
        span = None
        if modality in ("audio", "both"):
            if self.audio_segment == "samples":   # its own window, in samples
                total = len(audio)
                a_len = segment_length(total, rng, self.r_min, self.r_max, self.audio_l_min)
                a0 = int(rng.integers(0, total - a_len + 1))
                span = (a0, a0 + a_len)
            else:
                spf = len(audio) / n
                span = (int(round(start * spf)), int(round((start + length) * spf)))
        ov, oa = other()
        video, audio = replace_segment(video, audio, ov, oa, modality, start, length, span)
        a0, a1 = span or (0, 0)
        return video, audio, PseudoFakeInfo(modality, start, length, a0, a1 - a0)
