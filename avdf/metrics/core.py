"""Input checks and the one threshold sweep every detection metric is built on.

Convention used throughout :mod:`avdf.metrics`: higher scores support the positive
class (bona fide / target / real), and **a trial is accepted when its score is >= the
threshold**. Operating points exist only between distinct score values, so tied
scores are always accepted or rejected together: no metric can reach a point that no
threshold produces. With ``U`` distinct values ``u_0 < ... < u_{U-1}`` there are
``U + 1`` operating points ``j = 0..U``: point ``j`` rejects the trials scoring below
``u_j`` (``j = 0`` accepts everything, ``j = U`` rejects everything). Its threshold is
``-inf`` for ``j = 0``, ``+inf`` for ``j = U`` and the midpoint of ``u_{j-1}`` and
``u_j`` otherwise, so a reported threshold lies strictly between the two classes'
scores when they separate perfectly.

The sweep sorts each class once, merges the sorted runs and takes cumulative counts:
O(N log N) and vectorised, about a second for 10 million trials.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class MetricError(ValueError):
    """Scores a metric cannot be computed from (empty, NaN/inf, a class missing)."""


def as_scores(x, name: str) -> np.ndarray:
    """``x`` as a 1-D float64 array; raise :class:`MetricError` if empty or not finite."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise MetricError(f"{name}: expected a 1-D array of scores, got shape {a.shape}")
    if a.size == 0:
        raise MetricError(f"{name}: no scores (empty array); every class needs at least one trial")
    bad = ~np.isfinite(a)
    if bad.any():
        idx = np.flatnonzero(bad)
        raise MetricError(f"{name}: {idx.size} score(s) are NaN or inf (first at index {idx[0]}: "
                          f"{a[idx[0]]}); fix the scoring stage instead of dropping trials")
    return a


@dataclass(frozen=True)
class Sweep:
    """Error counts of every operating point ``j = 0..U`` (see the module docstring).

    ``rejected[k, j]`` is how many trials of class ``k`` score below the threshold of
    point ``j``; ``counts[k]`` is the size of class ``k``; ``values`` are the distinct
    scores ``u_0 < ... < u_{U-1}``.
    """
    rejected: np.ndarray    # (K, U + 1) int64
    counts: np.ndarray      # (K,) int64
    values: np.ndarray      # (U,)

    def miss_rate(self, k: int = 0) -> np.ndarray:
        """Fraction of class ``k`` rejected at each point (P_miss for a positive class)."""
        return self.rejected[k] / self.counts[k]

    def accept_rate(self, k: int) -> np.ndarray:
        """Fraction of class ``k`` accepted at each point (P_fa for a negative class)."""
        return (self.counts[k] - self.rejected[k]) / self.counts[k]

    @property
    def thresholds(self) -> np.ndarray:
        """Thresholds of all ``U + 1`` points (computed on demand; see :meth:`threshold`)."""
        return midpoint_thresholds(self.values)

    def threshold(self, j: int) -> float:
        """Threshold of point ``j``: -inf, a midpoint between distinct values, or +inf."""
        if j == 0:
            return -np.inf
        if j == self.values.size:
            return np.inf
        return float(midpoint_thresholds(self.values[j - 1:j + 1])[1])


def midpoint_thresholds(values: np.ndarray) -> np.ndarray:
    """Thresholds of the ``U + 1`` operating points over sorted distinct ``values``."""
    lo, hi = values[:-1], values[1:]
    mid = lo + (hi - lo) / 2
    # Adjacent floats: the midpoint may round onto ``lo``, which ``>=`` would accept.
    mid = np.where(mid > lo, mid, hi)
    return np.concatenate(([-np.inf], mid, [np.inf]))


def sweep(*classes: np.ndarray) -> Sweep:
    """Sweep the threshold over the pooled scores of ``classes`` (already checked arrays)."""
    counts = np.array([c.size for c in classes], dtype=np.int64)
    merged = np.concatenate([np.sort(c) for c in classes])
    # A stable sort of concatenated sorted runs is a linear-time merge (timsort).
    order = np.argsort(merged, kind="stable")
    ordered = merged[order]
    if len(classes) == 2:
        labels = (order >= counts[0]).view(np.int8)
    else:
        labels = np.searchsorted(np.cumsum(counts), order, side="right").astype(np.int8)
    del order, merged
    same = ordered[1:] == ordered[:-1]
    # Last index of each group of equal scores (all of them when no score repeats).
    ends = np.append(np.flatnonzero(~same), ordered.size - 1) if same.any() else None
    values = ordered if ends is None else ordered[ends]
    rejected = np.zeros((len(classes), values.size + 1), dtype=np.int64)
    n_rejected = np.arange(1, ordered.size + 1, dtype=np.int64) if ends is None else ends + 1
    for k in range(1, len(classes)):
        cum = np.cumsum(labels == k if len(classes) > 2 else labels, dtype=np.int64)
        rejected[k, 1:] = cum if ends is None else cum[ends]
    rejected[0, 1:] = n_rejected - rejected[1:, 1:].sum(axis=0)
    return Sweep(rejected, counts, values)
