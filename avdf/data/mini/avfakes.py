"""Real speech tracks and the manipulations of the audio-visual mini corpora.

Audio: a clip's speech is real utterances of one real speaker joined with short pauses
(:func:`speech_track`). Fakes replace it by another real speaker's speech (audio swap),
by the same speech re-vocoded (Griffin-Lim, WORLD, LPC from :mod:`avdf.data.vocoders`),
or by synthetic speech (:mod:`avdf.data.mini.tts`), on the whole clip or on a short
segment only (:func:`splice`). Every track, real or fake, then passes the same channel
(:func:`finish_audio`: 8 kHz band, random level, noise floor), so bandwidth and level
are no cue to the class.

Video: :func:`face_swap_layer` blends another identity's face into a portrait the way
the two families of face-swap tools do it: ``faceswap`` (autoencoder swap: the donor face
at low resolution, alpha-blended under a feathered mask, colour-matched) and ``fsgan``
(GAN swap: sharper donor face, Poisson-blended). The talking-head animator then moves it
with the target's head and mouth (:class:`avdf.data.mini.talking_head.FaceLayer`).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from avdf.data.audio import resample
from avdf.data.mini.common import CHANNEL_SR, active_level_db, narrowband, speech_bounds
from avdf.data.mini.faces import FACE_PX, PORTRAIT, Face, load_face, robustly_detectable
from avdf.data.mini.speech import load_speech
from avdf.data.mini.talking_head import Animator, FaceLayer, Framing

logger = logging.getLogger(__name__)

VOCODERS = ("griffin_lim", "world", "lpc")
# a real speaker's language (avdf.data.mini.speech) -> the espeak-ng voice that speaks it
ESPEAK_LANGUAGE = {"en": "en-us", "es": "es", "fr": "fr-fr", "it": "it", "ru": "ru"}
SWAP_STYLES = ("faceswap", "fsgan")


# ------------------------------------------------------------------ audio
def speech_track(files: Sequence[Path], duration: float, sr: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, list[Path]]:
    """``duration`` seconds of real speech and the files it used: utterances drawn at
    random from ``files`` (one speaker), trimmed to speech, set to one level and joined
    with 0.1-0.35 s pauses after a 0.05-0.3 s lead-in."""
    if not files:
        raise ValueError("speech_track: no utterances to draw from")
    n = int(round(duration * sr))
    parts = [np.zeros(int(rng.uniform(0.05, 0.3) * sr), np.float32)]
    have = len(parts[0])
    order = rng.permutation(len(files))
    used: list[Path] = []
    while have < n:
        path = Path(files[order[len(used) % len(order)]])
        used.append(path)
        x = load_speech(path, sr)
        a, b = speech_bounds(x, sr)
        x = x[a:b]
        x = x * 10 ** ((-24.0 - active_level_db(x, sr)) / 20)
        pause = np.zeros(int(rng.uniform(0.1, 0.35) * sr), np.float32)
        parts += [x.astype(np.float32), pause]
        have += len(x) + len(pause)
    return np.concatenate(parts)[:n], used


def finish_audio(x: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """The channel every track passes last, real or fake: 8 kHz band, active level
    -30..-20 dBFS, a noise floor 45-60 dB below it, peak limit."""
    x = narrowband(np.asarray(x, np.float32), sr)
    x = x * 10 ** ((rng.uniform(-30.0, -20.0) - active_level_db(x, sr)) / 20)
    noise = narrowband(rng.standard_normal(len(x)).astype(np.float32), sr)
    floor = active_level_db(x, sr) - rng.uniform(45.0, 60.0)
    x = x + noise / (np.sqrt(np.mean(noise ** 2)) + 1e-12) * 10 ** (floor / 20)
    peak = float(np.abs(x).max())
    return (x * (0.95 / peak) if peak > 0.95 else x).astype(np.float32)


def revocode(x: np.ndarray, sr: int, method: str, rng: np.random.Generator, work_sr: int = CHANNEL_SR,
             **params) -> np.ndarray:
    """``x`` analysed and re-synthesised by a vocoder of :mod:`avdf.data.vocoders`
    (:data:`VOCODERS`: Griffin-Lim, WORLD, LPC), same length; ``params`` go to the vocoder.
    The vocoder runs at ``work_sr`` (by default the 8 kHz channel every track ends in)."""
    from avdf.data.vocoders import get_vocoder

    if method not in VOCODERS:
        raise ValueError(f"unknown vocoder {method!r}; known: {', '.join(VOCODERS)}")
    y = get_vocoder(method)(resample(x, sr, work_sr), work_sr, rng, **params)
    return _fit(resample(np.asarray(y, np.float32), work_sr, sr), len(x))


def clone_voice(x: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """An rtvc-like cloned voice: ``x`` (real speech of the voice to clone) re-synthesised
    the way statistical parametric TTS renders speech (WORLD with a coded spectral envelope
    and a smoothed F0 contour). At 16 kHz: WORLD's aperiodicity band coding needs it."""
    return revocode(x, sr, "world", rng, work_sr=16000, frame_period=10.0,
                    sp_dims=int(rng.choice([16, 20, 24])), f0_smooth_ms=float(rng.uniform(30.0, 80.0)))


def synthetic_speech(language: str, gender: str, duration: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Text-to-speech (espeak-ng) of our own prompt sentences in ``language`` with a voice
    variant of ``gender`` (``m``/``f``), ``duration`` seconds (trimmed or padded)."""
    from avdf.data.mini import tts

    code = ESPEAK_LANGUAGE.get(language, "en-us")
    texts = tts.sentences(code)
    variant = ("f" if gender == "f" else "m") + str(int(rng.integers(1, 5)))
    voice = tts.Voice("espeak-ng", f"{code}+{variant}", speed=float(rng.uniform(140, 180)))
    n = int(round(duration * sr))
    parts = [np.zeros(int(rng.uniform(0.05, 0.3) * sr), np.float32)]
    while sum(len(p) for p in parts) < n:
        y = np.asarray(tts.synthesize(texts[int(rng.integers(len(texts)))], voice, sr), np.float32)
        a, b = speech_bounds(y, sr)
        parts += [y[a:b], np.zeros(int(rng.uniform(0.1, 0.35) * sr), np.float32)]
    return _fit(np.concatenate(parts), n)


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    return y[:n] if len(y) >= n else np.pad(y, (0, n - len(y)))


def splice(x: np.ndarray, y: np.ndarray, start: int, end: int, sr: int, fade_s: float = 0.01) -> np.ndarray:
    """``x`` with samples [start, end) taken from ``y`` (same length), cross-faded over
    ``fade_s`` at both ends."""
    out = np.asarray(x, np.float32)
    h = max(1.0, fade_s * sr) / 2
    w = np.interp(np.arange(len(out)), [start - h, start + h, end - h, end + h], [0, 1, 1, 0]).astype(np.float32)
    return out * (1 - w) + np.asarray(y, np.float32) * w


def segment(n_frames: int, fps: float, rng: np.random.Generator, min_s: float = 0.5,
            max_s: float = 2.0) -> tuple[float, float]:
    """A random segment (start, end) in seconds for a temporally local fake, inside the
    clip and at least 0.2 s from its ends."""
    dur = n_frames / fps
    length = min(rng.uniform(min_s, max_s), dur - 0.4)
    start = rng.uniform(0.2, dur - 0.2 - length)
    return float(start), float(start + length)


# ------------------------------------------------------------------ face swap
def _points(face: Face) -> np.ndarray:
    return np.float32([face.eyes[0], face.eyes[1], face.mouth])


def _face_mask(face: Face, feather: float = 0.07) -> np.ndarray:
    """A feathered ellipse over the inner face (brows to chin, cheek to cheek)."""
    x, y, w, h = face.box
    (lx, ly), (rx, ry) = face.eyes
    mx, my = face.mouth
    cx, cy = (lx + rx) / 2, (ly + my) / 2 + 0.04 * h
    mask = np.zeros(face.image.shape[:2], np.float32)
    cv2.ellipse(mask, (int(round(cx)), int(round(cy))), (int(0.40 * w), int(0.50 * h)), 0, 0, 360, 1.0, -1)
    return cv2.GaussianBlur(mask, (0, 0), feather * w)


def _colour_match(src: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Match the mean and spread of ``src`` to ``ref`` in Lab inside ``mask`` (what the
    face-swap tools do before blending)."""
    m = mask > 0.5
    a = cv2.cvtColor(src, cv2.COLOR_RGB2LAB).astype(np.float32)
    b = cv2.cvtColor(ref, cv2.COLOR_RGB2LAB).astype(np.float32)
    for c in range(3):
        sa, sb = a[..., c][m], b[..., c][m]
        scale = sb.std() / sa.std() if sa.std() > 2.0 else 0.0
        a[..., c] = (a[..., c] - sa.mean()) * scale + sb.mean() if scale else a[..., c] - sa.mean() + sb.mean()
    return cv2.cvtColor(np.clip(a, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def face_swap_layer(target: Face, donor: Face, style: str, rng: np.random.Generator) -> FaceLayer:
    """``donor``'s face aligned (eyes and mouth) onto ``target``'s portrait and blended in
    with the artefacts of ``style`` (:data:`SWAP_STYLES`)."""
    if style not in SWAP_STYLES:
        raise ValueError(f"unknown face-swap style {style!r}; known: {', '.join(SWAP_STYLES)}")
    m, _ = cv2.estimateAffinePartial2D(_points(donor), _points(target))
    size = target.image.shape[1], target.image.shape[0]
    warped = cv2.warpAffine(donor.image, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mask = _face_mask(target)
    # the generators work on small face crops: donor detail is lost accordingly
    res = rng.uniform(0.35, 0.5) if style == "faceswap" else rng.uniform(0.6, 0.8)
    small = cv2.resize(warped, None, fx=res, fy=res, interpolation=cv2.INTER_AREA)
    warped = cv2.resize(small, size, interpolation=cv2.INTER_LINEAR)
    warped = _colour_match(warped, target.image, mask)
    if style == "faceswap":
        alpha = mask
        comp = warped
        jitter = rng.uniform(0.5, 0.9)
    else:
        binary = (mask > 0.5).astype(np.uint8) * 255
        ys, xs = np.nonzero(binary)
        centre = (int((xs.min() + xs.max() + 1) // 2), int((ys.min() + ys.max() + 1) // 2))
        comp = cv2.seamlessClone(warped, target.image, binary, centre, cv2.NORMAL_CLONE)
        alpha = cv2.GaussianBlur(cv2.dilate(mask, np.ones((7, 7), np.uint8)), (0, 0), 3)
        jitter = rng.uniform(0.25, 0.5)
    return FaceLayer(np.ascontiguousarray(comp), np.clip(alpha, 0, 1).astype(np.float32), jitter)


def pick_donor(target: str, candidates: Sequence[str], style: str, rng: np.random.Generator) -> str:
    """A donor face id for swapping into ``target``, drawn at random from ``candidates``
    among those whose swapped face, mouth closed and wide open, the Haar cascade still
    finds robustly (the face-swap tools' output is a face; a pair that blends into no
    detectable face is skipped). Falls back to a random candidate when no pair passes."""
    order = [candidates[i] for i in rng.permutation(len(candidates))]
    face = load_face(target)
    animator = Animator(face, Framing(PORTRAIT, PORTRAIT, FACE_PX))
    for donor in order:
        layer = face_swap_layer(face, load_face(donor), style, np.random.default_rng(0))
        if all(robustly_detectable(animator.portrait(opening, layer)) for opening in (0.0, 1.0)):
            return donor
    logger.warning("no donor gives a detectable %s swap onto %s; using %s", style, target, order[0])
    return order[0]
