"""Linear logistic-regression calibration and fusion (avdf.backend.calibration) against
scikit-learn's unpenalised weighted logistic regression and the closed-form LLR of
Gaussian scores; the calibrate / fuse entry points on data dirs in the real layout."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import logit
from sklearn.linear_model import LogisticRegression

from avdf import metrics as M
from avdf.backend.calibration import CalibrationError, LinearCalibration, train_linear
from avdf.bin import calibrate, fuse
from avdf.data.datadir import write_kv, write_trials


def sklearn_reference(pos, neg, p_target):
    """BOSARIS objective = weighted logistic regression; its bias absorbs logit(p_target)."""
    x = np.vstack([pos, neg])
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    w = np.r_[np.full(len(pos), p_target / len(pos)), np.full(len(neg), (1 - p_target) / len(neg))]
    lr = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10000).fit(x, y, sample_weight=w * len(y))
    return lr.coef_[0], lr.intercept_[0] - logit(p_target)


@pytest.mark.parametrize("p_target", [0.5, 0.05, 0.95])
@pytest.mark.parametrize("k", [1, 3])
def test_matches_weighted_logistic_regression(p_target, k):
    rng = np.random.default_rng(k)
    mix = rng.normal(size=(k, k)) + 2 * np.eye(k)
    pos = rng.normal(1.0, 1.0, (2000, k)) @ mix + 5.0
    neg = rng.normal(-1.0, 1.5, (12000, k)) @ mix + 5.0
    model = train_linear(pos, neg, p_target)
    w, b = sklearn_reference(pos, neg, p_target)
    np.testing.assert_allclose(model.weights, w, rtol=1e-5, atol=1e-6)
    assert model.bias == pytest.approx(b, abs=1e-5)


def test_recovers_the_gaussian_llr_and_is_calibrated():
    rng = np.random.default_rng(0)
    mu_t, mu_n, sigma = 2.0, -1.0, 1.5
    tar, non = rng.normal(mu_t, sigma, 40000), rng.normal(mu_n, sigma, 40000)
    raw_t, raw_n = 3.0 * tar + 7.0, 3.0 * non + 7.0          # a badly scaled, shifted system
    model = train_linear(raw_t, raw_n)
    a_true, b_true = (mu_t - mu_n) / sigma ** 2, (mu_n ** 2 - mu_t ** 2) / (2 * sigma ** 2)
    assert model.weights[0] * 3.0 == pytest.approx(a_true, rel=0.03)
    assert model.bias + 7.0 * model.weights[0] == pytest.approx(b_true, abs=0.03)
    llr_t, llr_n = model.apply(raw_t), model.apply(raw_n)
    # Calibrated: Cllr below the raw scores', actDCF close to minDCF at several priors.
    assert M.cllr(llr_t, llr_n) < M.cllr(raw_t, raw_n)
    assert M.cllr(llr_t, llr_n) < M.cllr(tar * a_true + b_true, non * a_true + b_true) + 1e-3
    for p in (0.1, 0.5, 0.9):
        assert M.act_dcf(llr_t, llr_n, p) - M.min_dcf(llr_t, llr_n, p)[0] < 0.01


def test_l2_and_bad_input():
    with pytest.raises(CalibrationError, match="separate the classes perfectly"):
        train_linear([2.0, 3.0], [0.0, 1.0])
    model = train_linear([2.0, 3.0], [0.0, 1.0], l2=0.1)
    assert np.isfinite(model.weights[0]) and model.weights[0] > 0
    with pytest.raises(CalibrationError, match="separable"):
        train_linear(np.array([[2.0, 0.0], [3.0, 1.0]]), np.array([[0.0, 0.0], [1.0, 1.0]]))
    with pytest.raises(CalibrationError, match="NaN or inf"):
        train_linear([1.0, np.nan], [0.0, 0.5])
    with pytest.raises(CalibrationError, match="p_target"):
        train_linear([1.0, 0.0], [0.0, 0.5], p_target=1.0)
    with pytest.raises(CalibrationError, match="columns"):
        train_linear(np.ones((3, 2)), np.zeros((3, 1)))


def test_save_load(tmp_path):
    rng = np.random.default_rng(1)
    model = train_linear(rng.normal(1, 1, 100), rng.normal(0, 1, 100), 0.2, systems=["a"])
    model.save(tmp_path / "m.json")
    again = LinearCalibration.load(tmp_path / "m.json")
    assert again == model
    assert "llr = sum_k" in (tmp_path / "m.json").read_text()


# ---------------------------------------------------------------- entry points
def cm_sets(tmp_path, n=2000, seed=0):
    """dev data dir + two systems' dev and eval score files (utterance scores)."""
    rng = np.random.default_rng(seed)
    out = {}
    for split in ("dev", "eval"):
        prefix = "LA_D_" if split == "dev" else "LA_E_"
        utts = [f"{prefix}{1000000 + i}" for i in range(n)]
        labels = np.where(rng.random(n) < 0.2, "bonafide", "spoof")
        mean = np.where(labels == "bonafide", 1.0, -1.0)
        sys_a = 4 * (mean + rng.normal(0, 1, n)) + 10      # two systems with independent errors
        sys_b = 0.5 * (mean + rng.normal(0, 1.2, n)) - 3
        write_kv(tmp_path / split / "utt2label", dict(zip(utts, labels)))
        for name, values in (("a", sys_a), ("b", sys_b)):
            (tmp_path / f"{split}_{name}.txt").write_text("".join(f"{u} {v:.6f}\n" for u, v in zip(utts, values)))
        out[split] = (utts, labels, np.round(sys_a, 6), np.round(sys_b, 6))
    return out


def read(path):
    return [line.split() for line in path.read_text().splitlines()]


def test_calibrate_cli(tmp_path, capsys):
    sets = cm_sets(tmp_path)
    assert calibrate.main(["--train_scores", str(tmp_path / "dev_a.txt"), "--train_data", str(tmp_path / "dev"),
                           "--apply", str(tmp_path / "eval_a.txt"), "--out", str(tmp_path / "eval.cal.txt"),
                           "--p_target", "0.05"]) == 0
    model = json.loads((tmp_path / "eval.cal.calibration.json").read_text())
    utts, labels, a, _ = sets["dev"]
    ref = train_linear(a[labels == "bonafide"], a[labels == "spoof"], 0.05)
    assert model["weights"] == pytest.approx(ref.weights, rel=1e-9) and model["p_target"] == 0.05
    assert model["train_counts"]["positive"] == int((labels == "bonafide").sum())
    rows = read(tmp_path / "eval.cal.txt")
    eval_utts, _, eval_a, _ = sets["eval"]
    assert [r[0] for r in rows] == eval_utts
    np.testing.assert_allclose([float(r[1]) for r in rows], eval_a * ref.weights[0] + ref.bias, atol=1e-6)
    assert "train Cllr" in capsys.readouterr().out


def test_fuse_cli(tmp_path):
    sets = cm_sets(tmp_path)
    train = [str(tmp_path / "dev_a.txt"), str(tmp_path / "dev_b.txt")]
    apply = [str(tmp_path / "eval_a.txt"), str(tmp_path / "eval_b.txt")]
    assert fuse.main(["--train", *train, "--train_data", str(tmp_path / "dev"), "--apply", *apply,
                      "--out", str(tmp_path / "fused.txt")]) == 0
    model = LinearCalibration.load(tmp_path / "fused.fusion.json")
    assert model.systems == train and len(model.weights) == 2
    _, labels, a, b = sets["eval"]
    fused = np.array([float(r[1]) for r in read(tmp_path / "fused.txt")])
    np.testing.assert_allclose(fused, model.apply(np.c_[a, b]), atol=1e-6)
    # The fusion is at least as good as either system alone on held-out data (Cllr).
    pos, neg = labels == "bonafide", labels == "spoof"
    single = [train_linear(*(sets["dev"][k][sets["dev"][1] == c] for c in ("bonafide", "spoof"))) for k in (2, 3)]
    for s, x in zip(single, (a, b)):
        assert M.cllr(fused[pos], fused[neg]) < M.cllr(s.apply(x)[pos], s.apply(x)[neg])


def test_trial_calibration_and_errors(tmp_path, capsys):
    rng = np.random.default_rng(3)
    trials, lines = [], []
    for i in range(900):
        label = ("target", "nontarget", "spoof")[i % 3]
        enroll, test = f"LA_{i % 10:04d}", f"LA_D_{2000000 + i}"
        trials.append((enroll, test, label))
        lines.append(f"{enroll} {test} {rng.normal({'target': 2, 'nontarget': -2, 'spoof': 1}[label], 1):.4f}\n")
    write_trials(tmp_path / "dev" / "trials", trials)
    (tmp_path / "asv.txt").write_text("".join(lines))
    args = ["--train_scores", str(tmp_path / "asv.txt"), "--train_data", str(tmp_path / "dev"),
            "--apply", str(tmp_path / "asv.txt"), "--out", str(tmp_path / "asv.cal.txt")]
    assert calibrate.main(args) == 0
    model = LinearCalibration.load(tmp_path / "asv.cal.calibration.json")
    assert model.train_counts == {"positive": 300, "negative": 300, "left_out": 300}
    assert read(tmp_path / "asv.cal.txt")[0][:2] == ["LA_0000", "LA_D_2000000"]
    assert calibrate.main(args + ["--trial_negatives", "nontarget,spoof"]) == 0
    assert LinearCalibration.load(tmp_path / "asv.cal.calibration.json").train_counts["negative"] == 600
    capsys.readouterr()
    # A key missing from the second system's file, an unknown key, a class missing.
    (tmp_path / "b.txt").write_text("".join(lines[1:]))
    assert fuse.main(["--train", str(tmp_path / "asv.txt"), str(tmp_path / "b.txt"),
                      "--train_data", str(tmp_path / "dev")]) == 1
    assert "b.txt: no score for key 'LA_0000 LA_D_2000000'" in capsys.readouterr().err
    (tmp_path / "c.txt").write_text("".join(lines) + "LA_0000 LA_D_9 1.0\n")
    assert calibrate.main(["--train_scores", str(tmp_path / "c.txt"), "--train_data", str(tmp_path / "dev")]) == 1
    assert "c.txt:901: trial 'LA_0000 LA_D_9' is not in" in capsys.readouterr().err
    write_trials(tmp_path / "dev" / "trials", [(e, t, "target") for e, t, _ in trials])
    assert calibrate.main(["--train_scores", str(tmp_path / "asv.txt"), "--train_data", str(tmp_path / "dev")]) == 1
    assert "needs both classes" in capsys.readouterr().err
