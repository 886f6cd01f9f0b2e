"""Temporally-local self-blended video fakes.

A real chunk gets, over a random segment of its frames, a region blended with a degraded copy
of itself: the frame downscaled by ``scale`` and upscaled again (a lower-resolution source)
with a per-channel colour change, pasted through a feathered ellipse. These are the traces a
face swap leaves (blending boundary, resolution and colour mismatch) without any change of
identity or of lip motion, the idea of self-blended images (Shiohara and Yamasaki, CVPR 2022)
applied over a segment of frames as the temporally-local pseudo-fakes are
(avdf.data.pseudo_fakes, whose segment length rule is reused). The region, scale and colour
change stay fixed over the segment, as a swapped face would; with ``jitter`` > 0 the blended
layer (degraded copy and mask) is shifted by a fresh sub-pixel offset in every frame, the
flicker of a face that is aligned and blended frame by frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from avdf.data.pseudo_fakes import segment_length


@dataclass
class BlendInfo:
    """What was blended: first frame, length (frames) and the downscaling factor."""
    start: int
    length: int
    scale: float


def blend_mask(height: int, width: int, rng: np.random.Generator, radius: Sequence[float] = (0.25, 0.45),
               feather: Sequence[float] = (0.03, 0.08)) -> np.ndarray:
    """A ``(H, W, 1)`` float32 mask in [0, 1]: an ellipse near the centre (radii a random
    fraction ``radius`` of the size), its edge blurred over a fraction ``feather`` of the size."""
    size = min(height, width)
    centre = (int(round(width * (0.5 + rng.uniform(-0.1, 0.1)))), int(round(height * (0.5 + rng.uniform(-0.1, 0.1)))))
    axes = (max(1, int(round(width * rng.uniform(*radius)))), max(1, int(round(height * rng.uniform(*radius)))))
    mask = np.zeros((height, width), np.float32)
    cv2.ellipse(mask, centre, axes, 0.0, 0.0, 360.0, 1.0, thickness=-1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(0.5, size * rng.uniform(*feather)))
    return mask[..., None]


def degrade(frame: np.ndarray, scale: float, gain: np.ndarray) -> np.ndarray:
    """``frame`` (H x W x 3 uint8) at 1/``scale`` of its resolution and back, times a
    per-channel ``gain``; float32."""
    h, w = frame.shape[:2]
    small = cv2.resize(frame, (max(2, int(round(w / scale))), max(2, int(round(h / scale)))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32) * gain


def shift(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``image`` (H x W [x C] float32) translated by a sub-pixel (``dx``, ``dy``), edges replicated."""
    h, w = image.shape[:2]
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class SelfBlend:
    """Draws and applies self-blended segments (``data.self_blend`` of the av task)."""

    def __init__(self, prob: float = 0.0, scale: Sequence[float] = (2.0, 4.0), colour: float = 0.1,
                 alpha: Sequence[float] = (0.6, 1.0), r_min: float = 0.5, r_max: float = 1.0, l_min: int = 2,
                 radius: Sequence[float] = (0.25, 0.45), jitter: float = 0.0):
        if not 0 <= float(prob) <= 1:
            raise ValueError(f"self_blend.prob must be in [0, 1], got {prob}")
        if len(scale) != 2 or not 1 <= float(scale[0]) <= float(scale[1]):
            raise ValueError(f"self_blend.scale must be [low, high] with 1 <= low <= high, got {list(scale)}")
        if len(alpha) != 2 or not 0 < float(alpha[0]) <= float(alpha[1]) <= 1:
            raise ValueError(f"self_blend.alpha must be [low, high] within (0, 1], got {list(alpha)}")
        if not 0 <= float(colour) < 1:
            raise ValueError(f"self_blend.colour (relative gain change) must be in [0, 1), got {colour}")
        if not 0 <= float(r_min) <= float(r_max) <= 1:
            raise ValueError(f"self_blend: need 0 <= r_min <= r_max <= 1, got r_min={r_min}, r_max={r_max}")
        if len(radius) != 2 or not 0 < float(radius[0]) <= float(radius[1]):
            raise ValueError(f"self_blend.radius must be [low, high] with 0 < low <= high, got {list(radius)}")
        if not 0 <= float(jitter) <= 5:
            raise ValueError(f"self_blend.jitter (pixels, std of the per-frame shift) must be in [0, 5], got {jitter}")
        self.prob, self.colour = float(prob), float(colour)
        self.radius, self.jitter = (float(radius[0]), float(radius[1])), float(jitter)
        self.scale = (float(scale[0]), float(scale[1]))
        self.alpha = (float(alpha[0]), float(alpha[1]))
        self.r_min, self.r_max, self.l_min = float(r_min), float(r_max), int(l_min)

    def __call__(self, video: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, BlendInfo | None]:
        """``(video, info)``: unchanged with ``info`` None, or a copy of the T x H x W x 3 uint8
        chunk with a blended segment."""
        if self.prob <= 0 or rng.random() >= self.prob:
            return video, None
        n, h, w = video.shape[:3]
        length = segment_length(n, rng, self.r_min, self.r_max, self.l_min)
        start = int(rng.integers(0, n - length + 1))
        scale = float(rng.uniform(*self.scale))
        gain = rng.uniform(1 - self.colour, 1 + self.colour, 3).astype(np.float32)
        mask = blend_mask(h, w, rng, self.radius) * np.float32(rng.uniform(*self.alpha))
        out = video.copy()
        for t in range(start, start + length):
            frame = video[t].astype(np.float32)
            layer, m = degrade(video[t], scale, gain), mask
            if self.jitter > 0:
                dx, dy = rng.normal(0.0, self.jitter, 2)
                layer, m = shift(layer, dx, dy), shift(mask[..., 0], dx, dy)[..., None]
            out[t] = np.clip(frame * (1 - m) + layer * m, 0, 255).round().astype(np.uint8)
        return out, BlendInfo(start, length, scale)
