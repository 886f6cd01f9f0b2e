"""H.264 encoding gives the same bytes for the same frames (avdf.data.video.reproducible_x264):
the mini corpora's clips (one seed, one corpus) and the h264 perturbation of infer_av."""
from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest

from avdf.bin.infer_av import h264_roundtrip
from avdf.data import video
from avdf.data.mini.faces import load_face
from avdf.data.mini.talking_head import Animator, Framing, random_motion, write_mp4

FPS = 25
EPYC = ("processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse sse2 pni ssse3 fma sse4_1 sse4_2 avx "
        "abm bmi1 avx2 bmi2 avx512f avx512dq avx512bw avx512vl\n\nprocessor\t: 1\nflags\t\t: fpu\n")


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    """A moving talking head (real texture and motion, as in the mini corpora), 2.4 s."""
    n = 60
    rng = np.random.default_rng(3)
    opening = np.clip(np.sin(np.arange(n) / 3.0), 0, 1).astype(np.float32)
    return Animator(load_face("astronaut"), Framing(224, 224, face_px=96)).render(
        opening, random_motion(n, FPS, rng), rng)


def test_asm_without_avx512_from_cpuinfo():
    asm = video.x264_asm_without_avx512(EPYC)
    assert asm == "MMX2,SSE,SSE2,SSE3,SSSE3,SSE4.1,SSE4.2,AVX,AVX2,FMA3,BMI1,BMI2,LZCNT"
    no512 = EPYC.replace(" avx512f avx512dq avx512bw avx512vl", "")
    assert video.x264_asm_without_avx512(no512) is None            # x264's own choice is kept
    assert video.x264_asm_without_avx512("") is None                # nothing known (not Linux, not x86)
    # only what the CPU has is named: x264 would use a named set without checking
    assert "AVX2" not in video.x264_asm_without_avx512(EPYC.replace(" avx2 ", " "))


def test_reproducible_x264_sets_options(monkeypatch):
    import av

    monkeypatch.setattr(video, "x264_asm_without_avx512", lambda: "SSE2,AVX2")
    with av.open(io.BytesIO(), "w", format="mp4") as out:
        s = out.add_stream("libx264", rate=FPS)
        video.reproducible_x264(s, {"crf": "30", "x264-params": "keyint=50"})
        assert dict(s.options) == {"crf": "30", "x264-params": "keyint=50:asm=SSE2,AVX2"}
        assert s.codec_context.thread_count == 1
    monkeypatch.setattr(video, "x264_asm_without_avx512", lambda: None)
    with av.open(io.BytesIO(), "w", format="mp4") as out:
        s = out.add_stream("libx264", rate=FPS)
        video.reproducible_x264(s)
        assert dict(s.options) == {} and s.codec_context.thread_count == 1


def test_write_mp4_gives_the_same_bytes(tmp_path, frames):
    """Eight encodes of one clip, with other allocations in between: one file. (Without the
    AVX-512 limit, x264 gave 5, 8 and 7 different files in three such runs on the AMD EPYC
    of 2026-12-03.)"""
    audio = np.zeros(int(len(frames) / FPS * 16000), np.float32)
    digests = set()
    keep = []
    for k in range(8):
        keep.append(np.ones(1000 + 37_000 * k, np.uint8))
        path = tmp_path / f"clip{k}.mp4"
        write_mp4(path, frames, FPS, audio, 16000)
        digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
    assert len(digests) == 1


def test_h264_perturbation_is_reproducible(frames):
    first = h264_roundtrip(frames, FPS)
    assert first.shape == frames.shape and not np.array_equal(first, frames)
    for _ in range(4):
        assert np.array_equal(h264_roundtrip(frames, FPS), first)
