"""Self-blended video segments (avdf.data.self_blend) and their labels in the av task."""
from __future__ import annotations

import numpy as np
import pytest

from avdf.data.self_blend import SelfBlend, blend_mask


def _video(n: int = 15, size: int = 32, seed: int = 0) -> np.ndarray:
    """A textured chunk: fine noise that downscaling visibly removes."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size, 3)).astype(np.uint8)


def test_blend_changes_a_central_region_of_a_segment_only():
    video = _video()
    out, info = SelfBlend(prob=1.0, scale=[3, 3], colour=0.0, alpha=[1, 1])(video, np.random.default_rng(1))
    assert info is not None and out.shape == video.shape and out.dtype == np.uint8
    assert info.length >= 8   # r_min 0.5 of 15 frames
    seg = np.zeros(len(video), bool)
    seg[info.start:info.start + info.length] = True
    assert np.array_equal(out[~seg], video[~seg])
    diff = np.abs(out[seg].astype(int) - video[seg].astype(int)).mean(axis=(0, 3))
    assert diff[12:20, 12:20].mean() > 30          # the centre is replaced by the blurred copy
    assert diff[:2, :2].mean() < 1 and diff[-2:, -2:].mean() < 1   # the corners are not
    assert np.array_equal(video, _video())         # the input is not modified


def test_jitter_moves_the_layer_from_frame_to_frame():
    still = np.repeat(_video(1), 15, axis=0)     # one frame, 15 times
    kwargs = dict(prob=1.0, scale=[2, 2], colour=0.0, alpha=[1, 1], r_min=1.0, radius=[0.6, 0.6])
    steady, _ = SelfBlend(**kwargs)(still, np.random.default_rng(3))
    assert all(np.array_equal(steady[0], f) for f in steady[1:])   # a fixed layer on a still chunk
    moving, info = SelfBlend(jitter=0.5, **kwargs)(still, np.random.default_rng(3))
    assert info.length == 15
    step = np.abs(np.diff(moving.astype(int), axis=0)).mean(axis=(1, 2, 3))
    assert (step > 1).all()                       # every frame's layer sits elsewhere
    assert np.abs(moving.astype(int) - steady.astype(int)).mean() < 20   # by a sub-pixel shift


def test_prob_zero_and_draws():
    video = _video()
    same, info = SelfBlend(prob=0.0)(video, np.random.default_rng(0))
    assert info is None and same is video
    blender = SelfBlend(prob=0.3)
    rng = np.random.default_rng(0)
    hits = sum(blender(video, rng)[1] is not None for _ in range(400))
    assert 90 < hits < 150


def test_mask_is_feathered_and_bounded():
    m = blend_mask(48, 48, np.random.default_rng(0))
    assert m.shape == (48, 48, 1) and m.min() >= 0 and m.max() <= 1
    assert m[24, 24, 0] > 0.9 and m[0, 0, 0] < 0.05
    assert ((m > 0.05) & (m < 0.95)).any()      # a soft edge, not a hard cut


@pytest.mark.parametrize("kwargs, match", [
    ({"prob": 1.5}, "prob"), ({"scale": [0.5, 2]}, "scale"), ({"alpha": [0, 1]}, "alpha"),
    ({"colour": 1.0}, "colour"), ({"r_min": 0.8, "r_max": 0.5}, "r_min"),
    ({"radius": [0.5, 0.2]}, "radius"), ({"jitter": -1}, "jitter")])
def test_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SelfBlend(**kwargs)
