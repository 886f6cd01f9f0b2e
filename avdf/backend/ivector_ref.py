"""Plain NumPy i-vector reference: the textbook formulas, one utterance and one component
at a time, in the original (unwhitened) feature space with explicit inverses. Slow on
purpose; it exists to check :mod:`avdf.backend.ivector` (tests) and to be the baseline
of ``python -m bench.ivector``."""
from __future__ import annotations

import numpy as np


def component_log_likelihood(weights: np.ndarray, means: np.ndarray, covars: np.ndarray,
                             x: np.ndarray) -> np.ndarray:
    """``log w_c + log N(x_t; mu_c, S_c)``: (n, C), full covariances (C, D, D)."""
    n, d = x.shape
    out = np.empty((n, len(weights)))
    for c in range(len(weights)):
        diff = x - means[c]
        _, logdet = np.linalg.slogdet(covars[c])
        maha = np.einsum("ti,ti->t", diff, np.linalg.solve(covars[c], diff.T).T)
        out[:, c] = np.log(weights[c]) - 0.5 * (d * np.log(2 * np.pi) + logdet + maha)
    return out


def frame_posteriors(weights, means, covars, x, num_gselect: int = 20, min_post: float = 0.025) -> np.ndarray:
    """Posteriors over the ``num_gselect`` best components, pruned below ``min_post`` (the
    best kept) and renormalised, frame by frame."""
    lc = component_log_likelihood(weights, means, covars, x)
    post = np.zeros_like(lc)
    k = min(num_gselect, lc.shape[1]) if num_gselect > 0 else lc.shape[1]
    for t in range(len(x)):
        best = np.argsort(-lc[t], kind="stable")[:k]
        p = np.exp(lc[t, best] - lc[t, best].max())
        p /= p.sum()
        keep = (p >= min_post) | (np.arange(k) == 0)
        p = np.where(keep, p, 0.0)
        post[t, best] = p / p.sum()
    return post


def utterance_stats(weights, means, covars, x, num_gselect=20, min_post=0.025) -> tuple[np.ndarray, np.ndarray]:
    """N (C,) and centred F (C, D)."""
    post = frame_posteriors(weights, means, covars, x, num_gselect, min_post)
    N = post.sum(0)
    F = np.stack([post[:, c] @ (x - means[c]) for c in range(len(weights))])
    return N, F


def ivector_posterior(T: np.ndarray, covars: np.ndarray, N: np.ndarray, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of w for one utterance; T (C, D, R)."""
    r = T.shape[2]
    prec = np.eye(r)
    lin = np.zeros(r)
    for c in range(T.shape[0]):
        sinv_t = np.linalg.solve(covars[c], T[c])            # S_c^-1 T_c
        prec += N[c] * T[c].T @ sinv_t
        lin += sinv_t.T @ F[c]
    cov = np.linalg.inv(prec)
    return cov @ lin, cov


def em_iteration(T: np.ndarray, covars: np.ndarray, stats: list[tuple[np.ndarray, np.ndarray]],
                 min_divergence: bool = True) -> np.ndarray:
    """The updated T after one EM iteration (with minimum-divergence re-estimation)."""
    c_, d, r = T.shape
    A = np.zeros((c_, r, r))
    C = np.zeros((c_, d, r))
    K = np.zeros((r, r))
    for N, F in stats:
        w, cov = ivector_posterior(T, covars, N, F)
        second = cov + np.outer(w, w)
        for c in range(c_):
            A[c] += N[c] * second
            C[c] += np.outer(F[c], w)
        K += second
    new = np.stack([C[c] @ np.linalg.inv(A[c]) for c in range(c_)])
    if min_divergence:
        new = new @ np.linalg.cholesky(K / len(stats))
    return new
