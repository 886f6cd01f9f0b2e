"""Stage 4 helpers (avdf.bin.infer_av): robustness perturbations, job files and their merge."""
from __future__ import annotations

import numpy as np
import pytest

from avdf.bin import infer_av
from avdf.data.datadir import read_kv


def _frames(t=6, h=33, w=31):
    rng = np.random.default_rng(0)
    base = np.linspace(0, 255, h * w).reshape(h, w, 1).repeat(3, 2)
    return np.stack([np.clip(base + rng.normal(0, 3, base.shape) + 10 * i, 0, 255) for i in range(t)]).astype(np.uint8)


@pytest.mark.parametrize("kind", infer_av.PERTURBATIONS)
def test_perturbations_keep_shape_and_change_pixels(kind):
    frames = _frames()
    out = infer_av.perturb_frames(frames, kind, np.random.default_rng(0), fps=25)
    assert out.shape == frames.shape and out.dtype == np.uint8
    diff = np.abs(out.astype(int) - frames).mean()
    assert 0.2 < diff < 40, diff  # changed, but still the same picture
    with pytest.raises(ValueError, match="unknown perturbation"):
        infer_av.perturb_frames(frames, "blur", np.random.default_rng(0))


def test_perturbation_draws_are_seeded_per_video():
    a = [infer_av.video_rng(0, "abc").random() for _ in range(2)]
    assert a[0] == a[1] and infer_av.video_rng(1, "abc").random() != a[0]


def test_job_files_merge(tmp_path):
    out = tmp_path / "scores" / "test.txt"
    for job, rows in ((1, {"a": 0.25}), (2, {"b": 0.75, "c": 0.5})):
        part, chunks = infer_av._paths(out, job)
        infer_av.write_scores(part, chunks, rows, [(u, 0.0, s) for u, s in rows.items()])
    assert infer_av.main(["--merge", "--out", str(out), "--nj", "2"]) == 0
    assert read_kv(out) == {"a": "0.250000", "b": "0.750000", "c": "0.500000"}
    assert len((tmp_path / "scores" / "test.chunks.txt").read_text().splitlines()) == 3
    assert infer_av.main(["--merge", "--out", str(out), "--nj", "3"]) == 1  # job 3 never ran


class _SyncModel:
    """A stand-in detector: its real-vs-fake logit is 4 x the correlation of the per-frame
    brightness with the per-frame audio level, plus an appearance term (mean brightness):
    an in-sync dark face can then score below an out-of-sync bright one."""

    def __init__(self, chunk_frames):
        self.chunk_frames = chunk_frames

    def __call__(self, video, audio):
        import torch

        v = video.float().mean(dim=(2, 3, 4))                        # B x T
        a = audio.reshape(audio.shape[0], self.chunk_frames, -1).mean(-1)
        v0, a0 = v - v.mean(1, keepdim=True), a - a.mean(1, keepdim=True)
        corr = (v0 * a0).sum(1) / (v0.norm(dim=1) * a0.norm(dim=1) + 1e-9)
        real = 4 * corr + (v.mean(1) - 128) / 16
        return {"logit": -real}


def _av_data(tmp_path, chunk_frames=10, per_frame=8, audio_rms=None):
    """A preprocessed data dir of two 40-frame videos: a dark face in sync with its audio
    level and a bright one whose audio is another random sequence."""
    import kaldiio

    from avdf.data.datadir import write_kv
    from avdf.tasks.av import AVData

    tmp_path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    faces, audio = {}, {}
    for utt, level, sync in (("dark_real", 80, True), ("bright_fake", 176, False)):
        wave = rng.uniform(0, 1, 40)                                  # a level per frame
        faces[utt] = ((level + 40 * (wave - 0.5))[:, None, None, None] * np.ones((1, 4, 3, 3))).astype(np.uint8)
        audio[utt] = (wave if sync else rng.uniform(0, 1, 40)).repeat(per_frame).astype(np.float32)
    for name, arrays in (("faces", faces), ("audio", audio)):
        kaldiio.save_ark(str(tmp_path / f"{name}.ark"), arrays, scp=str(tmp_path / f"{name}.scp"),
                         write_function="numpy")
    write_kv(tmp_path / "utt2num_frames", {u: 40 for u in faces})
    write_kv(tmp_path / "utt2fps", {u: 15 for u in faces})
    write_kv(tmp_path / "utt2label", {"dark_real": "bonafide", "bright_fake": "spoof"})
    return AVData(tmp_path, "faces", chunk_frames, chunk_frames * per_frame, audio_rms)


def test_sync_contrast_cancels_the_appearance_offset(tmp_path):
    import torch

    data = _av_data(tmp_path)
    utts = ["bright_fake", "dark_real"]
    model = _SyncModel(data.chunk_frames)
    plain, rows = infer_av.score_videos(model, data, utts, torch.device("cpu"), 3, None, [], 0)
    assert plain["dark_real"] < plain["bright_fake"]          # the appearance term wins
    contrast, crows = infer_av.score_videos(model, data, utts, torch.device("cpu"), 3, None, [], 0,
                                            shifts=[3, 5])
    assert contrast["dark_real"] > 0.9 and abs(contrast["bright_fake"] - 0.5) < 0.3
    assert [r[:2] for r in crows] == [r[:2] for r in rows] and len(rows) == 8   # 4 chunks per video
    assert infer_av.parse_shifts("6,9") == [6, 9] and infer_av.parse_shifts(None) == []
    assert infer_av.parse_shifts([3]) == [3] and infer_av.parse_shifts("none") == []
    for bad in ("0", "-3", "six"):
        with pytest.raises(ValueError, match="sync contrast shifts"):
            infer_av.parse_shifts(bad)


class _LevelModel:
    """A stand-in detector whose real-vs-fake logit is the RMS of the chunk's audio."""

    def __call__(self, video, audio):
        return {"logit": -audio.pow(2).mean(1).sqrt()}


def test_scores_see_the_audio_as_training_did(tmp_path):
    import torch

    utts = ["bright_fake", "dark_real"]
    plain = _av_data(tmp_path / "plain")
    scaled = _av_data(tmp_path / "scaled", audio_rms=2.0)   # data.audio_rms: every file brought to RMS 2
    rows = {}
    for name, data in (("plain", plain), ("scaled", scaled)):
        rows[name] = infer_av.score_videos(_LevelModel(), data, utts, torch.device("cpu"), 4, None, [], 0)[1]
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    for (u, t, p), (u2, t2, q) in zip(rows["plain"], rows["scaled"]):
        assert (u, t) == (u2, t2) and logit(q) == pytest.approx(logit(p) * scaled.gain(u), rel=1e-4)
