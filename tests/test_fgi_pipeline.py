"""The FGI authors' data pipeline as options of the av task (conf/fgi.yaml): per-chunk min-max
audio scaling, every whole chunk per epoch, pseudo-fakes of every clip with the audio segment
drawn in samples, and the official scoring protocol of avdf.bin.infer_av."""
from __future__ import annotations

from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch

from avdf.data.datadir import write_kv
from avdf.data.pseudo_fakes import PseudoFaker
from avdf.tasks import build_task
from avdf.tasks.av import AVData, TrainChunks, complete_chunk_starts, minmax_audio
from avdf.utils.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def _data_dir(d: Path, lengths=(20, 37, 16), fps: float = 25.0, sr: int = 1000, size: int = 8) -> Path:
    """Video i: ``lengths[i]`` frames whose pixels hold t + 40 i, audio a noisy ramp; video 1
    is fake, the others real; video 2's audio stops 20 samples early."""
    rng = np.random.default_rng(0)
    d.mkdir(parents=True, exist_ok=True)
    faces, audio = {}, {}
    for i, n in enumerate(lengths):
        faces[f"v{i}"] = np.broadcast_to((np.arange(n) + 40 * i).astype(np.uint8)[:, None, None, None],
                                         (n, size, size, 3)).copy()
        samples = int(n / fps * sr) - (20 if i == 2 else 0)
        audio[f"v{i}"] = (0.3 * rng.standard_normal(samples) + np.linspace(0, 0.1, samples)).astype(np.float32)
    kaldiio.save_ark(str(d / "faces.ark"), faces, scp=str(d / "faces.scp"), write_function="numpy")
    kaldiio.save_ark(str(d / "audio.ark"), audio, scp=str(d / "audio.scp"), write_function="numpy")
    write_kv(d / "utt2num_frames", {u: len(v) for u, v in faces.items()})
    write_kv(d / "utt2fps", {u: fps for u in faces})
    write_kv(d / "utt2label", {"v0": "bonafide", "v1": "spoof", "v2": "bonafide"})
    return d


def test_minmax_audio_is_the_official_scaling():
    rng = np.random.default_rng(1)
    q = np.round(rng.standard_normal(4800) * 3000).clip(-32768, 32767).astype(np.int16)
    # the authors' loader on the int16 samples: min_max_normalize by int(min), int(max), then (x - 0.5) / 0.5
    ref = ((q - int(q.min())) / (int(q.max()) - int(q.min()) + 1e-8)).astype(float)
    ref = (torch.from_numpy(ref).float() - 0.5) / 0.5
    got = minmax_audio(q.astype(np.float32) / 32768)
    assert got.dtype == np.float32 and got.min() == -1 and abs(got.max() - 1) < 1e-6
    assert np.abs(got - ref.numpy()).max() < 1e-6
    assert np.all(minmax_audio(np.zeros(10, np.float32)) == -1)     # silence: all -1, as theirs


def test_audio_norm_scales_every_chunk(tmp_path):
    d = _data_dir(tmp_path / "d")
    plain = AVData(d, chunk_frames=8, audio_samples=320)
    scaled = AVData(d, chunk_frames=8, audio_samples=320, audio_norm="minmax")
    for start in (0, 5):
        (v1, a1), (v2, a2) = plain.chunk("v1", start), scaled.chunk("v1", start)
        assert np.array_equal(v1, v2) and np.allclose(a2, minmax_audio(a1), atol=1e-6)
        assert a2.min() == -1 and abs(a2.max() - 1) < 1e-6
        video, audio = scaled.whole("v1")                       # inference cuts whole arrays
        v3, a3 = scaled.cut(video, audio, start)
        assert np.array_equal(v3, v2) and np.array_equal(a3, a2)
    with pytest.raises(ValueError, match="audio_norm"):
        AVData(d, chunk_frames=8, audio_samples=320, audio_norm="peak")


def test_whole_chunks_with_whole_audio():
    assert complete_chunk_starts(65, 2 * 48000 + 100, 30, 48000) == [0, 30]
    assert complete_chunk_starts(65, 2 * 48000 - 1, 30, 48000) == [0]     # the second chunk's audio is short
    assert complete_chunk_starts(29, 48000, 30, 48000) == []


def test_train_chunks_every(tmp_path):
    data = AVData(_data_dir(tmp_path / "d"), chunk_frames=8, audio_samples=320)
    ds = TrainChunks(data, chunks_per_video=5, train_chunks="every")
    # v0: 20 frames -> 0, 8; v1: 37 -> 0, 8, 16, 24; v2: 16 frames but its audio 20 samples short -> 0
    assert ds.items == [("v0", 0), ("v0", 8), ("v1", 0), ("v1", 8), ("v1", 16), ("v1", 24), ("v2", 0)]
    assert len(ds) == 7
    firsts = [int(ds[i]["video"][0, 0, 0, 0]) for i in range(len(ds))]
    assert firsts == [0, 8, 40, 48, 56, 64, 80]
    # a pseudo-fake's other clip is another of the epoch's chunks
    np.random.seed(0)
    pf = TrainChunks(data, train_chunks="every", pseudo_fake={"prob": 1.0, "modalities": ["video"], "r_min": 1.0,
                                                              "apply_to": "all"})
    others = [int(pf[i]["video"][0, 0, 0, 0]) for i in range(len(pf)) for _ in range(3)]
    assert set(others) <= set(firsts) and all(o != f for o, f in zip(others, np.repeat(firsts, 3)))
    with pytest.raises(ValueError, match="real_fraction"):
        TrainChunks(data, train_chunks="every", real_fraction=0.5)
    with pytest.raises(ValueError, match="random or every"):
        TrainChunks(data, train_chunks="all")


def test_pseudo_fakes_of_every_clip(tmp_path):
    data = AVData(_data_dir(tmp_path / "d"), chunk_frames=8, audio_samples=320)
    pf = {"prob": 1.0, "modalities": ["video"], "r_min": 1.0}
    np.random.seed(0)
    real_only = TrainChunks(data, chunks_per_video=10, pseudo_fake=pf)
    fakes = [real_only[i] for i in range(1, 30, 3)]          # the fake video's items: left alone
    assert all(it["label"] == 1 and np.all(it["video"].numpy() // 40 == 1) for it in fakes)
    everything = TrainChunks(data, chunks_per_video=10, pseudo_fake={**pf, "apply_to": "all"})
    fakes = [everything[i] for i in range(1, 30, 3)]         # altered too (a fake stays fake)
    assert all(it["label"] == 1 and it["label_video"] == 1 for it in fakes)
    assert sum(not np.all(it["video"].numpy() // 40 == 1) for it in fakes) >= 3
    with pytest.raises(ValueError, match="apply_to"):
        TrainChunks(data, pseudo_fake={**pf, "apply_to": "fake"})


def test_audio_segment_in_samples():
    """audio_segment: samples draws the audio window in samples (any length from audio_l_min,
    any offset), for "both" apart from the video window; frames keeps one window of whole frames."""
    n, spf = 30, 1600
    video = np.zeros((n, 2, 2, 3), np.uint8)
    audio = np.zeros(n * spf, np.float32)
    other = (np.ones_like(video), np.ones_like(audio))
    rng = np.random.default_rng(0)
    official = PseudoFaker(prob=1.0, modalities=("both",), audio_segment="samples", audio_l_min=2)
    lengths, apart = [], 0
    for _ in range(300):
        v, a, info = official(video, audio, lambda: other, rng)
        changed = np.flatnonzero(a)
        assert changed[0] == info.audio_start and len(changed) == info.audio_length == changed[-1] - changed[0] + 1
        frames = np.flatnonzero(v[:, 0, 0, 0])
        assert frames[0] == info.start and len(frames) == info.length
        lengths.append(info.audio_length)
        apart += (info.audio_start, info.audio_length) != (info.start * spf, info.length * spf)
    assert min(lengths) < 3200 and max(lengths) > 40000 and sum(x % spf != 0 for x in lengths) > 250
    assert apart > 290
    shared = PseudoFaker(prob=1.0, modalities=("both",))
    for _ in range(50):
        v, a, info = shared(video, audio, lambda: other, rng)
        assert (info.audio_start, info.audio_length) == (info.start * spf, info.length * spf)
        assert np.array_equal(np.flatnonzero(a), np.arange(info.start * spf, (info.start + info.length) * spf))
    with pytest.raises(ValueError, match="audio_segment"):
        PseudoFaker(audio_segment="ms")


def test_paper_config_is_the_official_pipeline():
    cfg = load_config(ROOT / "egs/dfdc/av1/conf/fgi.yaml")
    d, m = cfg["data"], cfg["model"]
    assert d["audio_norm"] == "minmax" and d["train_chunks"] == "every"
    assert d["pseudo_fake"]["apply_to"] == "all" and d["pseudo_fake"]["audio_segment"] == "samples"
    assert (m["stem_time_kernel"], m["visual_final_relu"], m["visual_running_stats"]) == (1, False, False)
    assert cfg["optim"]["lr"] == 1e-4 and cfg["infer"]["protocol"] == "official"
    assert build_task(cfg, {}).dcfg["audio_norm"] == "minmax"


def test_official_protocol_scores_every_chunk(tmp_path):
    from avdf.bin import infer_av

    data = AVData(_data_dir(tmp_path / "d"), chunk_frames=8, audio_samples=320)

    class Model:
        def __call__(self, video, audio):
            return {"logit": video.float().mean(dim=(1, 2, 3, 4)) / 40 - 1}

    cpu = torch.device("cpu")
    scores, rows = infer_av.score_videos(Model(), data, data.utts, cpu, 3, None, [], 0, protocol="official")
    assert [(u, round(t * 25)) for u, t, _ in rows] == [("v0", 0), ("v0", 8), ("v1", 0), ("v1", 8), ("v1", 16),
                                                         ("v1", 24), ("v2", 0)]
    _, rows = infer_av.score_videos(Model(), data, data.utts, cpu, 3, None, [], 0)
    assert ("v2", 8) in [(u, round(t * 25)) for u, t, _ in rows]            # avdf pads v2's short audio
    with pytest.raises(ValueError, match="every chunk"):
        infer_av.score_videos(Model(), data, data.utts, cpu, 3, 2, [], 0, protocol="official")
    with pytest.raises(ValueError, match="protocol"):
        infer_av.score_videos(Model(), data, data.utts, cpu, 3, None, [], 0, protocol="paper")
