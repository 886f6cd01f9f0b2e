"""Temporally-local pseudo-fakes (Astrid, Ghorbel and Aouada, BMVC 2024).

With probability ``prob`` a training clip of n frames gets a random segment of l frames,
``l`` uniform in ``[max(l_min, r_min n), r_max n]``, replaced in the audio, the video or
both (chosen uniformly) by the same time span of another clip, and is labelled fake. The
audio span is the one that plays with those frames (``len(audio) / n`` samples a frame),
so audio and video segments stay aligned in time; "both" takes the two from the same
other clip. Real or fake clips may be altered alike (a fake stays fake).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

MODALITIES = ("audio", "video", "both")


@dataclass
class PseudoFakeInfo:
    """What was replaced: modality, first frame and length (frames)."""
    modality: str
    start: int
    length: int


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
                    modality: str, start: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Copies of (video, audio) with frames ``start:start+length`` (and the matching audio
    samples) taken from the other clip in ``modality`` (audio | video | both)."""
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
        spf = len(audio) / n
        a0, a1 = int(round(start * spf)), int(round((start + length) * spf))
        audio[a0:a1] = other_audio[a0:a1]
    return video, audio


class PseudoFaker:
    """Draws and applies temporally-local pseudo-fakes with the paper's defaults."""

    def __init__(self, prob: float = 0.5, r_min: float = 0.0, r_max: float = 1.0, l_min: int = 2,
                 modalities: tuple[str, ...] = MODALITIES):
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
        ov, oa = other()
        video, audio = replace_segment(video, audio, ov, oa, modality, start, length)
        return video, audio, PseudoFakeInfo(modality, start, length)
