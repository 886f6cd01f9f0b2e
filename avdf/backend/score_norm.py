"""Score normalisation with a cohort: S-norm (symmetric z/t-norm over the whole cohort)
and adaptive S-norm (AS-norm: each side normalised by the mean and standard deviation of
its ``top_n`` highest cohort scores; Matejka et al. 2017, the WeSpeaker recipe's
choice with the training speakers' mean embeddings as cohort and top 300)."""
from __future__ import annotations

import numpy as np

METHODS = ("none", "snorm", "asnorm")


def cohort_stats(cohort_scores: np.ndarray, top_n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each row's ``top_n`` largest scores (all when None)."""
    s = np.asarray(cohort_scores, dtype=np.float64)
    if top_n is not None and top_n < s.shape[1]:
        s = -np.partition(-s, top_n - 1, axis=1)[:, :top_n]
    return s.mean(1), np.maximum(s.std(1), 1e-10)


def normalize(scores: np.ndarray, ie: np.ndarray, it: np.ndarray, enroll_cohort: np.ndarray,
              test_cohort: np.ndarray, method: str = "asnorm", top_n: int = 300) -> np.ndarray:
    """Normalised trial scores. ``enroll_cohort`` (n_enroll, K) / ``test_cohort`` (n_test, K)
    hold each enrolment / test embedding's scores against the K cohort embeddings,
    computed by the same scorer; trial k pairs ``ie[k]`` with ``it[k]``."""
    if method == "none":
        return np.asarray(scores, dtype=np.float64)
    if method not in METHODS:
        raise ValueError(f"score normalisation must be one of {METHODS}, got {method!r}")
    n = None if method == "snorm" else int(top_n)
    me, se = cohort_stats(enroll_cohort, n)
    mt, st = cohort_stats(test_cohort, n)
    return 0.5 * ((scores - me[ie]) / se[ie] + (scores - mt[it]) / st[it])
