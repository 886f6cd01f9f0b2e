"""GMM countermeasure: the score against a numpy reference, and train_gmm -> infer_cm end to end."""
from __future__ import annotations

from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch
from scipy.special import logsumexp

from avdf.backend.gmm import GMM
from avdf.bin import infer_cm, train_gmm
from avdf.data.datadir import read_kv, write_kv
from avdf.metrics import eer
from avdf.models.cm.gmm_cm import GmmCM
from avdf.utils.config import save_config


def _numpy_llk(x, w, mu, var):
    """log sum_c w_c N(x; mu_c, diag(var_c)) for every row of x."""
    d = x.shape[1]
    comp = (np.log(w)[None] - 0.5 * (d * np.log(2 * np.pi) + np.log(var).sum(1))[None]
            - 0.5 * (((x[:, None, :] - mu[None]) ** 2) / var[None]).sum(-1))
    return logsumexp(comp, axis=1)


def test_score_is_mean_frame_llr():
    rng = np.random.default_rng(0)
    model = GmmCM(n_components=3, feat_dim=4)
    params = {}
    for cls in GmmCM.CLASSES:
        w = rng.dirichlet(np.ones(3))
        mu, var = rng.normal(size=(3, 4)), rng.uniform(0.5, 2, size=(3, 4))
        params[cls] = (w, mu, var)
        model.set_gmm(cls, GMM(*(torch.tensor(a, dtype=torch.float32) for a in (w, mu, var))))
    x = rng.normal(size=(2, 7, 4))
    ref = [np.mean(_numpy_llk(u, *params["bonafide"]) - _numpy_llk(u, *params["spoof"])) for u in x]
    np.testing.assert_allclose(model(torch.tensor(x, dtype=torch.float32)).numpy(), ref, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="diagonal 3 x 4"):
        model.set_gmm("spoof", GMM(torch.ones(2) / 2, torch.zeros(2, 4), torch.ones(2, 4)))


def _feats_dir(d: Path, rng, n=12, frames=40):
    """Bona fide frames around +1, spoof around -1 (in the first dimension)."""
    feats, labels = {}, {}
    for i in range(n):
        lab = "bonafide" if i % 2 else "spoof"
        x = rng.normal(size=(frames + i, 3)).astype(np.float32)
        x[:, 0] += 1.0 if lab == "bonafide" else -1.0
        feats[f"u{i:02d}"], labels[f"u{i:02d}"] = x, lab
    d.mkdir(parents=True)
    with kaldiio.WriteHelper(f"ark,scp:{d}/feats.ark,{d}/feats.scp") as w:
        for k in sorted(feats):
            w(k, feats[k])
    write_kv(d / "utt2label", labels)
    return labels


def test_train_gmm_then_infer(tmp_path):
    rng = np.random.default_rng(1)
    _feats_dir(tmp_path / "train", rng)
    labels = _feats_dir(tmp_path / "test", rng)
    conf = tmp_path / "gmm.yaml"
    save_config({"task": "cm", "model": {"name": "lfcc_gmm", "n_components": 4, "feat_dim": 3},
                 "data": {"input": "feats", "eval_crop": None, "valid_batch_size": 1},
                 "gmm": {"n_iter": 5, "kmeans_iter": 2, "init_frames": 1000}}, conf)
    exp = tmp_path / "exp"
    assert train_gmm.main(["--config", str(conf), "--exp_dir", str(exp), "--train_data", str(tmp_path / "train"),
                           "--cpu"]) == 0
    assert (exp / "model.pt").is_file() and (exp / "gmm_spoof.pt").is_file()
    out = tmp_path / "scores.txt"
    assert infer_cm.main(["--exp_dir", str(exp), "--data", str(tmp_path / "test"), "--out", str(out), "--cpu"]) == 0
    scores = {k: float(v) for k, v in read_kv(out).items()}
    bona = [s for k, s in scores.items() if labels[k] == "bonafide"]
    spoof = [s for k, s in scores.items() if labels[k] == "spoof"]
    assert eer(np.array(bona), np.array(spoof))[0] == 0.0
    # a re-run reuses the per-class GMMs and gives the same model
    before = torch.load(exp / "model.pt", weights_only=True)["model"]
    assert train_gmm.main(["--config", str(conf), "--exp_dir", str(exp), "--train_data", str(tmp_path / "train"),
                           "--cpu"]) == 0
    after = torch.load(exp / "model.pt", weights_only=True)["model"]
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_train_gmm_needs_features(tmp_path, capsys):
    (tmp_path / "d").mkdir()
    conf = tmp_path / "gmm.yaml"
    save_config({"task": "cm", "model": {"name": "lfcc_gmm", "n_components": 2, "feat_dim": 3}}, conf)
    assert train_gmm.main(["--config", str(conf), "--exp_dir", str(tmp_path / "e"), "--train_data",
                           str(tmp_path / "d"), "--cpu"]) == 1
    assert "feats.scp: missing" in capsys.readouterr().err
