"""train_gmm's ``sklearn`` recipe (the ASVspoof 2021 Python GMM baselines' training) against
scikit-learn's own ``GaussianMixture.fit`` with the same seed and settings on the same frames
(scikit-learn is the tool the baselines train with), and the scores against its ``score``."""
from __future__ import annotations

from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture

from avdf.backend.gmm import GMM
from avdf.bin import infer_cm, train_gmm
from avdf.data.datadir import read_kv, write_kv
from avdf.utils.config import load_config, save_config

CONF = Path(__file__).resolve().parents[1] / "egs" / "asvspoof2019_la" / "cm1" / "conf"


def _feats_dir(d: Path, rng, n=40, dim=4) -> dict[str, np.ndarray]:
    """Utterances of 30-70 frames from a few clusters, bona fide and spoof shifted apart."""
    feats, labels = {}, {}
    centres = rng.normal(scale=3.0, size=(6, dim))
    for i in range(n):
        lab = "bonafide" if i % 3 == 0 else "spoof"
        k = rng.integers(0, 6, size=30 + int(rng.integers(0, 40)))
        x = centres[k] + rng.normal(scale=0.5 + 0.1 * (k[:, None] % 3), size=(len(k), dim))
        x[:, 0] += 1.5 if lab == "bonafide" else -1.5
        utt = f"LA_T_{1000000 + (i * 7919) % 9000000:07d}"
        feats[utt], labels[utt] = x.astype(np.float32), lab
    d.mkdir(parents=True)
    with kaldiio.WriteHelper(f"ark,scp:{d}/feats.ark,{d}/feats.scp") as w:
        for k in sorted(feats):
            w(k, feats[k])
    write_kv(d / "utt2label", labels)
    return {"feats": feats, "labels": labels}


def _reference(corpus, order: list[str], cls: str, step: int, **kw) -> GaussianMixture:
    chosen = [u for u in order if corpus["labels"][u] == cls][::step]
    x = np.concatenate([corpus["feats"][u] for u in chosen]).astype(np.float64)
    return GaussianMixture(covariance_type="diag", init_params="kmeans", **kw).fit(x)


def _assert_same(gmm: GMM, ref: GaussianMixture) -> None:
    for ours, theirs in ((gmm.weights, ref.weights_), (gmm.means, ref.means_), (gmm.covars, ref.covariances_)):
        np.testing.assert_allclose(ours.double().numpy(), theirs, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("n_iter,tol", [(10, 1e-3), (3, 0.0)])  # stops on tol / runs every iteration
def test_sklearn_recipe_equals_sklearn_fit(tmp_path, n_iter, tol):
    rng = np.random.default_rng(3)
    corpus = _feats_dir(tmp_path / "train", rng)
    conf = tmp_path / "gmm.yaml"
    save_config({"task": "cm", "model": {"name": "gmm", "n_components": 5, "feat_dim": 4},
                 "data": {"input": "feats", "eval_crop": None, "valid_batch_size": 1},
                 "gmm": {"recipe": "sklearn", "file_step": 3, "n_iter": n_iter, "tol": tol, "reg_covar": 1e-6,
                         "seed": 11, "batch_size": 97}}, conf)
    exp = tmp_path / "exp"
    assert train_gmm.main(["--config", str(conf), "--exp_dir", str(exp), "--train_data", str(tmp_path / "train"),
                           "--cpu"]) == 0
    refs = {}
    for cls in ("bonafide", "spoof"):
        refs[cls] = _reference(corpus, sorted(corpus["feats"]), cls, 3, n_components=5, max_iter=n_iter, tol=tol,
                               reg_covar=1e-6, random_state=11)
        assert refs[cls].n_iter_ < n_iter if tol else refs[cls].n_iter_ == n_iter  # both stopping rules seen
        _assert_same(GMM.load(exp / f"gmm_{cls}.pt"), refs[cls])
    # scored as the baselines score: gmm_bona.score(x) - gmm_spoof.score(x), per utterance
    out = tmp_path / "scores.txt"
    assert infer_cm.main(["--exp_dir", str(exp), "--data", str(tmp_path / "train"), "--out", str(out), "--cpu"]) == 0
    scores = {k: float(v) for k, v in read_kv(out).items()}
    for utt, x in corpus["feats"].items():
        x = x.astype(np.float64)
        assert scores[utt] == pytest.approx(refs["bonafide"].score(x) - refs["spoof"].score(x), abs=2e-6)


def test_utt_order_picks_every_nth_file_in_the_protocol_order(tmp_path):
    rng = np.random.default_rng(4)
    corpus = _feats_dir(tmp_path / "train", rng)
    order = list(corpus["feats"])
    rng.shuffle(order)
    protocol = tmp_path / "ASVspoof2019.LA.cm.train.trn.txt"  # SPEAKER UTT - ATTACK KEY, as the real one
    protocol.write_text("".join(f"LA_0079 {u} - {'-' if corpus['labels'][u] == 'bonafide' else 'A01'} "
                                f"{corpus['labels'][u]}\n" for u in order))
    conf = tmp_path / "gmm.yaml"
    save_config({"task": "cm", "model": {"name": "gmm", "n_components": 3, "feat_dim": 4},
                 "gmm": {"recipe": "sklearn", "file_step": 4, "n_iter": 4, "seed": 2}}, conf)
    exp = tmp_path / "exp"
    assert train_gmm.main(["--config", str(conf), "--exp_dir", str(exp), "--train_data", str(tmp_path / "train"),
                           "--cpu", "--gmm.utt_order", str(protocol)]) == 0
    for cls in ("bonafide", "spoof"):
        ref = _reference(corpus, order, cls, 4, n_components=3, max_iter=4, random_state=2)
        _assert_same(GMM.load(exp / f"gmm_{cls}.pt"), ref)


def test_rerun_with_other_gmm_settings_refuses_the_old_gmms(tmp_path, capsys):
    rng = np.random.default_rng(5)
    _feats_dir(tmp_path / "train", rng)
    conf = tmp_path / "gmm.yaml"
    save_config({"task": "cm", "model": {"name": "lfcc_gmm", "n_components": 2, "feat_dim": 4},
                 "gmm": {"n_iter": 2, "kmeans_iter": 1}}, conf)
    args = ["--config", str(conf), "--exp_dir", str(tmp_path / "exp"), "--train_data", str(tmp_path / "train"), "--cpu"]
    assert train_gmm.main(args) == 0
    assert train_gmm.main(args + ["--gmm.recipe", "sklearn"]) == 1
    assert "other gmm/model/frontend settings" in capsys.readouterr().err


def test_official_configs_use_the_sklearn_recipe():
    for name in ("lfcc_gmm.yaml", "cqcc_gmm.yaml"):
        g = load_config(CONF / name)["gmm"]
        assert (g["recipe"], g["file_step"], g["n_iter"], g["tol"], g["reg_covar"]) == ("sklearn", 10, 10, 1e-3, 1e-6)
        assert load_config(CONF / name)["model"]["n_components"] == 512
