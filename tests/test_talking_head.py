"""Unit tests of the talking-head animation and the fakes built on it (mini AV corpora):
the mouth follows the loudness, audio and video stay in sync through H.264/AAC, a face
swap shows another identity, and temporally local manipulations stay in their segment."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from avdf.data.mini.avfakes import face_swap_layer, speech_track, splice
from avdf.data.mini.faces import choose_faces, load_face
from avdf.data.mini.speech import real_speakers
from avdf.data.mini.talking_head import Animator, Framing, Motion, mouth_opening, random_motion, write_mp4
from tests.av_checks import decode, detection_rate, face_boxes, mouth_sync, probe

SR = 16000
FPS = 25


def still(n: int) -> Motion:
    """No head motion, no blinks, constant light: the mouth is the only thing that moves."""
    return Motion(np.zeros(n), np.zeros((n, 2)), np.ones(n), np.zeros(n), np.ones((n, 3)))


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    carlo = next(s for s in real_speakers(1.0) if s.id == "carlo")
    x, _ = speech_track(carlo.files[:20], 3.0, SR, np.random.default_rng(0))
    return x


def frame_loudness(x: np.ndarray, n: int) -> np.ndarray:
    hop = SR // FPS
    return np.array([10 * np.log10(np.mean(x[k * hop:(k + 1) * hop] ** 2) + 1e-10) for k in range(n)])


def test_mouth_opening_follows_loudness(speech):
    face = load_face("astronaut")
    n = int(len(speech) / SR * FPS)
    opening = mouth_opening(speech, SR, FPS, n)
    assert opening.min() == 0.0 and opening.max() > 0.9           # closed in pauses, wide open when loud
    assert np.corrcoef(opening, frame_loudness(speech, n))[0, 1] > 0.8
    framing = Framing(400, 400, face_px=128, centre_x=0.5, centre_y=0.47)   # the portrait itself, unresampled
    frames = Animator(face, framing).render(opening, still(n), np.random.default_rng(0), noise_std=0.0)
    mx, my = face.mouth
    w, h = face.box[2:]
    region = frames[:, int(my) - 5: int(my + 0.2 * h), int(mx - 0.2 * w): int(mx + 0.2 * w)]
    cavity = ((region.mean(axis=-1) < 60) & (region[..., 0] > region[..., 1] + 15)).sum(axis=(1, 2))
    assert np.corrcoef(cavity, opening)[0, 1] > 0.95
    closed = cavity[opening == 0]
    assert np.ptp(closed) == 0 and cavity[opening > 0.8].min() > closed[0] + 50    # closed: the still's own lips
    silent = Animator(face, framing).render(np.zeros(3, np.float32), still(3), np.random.default_rng(0), noise_std=0)
    assert np.array_equal(silent[0], silent[2])                        # nothing else moves in a still


def test_mp4_round_trip_keeps_sync_and_format(tmp_path, speech):
    face = load_face("ocvdoc_227943776")
    n = int(len(speech) / SR * FPS)
    rng = np.random.default_rng(1)
    frames = Animator(face, Framing(224, 224, face_px=96)).render(mouth_opening(speech, SR, FPS, n),
                                                                  random_motion(n, FPS, rng), rng)
    path = tmp_path / "clip.mp4"
    write_mp4(path, frames, FPS, speech, SR)
    p = probe(path)
    assert (p.vcodec, p.pix_fmt, p.width, p.height, p.rate) == ("h264", "yuv420p", 224, 224, FPS)
    assert (p.acodec, p.sample_rate, p.channels) == ("aac", SR, 1)
    dec, fps, audio, sr = decode(path)
    assert len(dec) == n and abs(len(audio) / sr - len(speech) / SR) < 0.07
    boxes = face_boxes(dec)
    assert detection_rate(boxes) >= 0.9
    sync = mouth_sync(dec, boxes, fps, audio, sr)
    assert max(sync, key=sync.get) == 0 and sync[0] > 0.8, sync
    # the same frames with the sound delayed by 4 frames: the best lag moves accordingly
    late = np.concatenate([np.zeros(4 * SR // FPS, np.float32), speech])[: len(speech)]
    write_mp4(path, frames, FPS, late, SR)
    dec, fps, audio, sr = decode(path)
    shifted = mouth_sync(dec, boxes, fps, audio, sr, max_lag=6)   # same frames, same boxes
    assert max(shifted, key=shifted.get) == -4, shifted


def test_face_swap_shows_the_donor_and_follows_the_motion():
    target, donor = load_face("astronaut"), load_face("ocvdoc_230501201")
    rng = np.random.default_rng(2)
    for style in ("faceswap", "fsgan"):
        layer = face_swap_layer(target, donor, style, rng)
        inner = layer.alpha > 0.9
        grey = lambda im: cv2.cvtColor(im, cv2.COLOR_RGB2GRAY).astype(np.float64)[inner]   # noqa: E731
        m, _ = cv2.estimateAffinePartial2D(np.float32([*donor.eyes, donor.mouth]),
                                           np.float32([*target.eyes, target.mouth]))
        aligned = cv2.warpAffine(donor.image, m, target.image.shape[1::-1])
        to_donor = np.corrcoef(grey(layer.image), grey(aligned))[0, 1]
        to_target = np.corrcoef(grey(layer.image), grey(target.image))[0, 1]
        assert to_donor > 0.6 and to_donor > to_target + 0.3, (style, to_donor, to_target)
        assert np.abs(layer.image.astype(int) - target.image)[inner].mean() > 15
        n = 30
        frames = Animator(target, Framing(320, 240, face_px=100)).render(
            np.zeros(n, np.float32), random_motion(n, FPS, rng, amount=1.5), rng, layer=layer)
        assert detection_rate(face_boxes(list(frames))) >= 0.9


def test_local_manipulations_stay_in_their_segment(speech):
    target, donor = choose_faces(2, np.random.default_rng(3))
    n = 40
    opening = mouth_opening(speech, SR, FPS, n)
    anim = Animator(target, Framing(224, 224, face_px=96))
    on = np.zeros(n, bool)
    on[10:20] = True
    plain = anim.render(opening, still(n), np.random.default_rng(0), noise_std=0)
    local = anim.render(opening, still(n), np.random.default_rng(0), noise_std=0,
                        layer=face_swap_layer(target, donor, "faceswap", np.random.default_rng(0)), layer_on=on,
                        lowres_mouth=on)
    diff = np.abs(local.astype(int) - plain).mean(axis=(1, 2, 3))
    assert np.all(diff[~on] == 0) and np.all(diff[on] > 2)
    y = splice(speech, np.zeros_like(speech), SR, 2 * SR, SR)
    assert np.array_equal(y[: SR - 100], speech[: SR - 100]) and np.array_equal(y[2 * SR + 100:], speech[2 * SR + 100:])
    assert np.all(y[SR + 100: 2 * SR - 100] == 0)


def test_real_faces_are_distinct_and_detectable():
    faces = choose_faces(8, np.random.default_rng(0))
    assert len({f.id for f in faces}) == 8 and sum(f.colour for f in faces) == 6 and not faces[-1].colour
    for f in faces:
        x, y, w, h = f.box
        assert 0.8 < w / 128 < 1.25 and f.eyes[0][0] < f.mouth[0] < f.eyes[1][0] and f.mouth[1] > f.eyes[0][1]
        assert f.image.shape == (400, 400, 3) and f.image.dtype == np.uint8
