"""One audio-visual clip of a mini corpus, real or fake, from a picklable description.

A generator (``dfdc``, ``fakeavceleb``) describes every clip as a :class:`ClipSpec` and
renders them over worker processes with :func:`render_clip`. A fake shares its
original's ``base_key``: the same real utterances, head motion, blinks and framing are
re-derived from it, so a fake differs from its original only by its manipulations.

Manipulations (any combination; with ``segment`` they act only inside that time span,
the temporally local fakes):

- ``swap``: (donor face id, style) — another identity's face blended in (``faceswap`` or
  ``fsgan`` style, :func:`avdf.data.mini.avfakes.face_swap_layer`);
- ``mouth``: ``own`` (driven by the clip's real speech), ``other`` (driven by another
  real speech track than the one heard: lip-sync that does not match the audio), or
  ``audio`` (driven by the final, manipulated audio a little late and smoothed, as a
  lip-sync generator such as Wav2Lip renders it);
- ``lowres_mouth``: the lower face re-rendered at a third of the resolution (lip-sync);
- ``audio``: ``real``; ``swap`` (another real speaker's speech); ``revocode`` (the real
  speech through ``vocoder``); ``clone`` (rtvc-like: other utterances of ``other_voice``
  re-synthesised parametrically); ``tts`` (espeak-ng in the voice's language and gender).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from avdf.data.audio import resample
from avdf.data.mini import avfakes
from avdf.data.mini.common import job_rng
from avdf.data.mini.faces import load_face
from avdf.data.mini.speech import real_speakers
from avdf.data.mini.talking_head import Animator, Framing, mouth_opening, random_motion, write_mp4

WORK_SR = 16000            # audio is made at this rate, resampled to the container's at the end
MIN_UTT_S = 1.0            # utterances shorter than this are not used


@dataclass(frozen=True)
class Voice:
    """A real speaker and the utterances a clip may draw from (a disjoint share of them
    per split or identity)."""

    speaker: str
    files: tuple[str, ...]


@dataclass(frozen=True)
class ClipSpec:
    """Everything needed to render one clip (see the module docstring)."""

    path: str
    seed: int
    base_key: tuple
    key: tuple
    face: str
    voice: Voice
    duration: float
    fps: Fraction
    framing: Framing
    sample_rate: int
    swap: tuple[str, str] | None = None
    mouth: str = "own"
    lowres_mouth: bool = False
    audio: str = "real"
    vocoder: str = ""
    other_voice: Voice | None = None
    segment: tuple[float, float] | None = None
    crf: int = 23

    @property
    def n_frames(self) -> int:
        return int(round(self.duration * self.fps))


@dataclass
class ClipInfo:
    """What :func:`render_clip` used: real utterances heard or driving the mouth."""

    path: str
    speech: list[str] = field(default_factory=list)
    other_speech: list[str] = field(default_factory=list)


def speaker_language(speaker: str) -> tuple[str, str]:
    """(language, gender) of a real speaker; unknown genders count as male (the
    pocketsphinx test speakers are men)."""
    for s in real_speakers(MIN_UTT_S):
        if s.id == speaker:
            return s.language.split("+")[0], ("f" if s.gender == "f" else "m")
    raise KeyError(f"no real speaker {speaker!r}")


def single_thread() -> None:
    """One OpenCV and torch thread in this process. The generators parallelise over
    clips with forked workers; calling this in the parent before any OpenCV work also
    keeps OpenCV's thread pool from being forked in a locked state (a hang)."""
    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def _track(voice: Voice, duration: float, rng: np.random.Generator, used: list[str]) -> np.ndarray:
    x, files = avfakes.speech_track(voice.files, duration, WORK_SR, rng)
    used.extend(str(f) for f in files)
    return x


def render_clip(spec: ClipSpec) -> ClipInfo:
    """Render ``spec`` to ``spec.path`` (H.264 + AAC mp4) and say what went into it."""
    single_thread()
    info = ClipInfo(spec.path)
    n = spec.n_frames
    fps = float(spec.fps)
    base = job_rng(spec.seed, *spec.base_key)
    own = _track(spec.voice, spec.duration, base, info.speech)
    motion = random_motion(n, fps, base)
    render_rng = job_rng(spec.seed, *spec.key, "render")
    rng = job_rng(spec.seed, *spec.key)

    in_seg = np.ones(n, bool)
    a_start, a_end = 0, len(own)
    if spec.segment is not None:
        t0, t1 = spec.segment
        centres = (np.arange(n) + 0.5) / fps
        in_seg = (centres >= t0) & (centres < t1)
        a_start, a_end = int(t0 * WORK_SR), int(t1 * WORK_SR)

    # audio
    if spec.audio == "real":
        heard = own
    else:
        if spec.audio == "swap":
            alt = _track(spec.other_voice, spec.duration, rng, info.other_speech)
        elif spec.audio == "revocode":
            alt = avfakes.revocode(own, WORK_SR, spec.vocoder, rng)
        elif spec.audio == "clone":
            alt = avfakes.clone_voice(_track(spec.other_voice, spec.duration, rng, info.other_speech),
                                      WORK_SR, rng)
        elif spec.audio == "tts":
            lang, gender = speaker_language(spec.voice.speaker)
            alt = avfakes.synthetic_speech(lang, gender, spec.duration, WORK_SR, rng)
        else:
            raise ValueError(f"{spec.path}: unknown audio manipulation {spec.audio!r}")
        heard = avfakes.splice(own, alt, a_start, a_end, WORK_SR) if spec.segment is not None else alt

    # mouth
    opening = mouth_opening(own, WORK_SR, fps, n)
    if spec.mouth == "other":
        other = _track(spec.other_voice or spec.voice, spec.duration, rng, info.other_speech)
        opening = np.where(in_seg, mouth_opening(other, WORK_SR, fps, n), opening)
    elif spec.mouth == "audio":
        follow = mouth_opening(heard, WORK_SR, fps, n)
        lag = int(rng.integers(1, 3))
        follow = np.concatenate([np.full(lag, follow[0]), follow[:-lag]])
        follow = 0.85 * np.convolve(np.pad(follow, 2, mode="edge"), np.ones(5) / 5, mode="valid")
        opening = np.where(in_seg, follow, opening).astype(np.float32)
    elif spec.mouth != "own":
        raise ValueError(f"{spec.path}: unknown mouth driving {spec.mouth!r}")

    layer = None
    if spec.swap is not None:
        donor, style = spec.swap
        layer = avfakes.face_swap_layer(load_face(spec.face), load_face(donor), style, rng)
    frames = Animator(load_face(spec.face), spec.framing).render(
        opening, motion, render_rng, layer=layer, layer_on=in_seg if layer is not None else None,
        lowres_mouth=in_seg if spec.lowres_mouth else None)
    audio = resample(avfakes.finish_audio(heard, WORK_SR, rng), WORK_SR, spec.sample_rate)
    write_mp4(spec.path, frames, spec.fps, audio, spec.sample_rate, crf=spec.crf)
    return info
