"""Label-preserving augmentation of audio-visual training chunks (``data.augment`` of the av task).

Each training chunk, real or fake, after the training-time fakes are made:

- ``flip``: probability of mirroring every frame left to right (lips move the same either way);
- ``brightness``: an offset drawn from U(-b, b) x 255 added to every pixel of the chunk;
- ``contrast``: the chunk's pixels scaled about their mean by a factor from U(1 - c, 1 + c);
- ``gain_db``: the audio scaled by a gain drawn from U(-g, g) dB.

One draw per chunk, the same for all its frames and samples, so that nothing changes over time
that a detector of audio-visual synchrony or of temporal artefacts could take for a fake. All
default to 0 (off).
"""
from __future__ import annotations

import numpy as np


class ClipAugment:
    """See the module docstring."""

    def __init__(self, flip: float = 0.0, brightness: float = 0.0, contrast: float = 0.0, gain_db: float = 0.0):
        self.flip, self.brightness, self.contrast, self.gain_db = (float(flip), float(brightness),
                                                                   float(contrast), float(gain_db))
        if not 0.0 <= self.flip <= 1.0:
            raise ValueError(f"data.augment.flip is a probability, got {flip}")
        for name in ("brightness", "contrast", "gain_db"):
            if getattr(self, name) < 0:
                raise ValueError(f"data.augment.{name} must be >= 0, got {getattr(self, name)}")
        if self.contrast >= 1.0:
            raise ValueError(f"data.augment.contrast must be below 1 (a factor 1 - c > 0), got {contrast}")

    @classmethod
    def from_config(cls, conf: dict | None) -> "ClipAugment | None":
        """The augmenter of a ``data.augment`` mapping; None when it is empty or all off."""
        conf = dict(conf or {})
        known = {"flip", "brightness", "contrast", "gain_db"}
        unknown = sorted(set(conf) - known)
        if unknown:
            raise ValueError(f"data.augment: unknown keys {unknown}; known: {sorted(known)}")
        aug = cls(**conf)
        return aug if any((aug.flip, aug.brightness, aug.contrast, aug.gain_db)) else None

    def __call__(self, video: np.ndarray, audio: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``video`` T x H x W x 3 uint8, ``audio`` float32 -> augmented copies."""
        if self.flip and rng.random() < self.flip:
            video = video[:, :, ::-1]
        if self.brightness or self.contrast:
            x = video.astype(np.float32)
            if self.contrast:
                mean = x.mean()
                x = (x - mean) * rng.uniform(1 - self.contrast, 1 + self.contrast) + mean
            if self.brightness:
                x = x + rng.uniform(-self.brightness, self.brightness) * 255.0
            video = np.clip(np.rint(x), 0, 255).astype(np.uint8)
        if self.gain_db:
            audio = audio * np.float32(10.0 ** (rng.uniform(-self.gain_db, self.gain_db) / 20.0))
        return np.ascontiguousarray(video), audio.astype(np.float32, copy=False)
