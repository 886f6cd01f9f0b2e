"""Linear probe (LSE pooling, probe task through the generic trainer, early stopping),
the Gaussian anomaly proxy fitted on real frames only, and python -m avdf.bin.score_probe,
on synthetic frame features written as a data dir with feats.scp."""
from __future__ import annotations

import kaldiio
import numpy as np
import pytest
import torch
import yaml

from avdf.backend.anomaly import fit_gaussian, real_frames
from avdf.bin import fit_anomaly, score_probe
from avdf.bin import train as train_bin
from avdf.data.datadir import read_kv, utt2spk_to_spk2utt, write_kv
from avdf.metrics import auc
from avdf.metrics.scorefile import read_scores
from avdf.models.av.probe import GaussianProbe, LinearProbe, frame_mask, lse_pool
from avdf.tasks.probe import FeatsDataset


def test_lse_pool_between_mean_and_max():
    x = torch.tensor([[0.0, 1.0, 5.0, 99.0]])
    mask = torch.tensor([[True, True, True, False]])  # the 99 is padding
    soft = lse_pool(x, mask, r=1.0)
    assert x[0, :3].mean() < soft < 5.0
    torch.testing.assert_close(lse_pool(x, mask, r=1e-4), x[0, :3].mean()[None], atol=1e-3, rtol=0)
    torch.testing.assert_close(lse_pool(x, mask, r=100.0), torch.tensor([5.0]), atol=0.02, rtol=0)


@pytest.mark.parametrize("model", [LinearProbe(8), GaussianProbe(8), GaussianProbe(8, pooling="softmin")])
def test_padding_does_not_change_scores(model):
    torch.manual_seed(0)
    a, b = torch.randn(1, 5, 8), torch.randn(1, 9, 8)
    batch = torch.zeros(2, 9, 8)
    batch[0, :5], batch[1] = a[0], b[0]
    with torch.no_grad():
        va, fa = model(a, torch.tensor([5]))
        vb, _ = model(batch, torch.tensor([5, 9]))
        _, fb = model(batch, torch.tensor([5, 9]))
    torch.testing.assert_close(vb[0], va[0])
    torch.testing.assert_close(fb[0, :5], fa[0])
    assert (fb[0, 5:] == 0).all() and frame_mask(torch.tensor([2]), 4).tolist() == [[True, True, False, False]]


def write_feats(d, n_real, n_fake, seed, dim=6, fake_shift=1.5):
    """Videos of 20-60 frames; a fake has a stretch of 8 frames shifted along one direction."""
    rng = np.random.default_rng(seed)
    d.mkdir(parents=True)
    direction = np.ones(dim) / np.sqrt(dim)
    lab, spk = {}, {}
    with kaldiio.WriteHelper(f"ark,scp:{d}/feats.ark,{d}/feats.scp") as w:
        for i in range(n_real + n_fake):
            u = f"{seed}_{i:03d}"
            x = rng.standard_normal((rng.integers(20, 60), dim)).astype(np.float32) * 0.5 + 3.0
            fake = i >= n_real
            if fake:
                t = rng.integers(0, x.shape[0] - 8)
                x[t:t + 8] += fake_shift * direction.astype(np.float32) * 3
            w(u, x)
            lab[u], spk[u] = ("spoof" if fake else "bonafide"), f"s{i}"
    write_kv(d / "utt2label", lab)
    write_kv(d / "utt2spk", spk)
    write_kv(d / "spk2utt", utt2spk_to_spk2utt(spk))
    write_kv(d / "utt2frame_rate", {u: 25 for u in lab})


@pytest.fixture(scope="module")
def feats(tmp_path_factory):
    base = tmp_path_factory.mktemp("feats")
    write_feats(base / "train", 12, 36, seed=1)  # imbalanced as FakeAVCeleb: the loss is class-weighted
    write_feats(base / "valid", 8, 8, seed=2)
    write_feats(base / "test", 10, 10, seed=3)
    return base


def scores_auc(path, data):
    scores, _ = read_scores(path)
    lab = read_kv(data / "utt2label")
    real = [s for u, s in scores.items() if lab[u] == "bonafide"]
    fake = [s for u, s in scores.items() if lab[u] == "spoof"]
    return auc(np.array(real), np.array(fake))


def test_linear_probe_trains_selects_on_loss_and_scores(feats, tmp_path):
    conf = tmp_path / "probe.yaml"
    conf.write_text(yaml.safe_dump({
        "task": "probe", "seed": 0, "model": {"name": "linear_probe", "in_dim": None, "lse_r": 1.0},
        "data": {"batch_size": 8, "max_frames": 40}, "loss": {"balanced": True},
        "optim": {"name": "adam", "lr": 1e-3}, "train": {"epochs": 60, "patience": 3, "select_metric": "loss",
                                                          "log_interval": 0}}))
    exp = tmp_path / "exp"
    # a higher rate than the protocol's 1e-3 so that the test converges in few epochs
    assert train_bin.main(["--config", str(conf), "--exp_dir", str(exp), "--train_data", str(feats / "train"),
                           "--valid_data", str(feats / "valid"), "--cpu", "--optim.lr", "0.05"]) == 0
    history = (exp / "train_history.tsv").read_text().splitlines()
    assert len(history) - 1 < 60, "early stopping on the validation loss did not stop training"
    saved = yaml.safe_load((exp / "config.yaml").read_text())
    assert saved["model"]["in_dim"] == 6  # read from the data
    state = torch.load(exp / "model.pt", weights_only=True)["model"]
    assert not torch.allclose(state["norm.mean"], torch.zeros(6))  # standardised with training statistics
    out = exp / "scores" / "test.txt"
    assert score_probe.main(["--exp_dir", str(exp), "--data", str(feats / "test"), "--out", str(out),
                             "--frame_scores", "--cpu"]) == 0
    assert scores_auc(out, feats / "test") > 0.9
    lines = [ln.split() for ln in (exp / "scores" / "test.frames.txt").read_text().splitlines()]
    n = {u: kaldiio.load_mat(v).shape[0] for u, v in read_kv(feats / "test" / "feats.scp").items()}
    assert {u: sum(1 for x in lines if x[0] == u) for u in n} == n
    first = [x for x in lines if x[0] == lines[0][0]]
    assert [float(x[1]) for x in first[:3]] == [0.0, 0.04, 0.08]  # 25 frames a second


def test_anomaly_proxy_uses_real_videos_only(feats, tmp_path):
    ds = FeatsDataset(feats / "train")
    frames = real_frames(ds, max_frames=10_000)
    n_real_frames = sum(ds.load(u).shape[0] for u, f in zip(ds.utts, ds.fake) if not f)
    assert frames.shape == (n_real_frames, 6)
    assert real_frames(ds, max_frames=120).shape[0] <= 120
    model = GaussianProbe(6)
    info = fit_gaussian(model, frames)
    assert 0 <= info["shrinkage"] <= 1
    # precision_chol is a Cholesky factor of the inverse of the (shrunk) covariance
    z = (torch.from_numpy(frames).float() - model.norm.mean) / model.norm.std
    cov = np.cov(z.numpy().T)
    prec = (model.precision_chol @ model.precision_chol.T).numpy()
    assert np.allclose(prec @ cov, np.eye(6), atol=0.2)

    conf = tmp_path / "anomaly.yaml"
    conf.write_text(yaml.safe_dump({"task": "probe", "model": {"name": "gaussian_probe", "in_dim": None}}))
    exp = tmp_path / "exp"
    assert fit_anomaly.main(["--config", str(conf), "--train_data", str(feats / "train"), "--exp_dir", str(exp)]) == 0
    assert score_probe.main(["--exp_dir", str(exp), "--data", str(feats / "valid"), str(feats / "test"),
                             "--out_dir", str(exp / "scores"), "--cpu"]) == 0
    assert scores_auc(exp / "scores" / "test.txt", feats / "test") > 0.8
    assert scores_auc(exp / "scores" / "valid.txt", feats / "valid") > 0.8


def test_anomaly_needs_real_videos(tmp_path, capsys):
    write_feats(tmp_path / "fakes", 1, 5, seed=4)
    conf = tmp_path / "a.yaml"
    conf.write_text(yaml.safe_dump({"task": "probe", "model": {"name": "gaussian_probe", "in_dim": None}}))
    assert fit_anomaly.main(["--config", str(conf), "--train_data", str(tmp_path / "fakes"),
                             "--exp_dir", str(tmp_path / "e")]) == 1
    assert "at least 2 real videos" in capsys.readouterr().err
