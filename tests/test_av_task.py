"""The av task (avdf.tasks.av): chunks, labels, training-time fakes, validation metrics."""
from __future__ import annotations

from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch

from avdf.data.datadir import DataDirError, write_kv
from avdf.tasks import build_task
from avdf.tasks.av import AVData, EvalChunks, TrainChunks, av_loss, chunk_starts


def make_av_data(d: Path, n_videos: int = 6, frames: int = 20, fps: float = 25.0, sr: int = 1000,
                 size: int = 16, seed: int = 0) -> Path:
    """A preprocessed data dir: frame t of video i holds t + 40 i in every pixel, and its
    audio sample k the frame it plays with (k * fps / sr + 40 i); even videos are real, odd
    ones fake."""
    rng = np.random.default_rng(seed)
    d.mkdir(parents=True, exist_ok=True)
    faces, audio = {}, {}
    for i in range(n_videos):
        n = frames + int(rng.integers(0, 10))
        faces[f"v{i}"] = np.broadcast_to((np.arange(n) + 40 * i).astype(np.uint8)[:, None, None, None],
                                         (n, size, size, 3)).copy()
        audio[f"v{i}"] = (np.arange(int(n / fps * sr)) * fps / sr + 40 * i).astype(np.float32)
    kaldiio.save_ark(str(d / "faces.ark"), faces, scp=str(d / "faces.scp"), write_function="numpy")
    kaldiio.save_ark(str(d / "audio.ark"), audio, scp=str(d / "audio.scp"), write_function="numpy")
    write_kv(d / "utt2num_frames", {u: len(v) for u, v in faces.items()})
    write_kv(d / "utt2fps", {u: fps for u in faces})
    write_kv(d / "utt2label", {f"v{i}": "spoof" if i % 2 else "bonafide" for i in range(n_videos)})
    return d


def test_chunks_pair_frames_with_their_audio(tmp_path):
    data = AVData(make_av_data(tmp_path / "d"), chunk_frames=8, audio_samples=320)  # 8 frames at 25 fps = 0.32 s
    for start in (0, 5, 12):
        video, audio = data.chunk("v0", start)
        assert video.shape == (8, 16, 16, 3) and list(video[:, 0, 0, 0]) == list(range(start, start + 8))
        assert audio.shape == (320,) and np.floor(audio[0] + 1e-4) == start and np.floor(audio[-1]) == start + 7
    n = data.frames["v0"]
    video, audio = data.chunk("v0", n - 3)  # past the end: last frame repeated, audio zero-padded
    assert list(video[:, 0, 0, 0]) == [n - 3, n - 2, n - 1] + [n - 1] * 5 and audio[-1] == 0
    assert chunk_starts(20, 8) == [0, 8] and chunk_starts(5, 8) == [0] and chunk_starts(100, 8, 3) == [0, 48, 88]
    assert chunk_starts(20, 8, hop=4) == [0, 4, 8, 12] and chunk_starts(5, 8, hop=2) == [0]
    assert chunk_starts(20, 8, 2, hop=4) == [0, 12]
    with pytest.raises(ValueError, match="hop"):
        chunk_starts(20, 8, hop=0)
    keys = [EvalChunks(data)[i]["key"] for i in range(3)]
    assert keys[0] == "v0@0" and keys[1] == "v0@8"


def test_audio_rms_scales_each_video(tmp_path):
    d = make_av_data(tmp_path / "d")
    plain = AVData(d, chunk_frames=8, audio_samples=320)
    scaled = build_task({"task": "av", "data": {"chunk_frames": 8, "audio_samples": 320, "audio_rms": 0.05}},
                        {}).av_data(d)
    for utt in ("v0", "v3"):
        whole = kaldiio.load_scp(str(d / "audio.scp"))[utt].astype(np.float64)
        gain = 0.05 / np.sqrt(np.mean(whole ** 2))
        assert scaled.gain(utt) == pytest.approx(gain)
        (v1, a1), (v2, a2) = plain.chunk(utt, 4), scaled.chunk(utt, 4)
        assert np.array_equal(v1, v2) and np.allclose(a2, a1 * gain, rtol=1e-5)
        # every chunk of the video gets the same factor: the file, not the chunk, is brought to the RMS
        assert np.allclose(scaled.chunk(utt, 0)[1], plain.chunk(utt, 0)[1] * gain, rtol=1e-5)
        # inference reads whole videos (avdf.bin.infer_av): scaled by the same factor
        (w1, b1), (w2, b2) = plain.whole(utt), scaled.whole(utt)
        assert np.array_equal(w1, w2) and np.allclose(b1, whole, rtol=1e-5) and np.allclose(b2, whole * gain, rtol=1e-5)
    with pytest.raises(ValueError, match="audio_rms must be a positive"):
        AVData(d, chunk_frames=8, audio_samples=320, audio_rms=0)


def test_rate_mismatch_is_an_error(tmp_path):
    d = make_av_data(tmp_path / "d")
    with pytest.raises(DataDirError, match="set preprocess.fps and preprocess.sample_rate"):
        AVData(d, chunk_frames=8, audio_samples=640)  # would need 2000 Hz audio


def test_training_fakes_and_labels(tmp_path):
    data = AVData(make_av_data(tmp_path / "d"), chunk_frames=8, audio_samples=320)
    np.random.seed(0)
    ds = TrainChunks(data, chunks_per_video=3, pseudo_fake={"prob": 1.0, "modalities": ["audio"]})
    assert len(ds) == 18
    items = [ds[i] for i in range(len(ds))]
    assert all(it["label"] == 1 for it in items)
    real = [it for it in items if it["key"] in ("v0", "v2", "v4")]
    fake = [it for it in items if it["key"] not in ("v0", "v2", "v4")]
    # pseudo-fakes are made from real clips: only their audio was replaced
    assert all(it["label_audio"] == 1 and it["label_video"] == 0 for it in real)
    assert all(it["label_audio"] == 0 and it["label_video"] == 1 for it in fake)
    balanced = TrainChunks(data, chunks_per_video=50, real_fraction=0.8)
    share = np.mean([float(balanced[i]["label"]) == 0 for i in range(len(balanced))])
    assert 0.72 < share < 0.88
    plain = TrainChunks(data)
    assert [float(plain[i]["label"]) for i in range(6)] == [0, 1, 0, 1, 0, 1]
    voc = TrainChunks(data, audio_fakes={"prob": 1.0, "vocoders": ["griffin_lim"],
                                         "params": {"griffin_lim": {"n_mels": 8, "n_iter": 2}}}, sample_rate=1000)
    it = voc[0]
    assert it["label"] == 1 and it["label_audio"] == 1 and it["label_video"] == 0 and it["audio"].shape == (320,)
    # self-blended segments make real videos video-fake; fake videos keep their labels
    np.random.seed(1)
    blend = TrainChunks(data, chunks_per_video=2, self_blend={"prob": 1.0, "scale": [2, 2]})
    for i in range(len(blend)):
        it = blend[i]
        assert it["label"] == 1 and it["label_video"] == 1 and it["label_audio"] == 0
    untouched = TrainChunks(data, self_blend={"prob": 0.0})
    assert untouched.blender is None and [float(untouched[i]["label"]) for i in range(6)] == [0, 1, 0, 1, 0, 1]


def test_loss_heads_and_validation_metrics(tmp_path):
    batch = {"label": torch.tensor([0.0, 1.0]), "label_video": torch.tensor([0.0, 0.0]),
             "label_audio": torch.tensor([0.0, 1.0])}
    heads = {"video": torch.tensor([-9.0, -9.0]), "audio": torch.tensor([-9.0, 9.0]), "sync": torch.tensor([-9.0, 9.0])}
    assert av_loss({"logit": heads["sync"], "heads": heads}, batch, torch.device("cpu")) < 1e-3
    assert av_loss({"logit": heads["video"]}, batch, torch.device("cpu")) > 4  # overall label: the second is fake
    cfg = {"task": "av", "data": {"chunk_frames": 8, "audio_samples": 320}, "train": {"select_metric": "loss"},
           "model": {"name": "fgi", "num_frames": 8, "audio_samples": 320}}
    task = build_task(cfg, {})
    assert (task.select_metric, task.select_mode) == ("loss", "min")
    out = [("a@0", 0.9, 0.0, 0.1), ("a@8", 0.7, 0.0, 0.3), ("b@0", 0.2, 1.0, 0.2), ("c@0", 0.85, 1.0, 2.0)]
    m = task.validation_metrics(out)
    assert m["auc"] == pytest.approx(0.5) and m["loss"] == pytest.approx(0.65) and m["videos"] == 3
    with pytest.raises(ValueError, match="must agree"):
        build_task({**cfg, "model": {"name": "fgi", "num_frames": 30}}, {})


def test_pseudo_fakes_from_the_same_video(tmp_path):
    data = AVData(make_av_data(tmp_path / "d", n_videos=4, frames=30), chunk_frames=8, audio_samples=320)
    np.random.seed(1)
    ds = TrainChunks(data, pseudo_fake={"prob": 1.0, "modalities": ["audio"], "r_min": 1.0, "source": "same_video"})
    for i in (0, 2):  # the real videos
        it = ds[i]
        frames = it["video"][:, 0, 0, 0].numpy().astype(int)
        heard = np.floor(it["audio"].numpy()[::40] + 1e-4).astype(int)  # the frame each audio sample plays with
        assert it["label"] == 1 and np.all(np.abs(heard - frames) >= 4)  # another time span ...
        assert np.all(heard // 40 == i)  # ... of the same video
    with pytest.raises(ValueError, match="source"):
        TrainChunks(data, pseudo_fake={"prob": 1.0, "source": "elsewhere"})


def test_sync_warmup_draws_real_videos_and_pseudo_fakes_only(tmp_path):
    data = AVData(make_av_data(tmp_path / "d", n_videos=6, frames=30), chunk_frames=8, audio_samples=320)
    kwargs = dict(chunks_per_video=20, pseudo_fake={"prob": 0.5, "modalities": ["audio"], "source": "same_video"},
                  real_fraction=0.5, self_blend={"prob": 1.0, "scale": [2, 2]}, sync_warmup=3)
    ds = TrainChunks(data, **kwargs)
    np.random.seed(0)
    for epoch in (1, 3):
        ds.set_epoch(epoch)
        items = [ds[i] for i in range(len(ds))]
        videos = {int(it["video"][0, 0, 0, 0]) // 40 for it in items}
        assert videos <= {0, 2, 4}                               # real videos only ...
        assert all(it["label_video"] == 0 for it in items)       # ... no self-blend ...
        fakes = sum(float(it["label"]) for it in items)
        assert 0.35 * len(items) < fakes < 0.65 * len(items)     # ... and half of them pseudo-fakes
    ds.set_epoch(4)                                              # after the warm-up: everything
    items = [ds[i] for i in range(len(ds))]
    assert {int(it["video"][0, 0, 0, 0]) // 40 for it in items} & {1, 3, 5}
    assert any(it["label_video"] == 1 for it in items)
    with pytest.raises(ValueError, match="sync_warmup"):
        TrainChunks(data, sync_warmup=2)                         # no pseudo-fakes to warm up with


def test_augment_keeps_chunks_and_labels(tmp_path):
    """``data.augment`` changes the chunk the fakes made, not which chunk or label it is."""
    d = make_av_data(tmp_path / "d", n_videos=4, frames=30)
    conf = {"task": "av", "data": {"chunk_frames": 8, "audio_samples": 320, "chunks_per_video": 2,
                                   "pseudo_fake": {"prob": 0.5, "modalities": ["audio"]}}}
    plain = build_task(conf, {"train": str(d)}).train_dataset()
    conf["data"]["augment"] = {"flip": 1.0, "gain_db": 6.0}
    augmented = build_task(conf, {"train": str(d)}).train_dataset()
    for i in range(len(plain)):
        np.random.seed(i)
        a = plain[i]
        np.random.seed(i)
        b = augmented[i]
        assert a["key"] == b["key"] and all(a[k] == b[k] for k in ("label", "label_video", "label_audio"))
        assert torch.equal(b["video"], a["video"].flip(2))
        gain = (b["audio"] / a["audio"])[a["audio"].abs() > 1e-3]
        assert torch.allclose(gain, gain[0]) and 10 ** (-6 / 20) - 1e-6 <= gain[0] <= 10 ** (6 / 20) + 1e-6
    with pytest.raises(ValueError, match="data.augment: unknown keys"):
        build_task({"task": "av", "data": {"augment": {"rotate": 1}}}, {"train": str(d)}).train_dataset()
