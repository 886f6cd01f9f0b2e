"""Temporally-local pseudo-fakes (avdf.data.pseudo_fakes)."""
from __future__ import annotations

import numpy as np
import pytest

from avdf.data.pseudo_fakes import PseudoFaker, replace_segment, segment_length


def _clip(n: int = 30, spf: int = 100, value: int = 0):
    """A clip whose frame t holds t (+ value) and whose audio sample k holds the frame it plays with."""
    video = np.stack([np.full((4, 4, 3), t + value, np.uint8) for t in range(n)])
    audio = (np.repeat(np.arange(n), spf) + value).astype(np.float32)
    return video, audio


def test_segment_length_bounds():
    rng = np.random.default_rng(0)
    lengths = [segment_length(30, rng) for _ in range(3000)]
    assert min(lengths) == 2 and max(lengths) == 30  # l_min = 2, r_max = 1
    lengths = [segment_length(30, rng, r_min=0.2, r_max=0.5) for _ in range(2000)]
    assert min(lengths) == 6 and max(lengths) == 15
    assert set(segment_length(30, rng, r_min=0.0, r_max=0.1, l_min=3) for _ in range(200)) == {3}
    with pytest.raises(ValueError, match="no length"):
        segment_length(30, rng, r_max=0.05, l_min=2)


@pytest.mark.parametrize("modality", ["audio", "video", "both"])
def test_replace_segment_keeps_audio_and_video_aligned(modality):
    video, audio = _clip()
    ov, oa = _clip(value=100)
    v, a = replace_segment(video, audio, ov, oa, modality, start=7, length=5)
    changed_v = np.flatnonzero(v[:, 0, 0, 0] != video[:, 0, 0, 0])
    changed_a = np.flatnonzero(a != audio)
    if modality in ("video", "both"):
        assert list(changed_v) == list(range(7, 12))
        assert np.array_equal(v[7:12], ov[7:12])  # the same time span of the other clip
    else:
        assert len(changed_v) == 0
    if modality in ("audio", "both"):
        assert list(changed_a) == list(range(700, 1200))  # exactly the samples of frames 7..11
        assert np.all(a[changed_a] - 100 == np.repeat(np.arange(7, 12), 100))
    else:
        assert len(changed_a) == 0
    assert np.array_equal(video, _clip()[0])  # inputs untouched


def test_faker_probability_modalities_and_labels():
    faker = PseudoFaker(prob=0.5)
    rng = np.random.default_rng(1)
    video, audio = _clip()
    calls = []

    def other():
        calls.append(1)
        return _clip(value=100)

    infos = [faker(video, audio, other, rng)[2] for _ in range(1000)]
    done = [i for i in infos if i is not None]
    assert 420 < len(done) < 580 and len(calls) == len(done)  # the other clip is read only when used
    assert {i.modality for i in done} == {"audio", "video", "both"}
    assert all(0 <= i.start and i.start + i.length <= 30 and i.length >= 2 for i in done)
    assert all(faker.__class__(prob=0.0)(video, audio, other, rng)[2] is None for _ in range(50))
    v, a, info = PseudoFaker(prob=1.0, modalities=("video",))(video, audio, other, rng)
    assert info.modality == "video" and np.array_equal(a, audio) and not np.array_equal(v, video)


def test_faker_rejects_bad_settings():
    with pytest.raises(ValueError, match="modalities"):
        PseudoFaker(modalities=("face",))
    with pytest.raises(ValueError, match="r_min <= r_max"):
        PseudoFaker(r_min=0.8, r_max=0.5)
    video, audio = _clip()
    with pytest.raises(ValueError, match="differs in shape"):
        replace_segment(video, audio, video[:10], audio, "video", 0, 2)
