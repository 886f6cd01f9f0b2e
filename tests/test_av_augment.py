"""Label-preserving augmentation of audio-visual training chunks (avdf.data.av_augment)."""
from __future__ import annotations

import numpy as np
import pytest

from avdf.data.av_augment import ClipAugment


def _clip(seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(30, 220, (6, 8, 10, 3)).astype(np.uint8), rng.standard_normal(400).astype(np.float32)


def test_flip_mirrors_every_frame():
    video, audio = _clip()
    v, a = ClipAugment(flip=1.0)(video, audio, np.random.default_rng(0))
    assert np.array_equal(v, video[:, :, ::-1]) and np.array_equal(a, audio) and v.flags.c_contiguous
    v, _ = ClipAugment(flip=0.0, gain_db=1.0)(video, audio, np.random.default_rng(0))
    assert np.array_equal(v, video)


def test_one_draw_per_chunk():
    """Brightness, contrast and gain are the same for every frame and sample of a chunk."""
    video, audio = _clip()
    video[3] = video[0]
    aug = ClipAugment(brightness=0.2, contrast=0.3, gain_db=6)
    v, a = aug(video, audio, np.random.default_rng(1))
    assert v.dtype == np.uint8 and v.shape == video.shape and not np.array_equal(v, video)
    assert np.array_equal(v[3], v[0])                        # equal frames stay equal
    ratio = a / audio
    assert np.allclose(ratio, ratio[0], rtol=1e-5) and 10 ** (-6 / 20) <= ratio[0] <= 10 ** (6 / 20)
    # contrast about the chunk's mean, then an offset: an affine map of the pixel values
    x, y = video.astype(float).ravel(), v.astype(float).ravel()
    inside = (y > 0) & (y < 255)
    slope, icpt = np.polyfit(x[inside], y[inside], 1)
    assert 0.7 - 0.01 <= slope <= 1.3 + 0.01 and np.abs(y[inside] - (slope * x[inside] + icpt)).max() <= 1.0


def test_config():
    assert ClipAugment.from_config({}) is None
    assert ClipAugment.from_config({"flip": 0.0, "brightness": 0.0, "contrast": 0.0, "gain_db": 0.0}) is None
    assert ClipAugment.from_config({"gain_db": 3}).gain_db == 3.0
    with pytest.raises(ValueError, match="unknown keys \\['hue'\\]"):
        ClipAugment.from_config({"hue": 0.1})
    with pytest.raises(ValueError, match="flip is a probability"):
        ClipAugment(flip=2)
    with pytest.raises(ValueError, match="contrast must be below 1"):
        ClipAugment(contrast=1.0)
    with pytest.raises(ValueError, match="gain_db must be >= 0"):
        ClipAugment(gain_db=-1)
