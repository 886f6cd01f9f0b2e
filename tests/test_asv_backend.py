"""Back-ends: LDA against scikit-learn, two-covariance PLDA (EM recovers a known model;
LLRs equal the direct Gaussian computation), cosine, and S-norm / AS-norm against loops."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from avdf.backend.cosine import CosineScorer
from avdf.backend.lda import LDA
from avdf.backend.plda import PLDA
from avdf.backend.score_norm import normalize


def _random_spd(d, rng, scale=1.0):
    a = rng.normal(size=(d, d))
    return scale * (a @ a.T / d + 0.2 * np.eye(d))


def _two_cov_data(n_spk=400, per_spk=8, d=4, seed=0):
    rng = np.random.default_rng(seed)
    B, W = _random_spd(d, rng, 2.0), _random_spd(d, rng, 1.0)
    mu = rng.normal(size=d)
    y = rng.multivariate_normal(np.zeros(d), B, size=n_spk)
    labels = np.repeat(np.arange(n_spk), per_spk)
    x = mu + y[labels] + rng.multivariate_normal(np.zeros(d), W, size=len(labels))
    return x, labels, B, W, mu


def test_plda_em_recovers_model():
    x, labels, B, W, mu = _two_cov_data()
    plda = PLDA.fit(x, labels, n_iter=10)
    B_hat, W_hat = plda.covariances()
    assert np.linalg.norm(W_hat - W) / np.linalg.norm(W) < 0.05
    assert np.linalg.norm(B_hat - B) / np.linalg.norm(B) < 0.15
    # unequal speaker counts too
    keep = np.ones(len(labels), bool)
    keep[np.flatnonzero(labels % 3 == 0)[::2]] = False
    PLDA.fit(x[keep], labels[keep], n_iter=3)


def test_plda_llr_is_exact():
    x, labels, *_ = _two_cov_data(n_spk=60, d=3)
    plda = PLDA.fit(x, labels, n_iter=5)
    B, W = plda.covariances()
    mu = plda.mean
    e, t = x[:5], x[40:47]
    got = plda.llr_matrix(e, t)
    T = B + W
    same = multivariate_normal(np.concatenate([mu, mu]), np.block([[T, B], [B, T]]))
    single = multivariate_normal(mu, T)
    for i in range(5):
        for j in range(7):
            want = same.logpdf(np.concatenate([e[i], t[j]])) - single.logpdf(e[i]) - single.logpdf(t[j])
            assert abs(got[i, j] - want) < 1e-8
    ie, it = np.array([0, 4, 2]), np.array([6, 0, 3])
    np.testing.assert_allclose(plda.llr_pairs(e, t, ie, it), got[ie, it])
    # three enrolment utterances: the mean of their transforms with n_enroll=3
    enr = x[:3]
    joint_cov = np.block([[T if a == b else B for b in range(4)] for a in range(4)])
    same4 = multivariate_normal(np.tile(mu, 4), joint_cov)
    same3 = multivariate_normal(np.tile(mu, 3), joint_cov[:9, :9])
    want = same4.logpdf(np.concatenate([*enr, t[0]])) - same3.logpdf(enr.ravel()) - single.logpdf(t[0])
    got3 = plda.llr_matrix(enr.mean(0, keepdims=True), t[:1], n_enroll=3)[0, 0]
    assert abs(got3 - want) < 1e-8


def test_lda_matches_sklearn():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(12), 30)
    x = rng.normal(size=(12, 8))[labels] * [3, 2, 1, 1, 0.5, 0.3, 0.2, 0.1] + rng.normal(size=(360, 8))
    ours = LDA.fit(x, labels, 4).transform(x)
    sk = LinearDiscriminantAnalysis(solver="eigen", n_components=4).fit(x, labels).transform(x)
    for k in range(4):
        assert abs(np.corrcoef(ours[:, k], sk[:, k])[0, 1]) > 0.999
    # within-speaker covariance is the identity after LDA
    within = np.cov((ours - np.stack([ours[labels == s].mean(0) for s in range(12)])[labels]).T, bias=True)
    np.testing.assert_allclose(within, np.eye(4), atol=1e-6)
    lda = LDA.fit(x, labels, 50)
    assert lda.proj.shape == (8, 8)  # capped by min(dim, classes - 1)


def test_cosine_mean_subtraction():
    train = np.random.default_rng(0).normal(size=(50, 4)) + 5
    sc = CosineScorer.fit(train)
    a, b = train[:3], train[3:5]
    want = np.array([[np.dot(u - sc.mean, v - sc.mean) / np.linalg.norm(u - sc.mean) / np.linalg.norm(v - sc.mean)
                      for v in b] for u in a])
    np.testing.assert_allclose(sc.score_matrix(a, b), want)
    np.testing.assert_allclose(sc.score_pairs(a, b, np.array([2, 0]), np.array([1, 1])), want[[2, 0], [1, 1]])


@pytest.mark.parametrize("method,top_n", [("snorm", None), ("asnorm", 3)])
def test_score_norm_against_loops(method, top_n):
    rng = np.random.default_rng(2)
    ec, tc = rng.normal(size=(4, 10)), rng.normal(size=(5, 10))
    ie, it = np.array([0, 1, 3, 3]), np.array([4, 0, 2, 1])
    s = rng.normal(size=4)
    got = normalize(s, ie, it, ec, tc, method, top_n or 0)
    for k in range(4):
        top_e = np.sort(ec[ie[k]])[::-1][:top_n] if top_n else ec[ie[k]]
        top_t = np.sort(tc[it[k]])[::-1][:top_n] if top_n else tc[it[k]]
        want = 0.5 * ((s[k] - top_e.mean()) / top_e.std() + (s[k] - top_t.mean()) / top_t.std())
        assert abs(got[k] - want) < 1e-12
    assert np.array_equal(normalize(s, ie, it, ec, tc, "none"), s)
    with pytest.raises(ValueError, match="asnorm"):
        normalize(s, ie, it, ec, tc, "znorm")
