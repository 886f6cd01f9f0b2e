"""Video decoding, face detection/tracking/cropping and stage 2 (avdf.bin.preprocess_av)."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import kaldiio
import numpy as np
import pytest

from avdf.bin import preprocess_av
from avdf.data.audio import AudioError
from avdf.data.datadir import read_kv, validate_data_dir
from avdf.data.video import (HaarDetector, NoFaceError, VideoError, build_detector, choose_track,
                             interpolate_track, iter_frames, load_frames, num_frames_of, preprocess_video,
                             probe_video)


def _face() -> np.ndarray:
    import skimage.data
    return cv2.resize(skimage.data.astronaut()[30:200, 140:300], (80, 85))


def write_face_video(path: Path, n: int = 30, fps: int = 25, size: tuple[int, int] = (120, 160),
                     audio: bool = True, face: bool = True, sr: int = 16000, codec: str = "libx264") -> Path:
    """An H.264 (+ AAC) mp4 of a real face (scikit-image's astronaut) moving sideways."""
    import av

    img_face = _face()
    with av.open(str(path), "w") as c:
        v = c.add_stream(codec, rate=fps)
        v.width, v.height, v.pix_fmt = size[1], size[0], "yuv420p"
        a = c.add_stream("aac", rate=sr) if audio else None
        if a is not None:
            a.layout = "mono"
        for i in range(n):
            img = np.full((*size, 3), 90, np.uint8)
            if face:
                x = 35 + int(15 * np.sin(i / 6))
                img[20:105, x:x + 80] = img_face
            for p in v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
        if a is not None:
            t = np.arange(int(n / fps * sr)) / sr
            wav = (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)[None]
            frame = av.AudioFrame.from_ndarray(wav, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = sr, 0
            for p in a.encode(frame):
                c.mux(p)
            for p in a.encode():
                c.mux(p)
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("videos")
    out = {"good": write_face_video(d / "good.mp4"),
           "good30": write_face_video(d / "good30.mp4", n=36, fps=30),
           "noaudio": write_face_video(d / "noaudio.mp4", audio=False),
           "noface": write_face_video(d / "noface.mp4", face=False)}
    data = out["good"].read_bytes()
    (d / "trunc.mp4").write_bytes(data[: len(data) // 2])
    (d / "corrupt.mp4").write_bytes(os.urandom(4000))
    (d / "empty.mp4").write_bytes(b"")
    out.update(trunc=d / "trunc.mp4", corrupt=d / "corrupt.mp4", empty=d / "empty.mp4", missing=d / "missing.mp4")
    return out


CONF = {"face_size": 48, "mouth_size": 24, "detect_every": 4, "smooth": 5}


def test_probe_and_decode(videos):
    info = probe_video(videos["good30"])
    assert (info.fps, info.width, info.height, info.has_audio, info.audio_rate) == (30.0, 160, 120, True, 16000)
    frames = list(iter_frames(videos["good30"]))
    assert len(frames) == 36 and frames[0].shape == (120, 160, 3) and frames[0].dtype == np.uint8
    # resampling the frame rate keeps the duration: 36 frames at 30 fps = 1.2 s
    assert len(list(iter_frames(videos["good30"], fps=25))) == 30
    assert len(list(iter_frames(videos["good30"], fps=60))) == 72
    assert len(list(iter_frames(videos["good30"], max_frames=10))) == 10
    assert not probe_video(videos["noaudio"]).has_audio


@pytest.mark.parametrize("name,match", [("corrupt", "corrupt or truncated"), ("trunc", "corrupt or truncated"),
                                        ("empty", "file is empty"), ("missing", "does not exist")])
def test_bad_files_name_file_and_reason(videos, name, match):
    with pytest.raises(VideoError, match=match) as e:
        preprocess_video(videos[name], CONF)
    assert str(videos[name]) in str(e.value)


def test_no_audio_and_no_face(videos):
    with pytest.raises(AudioError, match="no audio stream"):
        preprocess_video(videos["noaudio"], CONF)
    with pytest.raises(NoFaceError, match="no face detected"):
        preprocess_video(videos["noface"], CONF)


def test_tracking_interpolates_and_keeps_one_face():
    near, far = np.array([[10, 10, 20, 20, 1.0]]), np.array([[100, 100, 30, 30, 1.0]])
    dets = {0: np.concatenate([near, far]), 5: near + [2, 0, 0, 0, 0], 10: np.zeros((0, 5)),
            15: np.concatenate([near + [6, 0, 0, 0, 0], far])}
    track = choose_track(dets)
    # the largest face starts the track, and the track follows it, not the other face
    assert sorted(track) == [0, 15] and track[0][2] == 30 and track[15][0] == 100
    dets[0] = near
    track = choose_track(dets)
    assert sorted(track) == [0, 5, 15] and track[15][0] == 16  # the overlapping face, not the larger one
    boxes = interpolate_track(track, 16, smooth=1)
    assert boxes.shape == (16, 4)
    assert boxes[10, 0] == pytest.approx(24.0)  # centre x: halfway between 22 (frame 5) and 26 (frame 15)
    assert boxes[15, 0] == 26 and boxes[0, 0] == 20


def test_preprocess_crops_face_mouth_and_audio(videos):
    crops = preprocess_video(videos["good"], CONF)
    assert crops.faces.shape == (30, 48, 48, 3) and crops.faces.dtype == np.uint8
    assert crops.lips.shape == (30, 24, 24, 3)
    assert crops.fps == 25.0 and crops.face_ratio == 1.0
    assert len(crops.audio) == 30 / 25 * 16000 and crops.audio.dtype == np.float32
    # the face crop still holds the face the detector found: it is found again inside it
    big = cv2.resize(crops.faces[10], (160, 160))
    assert len(HaarDetector(min_size=40)(big)) >= 1
    # crops follow the moving face: the box centre moves with it
    assert np.ptp(crops.boxes[:, 0]) > 10
    resampled = preprocess_video(videos["good"], {**CONF, "fps": 30, "sample_rate": 8000, "max_frames": 20})
    assert resampled.faces.shape[0] == 20 and resampled.fps == 30 and len(resampled.audio) == round(20 / 30 * 8000)


def test_yunet_needs_a_model_path():
    with pytest.raises(VideoError, match="does not exist"):
        build_detector({"name": "yunet", "model_path": "/nonexistent/yunet.onnx"})
    with pytest.raises(ValueError, match="known: haar, yunet"):
        build_detector("mtcnn")


def test_load_frames_slices_npy_in_ark(tmp_path):
    faces = np.random.default_rng(0).integers(0, 255, (12, 8, 8, 3), dtype=np.uint8)
    wave = np.random.default_rng(1).standard_normal(1000).astype(np.float32)
    kaldiio.save_ark(str(tmp_path / "a.ark"), {"u1": faces, "u2": wave}, scp=str(tmp_path / "a.scp"),
                     write_function="numpy")
    scp = read_kv(tmp_path / "a.scp")
    assert np.array_equal(kaldiio.load_mat(scp["u1"]), faces)  # kaldiio round-trips uint8
    assert np.array_equal(load_frames(scp["u1"], 3, 7), faces[3:7])
    assert np.array_equal(load_frames(scp["u1"]), faces) and load_frames(scp["u1"]).dtype == np.uint8
    assert np.array_equal(load_frames(scp["u2"], 10, 20), wave[10:20])
    assert load_frames(scp["u1"], 10, 99).shape[0] == 2 and num_frames_of(scp["u1"]) == 12


def _data_dir(tmp_path: Path, videos: dict[str, Path], names: list[str]) -> Path:
    d = tmp_path / "data" / "x"
    d.mkdir(parents=True)
    (d / "video.scp").write_text("".join(f"{n} {videos[n]}\n" for n in sorted(names)))
    (d / "utt2label").write_text("".join(f"{n} bonafide\n" for n in sorted(names)))
    (d / "utt2spk").write_text("".join(f"{n} {n}\n" for n in sorted(names)))
    return d


def test_preprocess_av_jobs_merge_and_bad_utts(tmp_path, videos):
    names = ["corrupt", "good", "good30", "missing", "noaudio", "noface", "trunc"]
    data = _data_dir(tmp_path, videos, names)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("preprocess:\n  face_size: 32\n  mouth_size: 16\n  fps: 25\n")
    out = tmp_path / "dump"
    for job in (1, 2):
        assert preprocess_av.main(["--config", str(cfg), "--data", str(data), "--out_dir", str(out),
                                   "--nj", "2", "--job", str(job)]) == 0
    assert not list(out.glob(".*.tmp"))
    out_data = tmp_path / "data" / "p" / "x"
    assert preprocess_av.main(["--merge", "--data", str(data), "--out_dir", str(out), "--out_data", str(out_data),
                               "--nj", "2"]) == 0
    assert validate_data_dir(out_data) == ["good", "good30"]
    bad = read_kv(out_data / "bad_utts")
    assert sorted(bad) == ["corrupt", "missing", "noaudio", "noface", "trunc"]
    assert "no audio stream" in bad["noaudio"] and "no face" in bad["noface"] and "video.scp:4" in bad["missing"]
    faces = read_kv(out_data / "faces.scp")
    assert kaldiio.load_mat(faces["good30"]).shape == (30, 32, 32, 3)  # 36 frames at 30 fps -> 30 at 25
    assert read_kv(out_data / "utt2num_frames") == {"good": "30", "good30": "30"}
    assert read_kv(out_data / "utt2fps")["good30"] == "25"
    assert len(kaldiio.load_mat(read_kv(out_data / "audio.scp")["good"])) == 19200
    # a finished job is not redone; another config is
    mtime = (out / "faces.1.ark").stat().st_mtime_ns
    preprocess_av.main(["--config", str(cfg), "--data", str(data), "--out_dir", str(out), "--nj", "2", "--job", "1"])
    assert (out / "faces.1.ark").stat().st_mtime_ns == mtime


def test_failed_job_leaves_no_partial_ark(tmp_path, videos, monkeypatch):
    data = _data_dir(tmp_path, videos, ["good", "good30"])
    calls = []

    def crash_on_second(path, conf, detector=None):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return preprocess_video(path, conf, detector)

    monkeypatch.setattr(preprocess_av, "preprocess_video", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        preprocess_av.run_job({"face_size": 32, "mouth_size": 0}, data, tmp_path / "dump", 1, 1, True)
    assert sorted(p.name for p in (tmp_path / "dump").iterdir()) == []
    # without --skip_bad a bad video stops the job with the file and line
    data2 = _data_dir(tmp_path / "b", videos, ["good", "noface"])
    monkeypatch.undo()
    with pytest.raises(NoFaceError, match=r"video.scp:2: .*noface.mp4: no face"):
        preprocess_av.run_job({"face_size": 32}, data2, tmp_path / "dump2", 1, 1, False)
    assert not list((tmp_path / "dump2").glob("faces*"))
