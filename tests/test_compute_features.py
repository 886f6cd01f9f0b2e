"""compute_features: job slices, ark/scp output, merge, bad audio, no partial ark."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from avdf import features
from avdf.bin import compute_features as cf
from avdf.data.datadir import read_kv, write_kv

ROOT = Path(__file__).resolve().parents[1]


class FrameEnergy(torch.nn.Module):
    """Log energy of 25 ms frames every 10 ms: enough to check the plumbing."""
    sample_rate = 16000

    def __init__(self, win: int = 400, hop: int = 160):
        super().__init__()
        self.win, self.hop = win, hop

    def forward(self, wave):
        frames = wave.unfold(-1, self.win, self.hop)
        return torch.log(frames.pow(2).mean(-1, keepdim=True) + 1e-10)


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setitem(features.FEATURES, "frame_energy", "tests.test_compute_features:FrameEnergy")
    rng = np.random.default_rng(0)
    wav = {}
    for i in range(7):
        p = tmp_path / f"u{i}.flac"
        sf.write(p, rng.normal(scale=0.1, size=1600 + 160 * i).astype(np.float32), 16000)
        wav[f"utt{i}"] = str(p)
    d = tmp_path / "data"
    write_kv(d / "wav.scp", wav)
    conf = tmp_path / "c.yaml"
    conf.write_text(yaml.safe_dump({"frontend": {"name": "frame_energy"}}))
    return d, conf


def test_job_slice_covers_everything_once():
    keys = [f"k{i}" for i in range(10)]
    parts = [cf.job_slice(keys, 3, j) for j in (1, 2, 3)]
    assert sum(parts, []) == keys
    with pytest.raises(ValueError):
        cf.job_slice(keys, 3, 4)


def test_jobs_and_merge(data, tmp_path):
    d, conf = data
    out = tmp_path / "dump"
    for j in (1, 2, 3):
        assert cf.main(["--config", str(conf), "--data", str(d), "--out_dir", str(out), "--nj", "3", "--job", str(j)]) == 0
    assert cf.main(["--merge", "--data", str(d), "--out_dir", str(out), "--nj", "3"]) == 0
    feats = read_kv(d / "feats.scp")
    assert list(feats) == [f"utt{i}" for i in range(7)]
    n = read_kv(d / "utt2num_frames")
    for utt in feats:
        m = kaldiio.load_mat(feats[utt])
        assert m.shape == (int(n[utt]), 1)
    assert int(n["utt6"]) == (1600 + 960 - 400) // 160 + 1
    assert not list(out.glob(".*tmp*"))


def test_bad_audio_stops_or_is_skipped(data, tmp_path, capsys):
    d, conf = data
    wav = read_kv(d / "wav.scp")
    Path(wav["utt3"]).write_bytes(b"not audio")
    out = tmp_path / "dump"
    args = ["--config", str(conf), "--data", str(d), "--out_dir", str(out), "--nj", "1", "--job", "1"]
    assert cf.main(args) == 1
    err = capsys.readouterr().err
    assert "wav.scp:4" in err and "utt3" not in err.split("wav.scp:4")[0] and "cannot decode" in err
    assert not (out / "feats.1.ark").exists() and not (out / "feats.1.scp").exists()
    assert cf.main(args + ["--skip_bad", "true"]) == 0
    assert cf.main(["--merge", "--data", str(d), "--out_dir", str(out), "--nj", "1"]) == 0
    assert "utt3" in read_kv(d / "bad_utts") and "utt3" not in read_kv(d / "feats.scp")


def test_merge_names_a_missing_job(data, tmp_path, capsys):
    d, conf = data
    out = tmp_path / "dump"
    cf.main(["--config", str(conf), "--data", str(d), "--out_dir", str(out), "--nj", "2", "--job", "1"])
    assert cf.main(["--merge", "--data", str(d), "--out_dir", str(out), "--nj", "2"]) == 1
    assert "job 2 of 2" in capsys.readouterr().err
