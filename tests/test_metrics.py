"""avdf.metrics against independent reference implementations written here from the
published formulas (ASVspoof 2019 / 2021 evaluation packages, Kaldi compute_min_dcf.py,
BOSARIS rocch, the a-DCF paper, scikit-learn roc_auc_score), to 1e-9, on synthetic
scores the size of ASVspoof 2019 LA eval and VoxCeleb1-E, with and without heavy ties.

The official scripts step the threshold through the sorted trials one at a time, so on
tied scores they can report points no threshold reaches; avdf moves only between
distinct values. The "official" references are therefore compared on tie-free scores,
and brute-force references over the distinct values on tied scores.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import roc_auc_score

from avdf import metrics as M

TOL = 1e-9
LA_EVAL = (7355, 63882)
VOX1_E = (290_000, 290_000)


# ---------------------------------------------------------------- synthetic scores
def scores(n_pos, n_neg, seed, ties=None, sep=2.0):
    """Gaussian scores; ``ties`` rounds them to that many decimals (heavy ties)."""
    rng = np.random.default_rng(seed)
    pos, neg = rng.normal(sep, 1.0, n_pos), rng.normal(0.0, 1.0, n_neg)
    if ties is not None:
        pos, neg = np.round(pos, ties), np.round(neg, ties)
    return pos, neg


def asv_scores(seed, n=(5370, 33327, 63882)):
    rng = np.random.default_rng(seed)
    return rng.normal(6, 2, n[0]), rng.normal(-6, 3, n[1]), rng.normal(2, 4, n[2])


# ---------------------------------------------------------------- references
def official_det_curve(tar, non):
    """ASVspoof eval package compute_det_curve: one point per sorted trial."""
    scores_ = np.concatenate([tar, non])
    labels = np.concatenate([np.ones(tar.size), np.zeros(non.size)])
    idx = np.argsort(scores_, kind="mergesort")
    labels = labels[idx]
    tar_sums = np.cumsum(labels)
    non_sums = non.size - (np.arange(1, scores_.size + 1) - tar_sums)
    frr = np.concatenate([[0], tar_sums / tar.size])
    far = np.concatenate([[1], non_sums / non.size])
    thr = np.concatenate([[scores_[idx[0]] - 0.001], scores_[idx]])
    return frr, far, thr


def official_eer(tar, non):
    frr, far, thr = official_det_curve(tar, non)
    i = np.argmin(np.abs(frr - far))
    return np.mean((frr[i], far[i])), thr[i]


def official_tdcf(bona, spoof, tar, non, spf, variant):
    """ASVspoof 2019 (legacy) / 2021 (revised) compute_tDCF with the 2019 LA cost model."""
    p_spoof = 0.05
    p_tar, p_non = (1 - p_spoof) * 0.99, (1 - p_spoof) * 0.01
    _, thr = official_eer(tar, non)
    pfa_asv = np.sum(non >= thr) / non.size
    pmiss_asv = np.sum(tar < thr) / tar.size
    pmiss_spoof_asv = np.sum(spf < thr) / spf.size
    pfa_spoof_asv = np.sum(spf >= thr) / spf.size
    pmiss_cm, pfa_cm, _ = official_det_curve(bona, spoof)
    if variant == "legacy":
        c1 = p_tar * (1 - 1 * pmiss_asv) - p_non * 10 * pfa_asv
        c2 = 10 * p_spoof * (1 - pmiss_spoof_asv)
        curve = (c1 * pmiss_cm + c2 * pfa_cm) / min(c1, c2)
    else:
        c0 = p_tar * 1 * pmiss_asv + p_non * 10 * pfa_asv
        c1 = p_tar * 1 - c0
        c2 = p_spoof * 10 * pfa_spoof_asv
        curve = (c0 + c1 * pmiss_cm + c2 * pfa_cm) / (c0 + min(c1, c2))
    return curve.min()


def kaldi_min_dcf(tar, non, p_target, c_miss=1.0, c_fa=1.0):
    """Kaldi egs/sre08/v1/sid/compute_min_dcf.py (vectorised; same points and order)."""
    scores_ = np.concatenate([tar, non])
    labels = np.concatenate([np.ones(tar.size), np.zeros(non.size)])
    idx = np.argsort(scores_, kind="stable")
    labels = labels[idx]
    fnrs = np.cumsum(labels) / labels.sum()
    fprs = 1 - np.cumsum(1 - labels) / (labels.size - labels.sum())
    c_det = c_miss * fnrs * p_target + c_fa * fprs * (1 - p_target)
    return c_det.min() / min(c_miss * p_target, c_fa * (1 - p_target))


def distinct_rates(*classes):
    """Brute force over distinct values: thresholds t in (u_0..u_{U-1}, +inf), accept s >= t.

    Returns (thresholds, [rate of class 0 rejected, rate of class k accepted for k >= 1]).
    """
    u = np.unique(np.concatenate(classes))
    thr = np.concatenate([u, [np.inf]])
    rates = []
    for k, c in enumerate(classes):
        below = np.searchsorted(np.sort(c), thr, side="left")
        rates.append(below / c.size if k == 0 else (c.size - below) / c.size)
    return thr, rates


def brute_eer(tar, non):
    _, (pmiss, pfa) = distinct_rates(tar, non)
    i = np.argmin(np.abs(pmiss - pfa))
    return (pmiss[i] + pfa[i]) / 2


def brute_min_dcf(tar, non, p, c_miss=1.0, c_fa=1.0):
    _, (pmiss, pfa) = distinct_rates(tar, non)
    return (c_miss * p * pmiss + c_fa * (1 - p) * pfa).min() / min(c_miss * p, c_fa * (1 - p))


def brute_tdcf(bona, spoof, tar, non, spf, variant):
    """The published t-DCF formulas over distinct CM thresholds; ASV point as the packages."""
    p_spoof = 0.05
    p_tar, p_non = (1 - p_spoof) * 0.99, (1 - p_spoof) * 0.01
    _, thr = official_eer(tar, non)
    pmiss_asv, pfa_asv, pfa_spf = np.mean(tar < thr), np.mean(non >= thr), np.mean(spf >= thr)
    _, (pmiss_cm, pfa_cm) = distinct_rates(bona, spoof)
    if variant == "legacy":
        c1 = p_tar * (1 - pmiss_asv) - p_non * 10 * pfa_asv
        c2 = 10 * p_spoof * pfa_spf
        return ((c1 * pmiss_cm + c2 * pfa_cm) / min(c1, c2)).min()
    c0 = p_tar * pmiss_asv + p_non * 10 * pfa_asv
    c1, c2 = p_tar - c0, p_spoof * 10 * pfa_spf
    return ((c0 + c1 * pmiss_cm + c2 * pfa_cm) / (c0 + min(c1, c2))).min()


def bosaris_rocch_eer(tar, non):
    """BOSARIS rocch + rocch2eer: PAV on the sorted labels, EER = max over hull segments."""
    scores_ = np.concatenate([tar, non])
    labels = np.concatenate([np.ones(tar.size), np.zeros(non.size)])
    idx = np.lexsort((1 - labels, scores_))      # ties: targets first, as BOSARIS' stable sort
    ideal = labels[idx]
    fitted = IsotonicRegression().fit_transform(np.arange(ideal.size), ideal)
    bounds = np.flatnonzero(np.diff(fitted) != 0) + 1   # bin starts
    lefts = np.concatenate([[0], bounds, [ideal.size]])
    cum = np.concatenate([[0], np.cumsum(ideal)])
    pmiss = cum[lefts] / tar.size
    pfa = (non.size - (lefts - cum[lefts])) / non.size
    best = 0.0
    for i in range(pfa.size - 1):
        xx, yy = pfa[i:i + 2], pmiss[i:i + 2]
        if min(abs(xx[0] - xx[1]), abs(yy[0] - yy[1])) == 0:
            seg_eer = 0.0
        else:
            seg = np.linalg.solve(np.stack([xx, yy], axis=1), np.ones(2))
            seg_eer = 1 / seg.sum()
        best = max(best, seg_eer)
    return best


def brute_a_dcf(tar, non, spf, cm=(0.9, 0.05, 0.05, 1, 10, 20)):
    p_tar, p_non, p_spf, c_miss, c_fa_asv, c_fa_cm = cm
    _, (pmiss, pfa_non, pfa_spf) = distinct_rates(tar, non, spf)
    cost = c_miss * p_tar * pmiss + c_fa_asv * p_non * pfa_non + c_fa_cm * p_spf * pfa_spf
    return cost.min() / min(c_fa_asv * p_non + c_fa_cm * p_spf, c_miss * p_tar)


# ---------------------------------------------------------------- EER
@pytest.mark.parametrize("size", [LA_EVAL, VOX1_E], ids=["LA19-eval", "Vox1-E"])
def test_eer_matches_official_without_ties(size):
    tar, non = scores(*size, seed=1)
    assert np.unique(np.r_[tar, non]).size == tar.size + non.size
    e, thr = M.eer(tar, non)
    assert abs(e - official_eer(tar, non)[0]) < TOL
    # The returned threshold reproduces the EER point with "accept if score >= threshold".
    pmiss, pfa = np.mean(tar < thr), np.mean(non >= thr)
    assert abs((pmiss + pfa) / 2 - e) < TOL


@pytest.mark.parametrize("size", [LA_EVAL, VOX1_E], ids=["LA19-eval", "Vox1-E"])
@pytest.mark.parametrize("decimals", [0, 1, 2])
def test_eer_with_heavy_ties(size, decimals):
    tar, non = scores(*size, seed=2, ties=decimals, sep=1.0)
    e, thr = M.eer(tar, non)
    assert abs(e - brute_eer(tar, non)) < TOL
    # The threshold lies strictly between two distinct values: ties stay together.
    assert not np.isin(thr, np.r_[tar, non])
    assert abs((np.mean(tar < thr) + np.mean(non >= thr)) / 2 - e) < TOL


def test_eer_hand_worked():
    # Targets 3,2,1; nontargets 2,0. Points (reject below): t<=0: miss 0 fa 1; (0,1]: 0, 1/2;
    # (1,2]: 1/3, 1/2; (2,3]: 2/3, 0 ... smallest |miss - fa| is 1/6 at (1,2] -> EER 5/12.
    e, thr = M.eer([3, 2, 1], [2, 0])
    assert e == pytest.approx(5 / 12, abs=1e-15) and thr == 1.5


def test_eer_perfect_separation_and_total_inversion():
    e, thr = M.eer([2.0, 3.0], [0.0, 1.0])
    assert e == 0.0 and thr == 1.5
    e, _ = M.eer([0.0], [1.0])
    assert e == 1.0


def test_eer_all_scores_tied():
    assert M.eer([1.0, 1.0], [1.0, 1.0, 1.0])[0] == 0.5


@pytest.mark.parametrize("size", [LA_EVAL, VOX1_E], ids=["LA19-eval", "Vox1-E"])
def test_eer_rocch_matches_bosaris(size):
    for ties in (None, 1):
        tar, non = scores(*size, seed=3, ties=ties, sep=1.5)
        r = M.eer_rocch(tar, non)
        assert abs(r - bosaris_rocch_eer(tar, non)) < TOL
        pmiss, pfa, _ = M.det_curve(tar, non)
        assert r <= np.maximum(pmiss, pfa).min() + TOL   # the hull lies below every point
    assert M.eer_rocch([2.0, 3.0], [0.0, 1.0]) == 0.0


# ---------------------------------------------------------------- minDCF
@pytest.mark.parametrize("size", [LA_EVAL, VOX1_E], ids=["LA19-eval", "Vox1-E"])
@pytest.mark.parametrize("p,c_miss,c_fa", [(0.01, 1, 1), (0.001, 1, 1), (0.05, 1, 1), (0.95, 1, 10)])
def test_min_dcf_matches_kaldi_without_ties(size, p, c_miss, c_fa):
    tar, non = scores(*size, seed=4)
    value, thr = M.min_dcf(tar, non, p, c_miss, c_fa)
    assert abs(value - kaldi_min_dcf(tar, non, p, c_miss, c_fa)) < TOL
    pmiss, pfa = np.mean(tar < thr), np.mean(non >= thr)
    norm = min(c_miss * p, c_fa * (1 - p))
    assert abs((c_miss * p * pmiss + c_fa * (1 - p) * pfa) / norm - value) < TOL


@pytest.mark.parametrize("size", [LA_EVAL, VOX1_E], ids=["LA19-eval", "Vox1-E"])
@pytest.mark.parametrize("decimals", [0, 1, 2])
def test_min_dcf_with_heavy_ties(size, decimals):
    tar, non = scores(*size, seed=5, ties=decimals, sep=1.0)
    for p, c_miss, c_fa in [(0.01, 1, 1), (0.95, 1, 10)]:
        value, thr = M.min_dcf(tar, non, p, c_miss, c_fa)
        assert abs(value - brute_min_dcf(tar, non, p, c_miss, c_fa)) < TOL
        assert not np.isin(thr, np.r_[tar, non])


def test_perfect_separation_values():
    tar, non = [2.0, 3.0, 3.0], [0.0, 1.0, 1.0]
    assert M.min_dcf(tar, non, 0.01) == (0.0, 1.5)
    assert M.auc(tar, non) == 1.0 and M.auc(non, tar) == 0.0
    assert M.a_dcf(tar, [0.5], non) == (0.0, 1.5)


def test_min_dcf_useless_system_is_one():
    # Indistinguishable classes: no threshold beats the better trivial system.
    assert M.min_dcf([1.0, 1.0], [1.0, 1.0], 0.01)[0] == 1.0


def test_min_dcf_hand_worked():
    # p=0.5: points (miss, fa): (0,1) (0,1/2) (1/3,1/2) (2/3,0) (1,0); cost/0.5 = miss + fa.
    assert M.min_dcf([3, 2, 1], [2, 0], 0.5)[0] == pytest.approx(1 / 2, abs=1e-15)


# ---------------------------------------------------------------- AUC
@pytest.mark.parametrize("size", [LA_EVAL, VOX1_E], ids=["LA19-eval", "Vox1-E"])
@pytest.mark.parametrize("decimals", [None, 0, 1, 3])
def test_auc_matches_sklearn(size, decimals):
    pos, neg = scores(*size, seed=6, ties=decimals, sep=1.0)
    y = np.r_[np.ones(pos.size), np.zeros(neg.size)]
    assert abs(M.auc(pos, neg) - roc_auc_score(y, np.r_[pos, neg])) < TOL


def test_auc_hand_worked():
    # Pairs (p, n): (3,2)>,(3,0)>,(2,2)=,(2,0)>,(1,2)<,(1,0)> -> (4 + 0.5) / 6.
    assert M.auc([3, 2, 1], [2, 0]) == 0.75


def test_roc_and_det_curves():
    pos, neg = scores(500, 800, seed=7, ties=1)
    fpr, tpr, thr = M.roc_curve(pos, neg)
    assert thr[0] == np.inf and thr[-1] == -np.inf and np.all(np.diff(thr) < 0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    for f, t, th in zip(fpr[::17], tpr[::17], thr[::17]):
        assert f == np.mean(neg >= th) and t == np.mean(pos >= th)
    assert abs(np.trapezoid(tpr, fpr) - M.auc(pos, neg)) < TOL
    pmiss, pfa, thr2 = M.det_curve(pos, neg)
    assert np.array_equal(thr2, thr[::-1]) and np.allclose(pmiss, 1 - tpr[::-1])


# ---------------------------------------------------------------- actDCF, Cllr
def test_act_dcf_and_cllr():
    rng = np.random.default_rng(8)
    tar, non = rng.normal(2, 2, LA_EVAL[0]), rng.normal(-2, 2, LA_EVAL[1])   # calibrated: llr = x
    p = 0.05
    thr = np.log((1 - p) / p)
    expect = (p * np.mean(tar < thr) + (1 - p) * np.mean(non >= thr)) / min(p, 1 - p)
    assert abs(M.act_dcf(tar, non, p) - expect) < TOL
    assert M.act_dcf(tar, non, p) >= M.min_dcf(tar, non, p)[0] - TOL
    # ASVspoof 5 actDCF: bona fide prior 0.95, C_miss 1, C_fa 10; threshold -log(beta).
    beta = 1 * 0.95 / (10 * 0.05)
    pm, pf = np.mean(tar < -np.log(beta)), np.mean(non >= -np.log(beta))
    assert abs(M.act_dcf(tar, non, 0.95, 1, 10) - (0.95 * pm + 0.5 * pf) / 0.5) < TOL
    ref = (np.mean(np.log2(1 + np.exp(-tar))) + np.mean(np.log2(1 + np.exp(non)))) / 2
    assert abs(M.cllr(tar, non) - ref) < TOL
    assert M.cllr([0.0], [0.0]) == 1.0
    assert np.isfinite(M.cllr([1e4], [-1e4])) and M.cllr([1e4], [-1e4]) == 0.0


# ---------------------------------------------------------------- t-DCF
@pytest.mark.parametrize("variant", ["legacy", "revised"])
def test_min_tdcf_matches_official(variant):
    bona, spoof = scores(*LA_EVAL, seed=9, sep=3.0)
    tar, non, spf = asv_scores(10)
    value, thr = M.min_tdcf(bona, spoof, tar, non, spf, variant=variant)
    assert abs(value - official_tdcf(bona, spoof, tar, non, spf, variant)) < TOL
    d = M.tdcf_details(bona, spoof, tar, non, spf, variant=variant)
    curve_at_thr = (d.get("C0", 0.0) + d["C1"] * np.mean(bona < thr) + d["C2"] * np.mean(spoof >= thr)) / d["norm"]
    assert abs(curve_at_thr - value) < TOL


@pytest.mark.parametrize("variant", ["legacy", "revised"])
@pytest.mark.parametrize("decimals", [0, 1, 2])
def test_min_tdcf_with_heavy_ties(variant, decimals):
    bona, spoof = scores(*LA_EVAL, seed=11, ties=decimals, sep=2.0)
    tar, non, spf = asv_scores(12)
    value, _ = M.min_tdcf(bona, spoof, tar, non, spf, variant=variant)
    assert abs(value - brute_tdcf(bona, spoof, tar, non, spf, variant)) < TOL


def test_min_tdcf_bounds_and_perfect_cm():
    tar, non, spf = asv_scores(13)
    bona, spoof = scores(*LA_EVAL, seed=14, sep=0.0)
    for variant in ("legacy", "revised"):
        assert M.min_tdcf(bona, spoof, tar, non, spf, variant)[0] <= 1.0 + TOL
    # A perfect CM: legacy t-DCF 0; revised t-DCF = C0 / (C0 + min(C1, C2)).
    d = M.tdcf_details([5.0, 6.0], [0.0, 1.0], tar, non, spf, "revised")
    assert d["cm_threshold"] == 3.0
    assert abs(d["min_tdcf"] - d["C0"] / d["norm"]) < TOL
    assert M.min_tdcf([5.0, 6.0], [0.0, 1.0], tar, non, spf, "legacy") == (0.0, 3.0)


def test_min_tdcf_rejects_unknown_variant_and_bad_asv():
    tar, non, spf = asv_scores(15)
    with pytest.raises(M.MetricError, match="variant"):
        M.min_tdcf([1.0, 2.0], [0.0], tar, non, spf, variant="2019")
    with pytest.raises(M.MetricError, match="accepts no spoof"):
        M.min_tdcf([1.0, 2.0], [0.0], tar, non, np.full(10, -100.0), variant="legacy")


ASV19_EVAL = os.environ.get("AVDF_ASV19_EVAL_ASV_SCORES")


@pytest.mark.skipif(not ASV19_EVAL, reason="set AVDF_ASV19_EVAL_ASV_SCORES to the organisers' "
                    "ASVspoof2019.LA.asv.eval.gi.trl.scores.txt to check the published ASV EER")
def test_organisers_asv19_eval_asv_eer():
    from avdf.metrics.scorefile import read_organiser_asv_scores
    asv = read_organiser_asv_scores(ASV19_EVAL)
    assert {k: v.size for k, v in asv.items()} == {"target": 5370, "nontarget": 33327, "spoof": 63882}
    e, _ = M.eer(asv["target"], asv["nontarget"])
    assert round(100 * e, 3) == 2.458


# ---------------------------------------------------------------- SASV
def test_sasv_metrics():
    rng = np.random.default_rng(16)
    tar, non, spf = rng.normal(3, 1, 5370), rng.normal(0, 1, 33327), rng.normal(1, 2, 63882)  # LA19 eval gi
    for ties in (None, 1):
        t, n, s = (tar, non, spf) if ties is None else (np.round(tar, 1), np.round(non, 1), np.round(spf, 1))
        value, thr = M.a_dcf(t, n, s)
        assert abs(value - brute_a_dcf(t, n, s)) < TOL
        assert abs(M.sasv_eer(t, n, s)[0] - brute_eer(t, np.r_[n, s])) < TOL
        assert abs(M.sv_eer(t, n)[0] - brute_eer(t, n)) < TOL
        assert abs(M.spf_eer(t, s)[0] - brute_eer(t, s)) < TOL
    custom = M.ADCFCostModel(p_tar=0.8, p_non=0.1, p_spoof=0.1, c_miss=1, c_fa_asv=5, c_fa_cm=5)
    assert abs(M.a_dcf(tar, non, spf, custom)[0] - brute_a_dcf(tar, non, spf, (0.8, 0.1, 0.1, 1, 5, 5))) < TOL


# ---------------------------------------------------------------- degenerate input
@pytest.mark.parametrize("fn", [M.eer, M.eer_rocch, M.auc, M.cllr, lambda a, b: M.min_dcf(a, b, 0.01)])
def test_degenerate_input_is_an_error(fn):
    with pytest.raises(M.MetricError, match="empty"):
        fn([], [1.0, 2.0])
    with pytest.raises(M.MetricError, match="empty"):
        fn([1.0], [])
    with pytest.raises(M.MetricError, match="NaN or inf.*index 1"):
        fn([1.0, np.nan], [0.0])
    with pytest.raises(M.MetricError, match="NaN or inf"):
        fn([1.0], [0.0, -np.inf])
    with pytest.raises(M.MetricError, match="1-D"):
        fn(np.zeros((2, 2)), [0.0])


def test_bad_costs_are_errors():
    with pytest.raises(M.MetricError, match="p_target"):
        M.min_dcf([1.0], [0.0], 1.0)
    with pytest.raises(M.MetricError, match="positive"):
        M.act_dcf([1.0], [0.0], 0.5, c_fa=0)
    with pytest.raises(M.MetricError, match="sum to 1"):
        M.min_tdcf([1.0], [0.0], [1.0], [0.0], [0.5], "revised", M.TDCFCostModel(p_spoof=0.5))
