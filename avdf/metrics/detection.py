"""Two-class detection metrics: EER, minDCF, actDCF, Cllr, AUC, ROC and DET curves.

All functions take the scores of the positive class first (bona fide / target / real)
and of the negative class second; higher = more positive; a trial is accepted when
its score is >= the threshold; rates are fractions. Operating points are the
thresholds between distinct score values (:mod:`avdf.metrics.core`), so ties are
handled exactly.
"""
from __future__ import annotations

import numpy as np

from avdf.metrics.core import MetricError, as_scores, sweep


def _two(target_scores, nontarget_scores, names=("target scores", "nontarget scores")):
    return as_scores(target_scores, names[0]), as_scores(nontarget_scores, names[1])


def det_curve(target_scores, nontarget_scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(p_miss, p_fa, thresholds)`` at every operating point, thresholds ascending.

    The first point (threshold ``-inf``) accepts everything (p_miss 0, p_fa 1), the last
    (``+inf``) rejects everything.
    """
    s = sweep(*_two(target_scores, nontarget_scores))
    return s.miss_rate(0), s.accept_rate(1), s.thresholds


def roc_curve(positive_scores, negative_scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fpr, tpr, thresholds)`` with thresholds descending (scikit-learn's order).

    Starts at threshold ``+inf`` (nothing accepted: fpr = tpr = 0) and ends at ``-inf``.
    """
    s = sweep(*_two(positive_scores, negative_scores, ("positive scores", "negative scores")))
    return s.accept_rate(1)[::-1], (1.0 - s.miss_rate(0))[::-1], s.thresholds[::-1]


def eer(target_scores, nontarget_scores) -> tuple[float, float]:
    """Equal error rate, ASVspoof convention: ``(eer, threshold)``.

    Sweeps the operating points, takes the one where ``|P_miss - P_fa|`` is smallest
    (the lowest threshold if several tie) and returns the mean of P_miss and P_fa there.
    Perfect separation gives 0 with a threshold between the two classes.
    """
    s = sweep(*_two(target_scores, nontarget_scores))
    p_miss, p_fa = s.miss_rate(0), s.accept_rate(1)
    j = int(np.argmin(np.abs(p_miss - p_fa)))
    return float((p_miss[j] + p_fa[j]) / 2), s.threshold(j)


def eer_rocch(target_scores, nontarget_scores) -> float:
    """EER of the ROC convex hull (BOSARIS ``rocch2eer``): where the hull meets P_miss = P_fa.

    The hull interpolates between operating points (a randomised mixture of two
    thresholds), so this EER has no single threshold; it is never above
    ``max(P_miss, P_fa)`` of any operating point.
    """
    tar, non = _two(target_scores, nontarget_scores)
    s = sweep(tar, non)
    n_t, n_n = int(s.counts[0]), int(s.counts[1])
    # Integer coordinates, x = accepted nontargets, y = rejected targets, x ascending.
    x = (s.counts[1] - s.rejected[1])[::-1]
    y = s.rejected[0][::-1]
    dx, dy = np.diff(x), np.diff(y)  # dx >= 0, dy <= 0
    # Drop points inside straight vertical/horizontal runs and "right then down" inner
    # corners: none can be a vertex of the lower hull.
    inner = np.zeros(x.size, dtype=bool)
    right, down = (dy == 0) & (dx > 0), (dx == 0) & (dy < 0)
    inner[1:-1] = (right[:-1] & (right[1:] | down[1:])) | (down[:-1] & down[1:])
    hull: list[tuple[int, int]] = []
    for px, py in zip(x[~inner].tolist(), y[~inner].tolist()):
        while len(hull) >= 2:
            (ox, oy), (ax, ay) = hull[-2], hull[-1]
            if (ax - ox) * (py - oy) - (ay - oy) * (px - ox) > 0:
                break
            hull.pop()
        hull.append((px, py))
    # First hull segment where f = P_miss - P_fa changes sign (f decreases along the hull).
    for (x1, y1), (x2, y2) in zip(hull[:-1], hull[1:]):
        f1, f2 = y1 / n_t - x1 / n_n, y2 / n_t - x2 / n_n
        if f1 >= 0 >= f2:
            if f1 == f2:
                return float(x1 / n_n)
            t = f1 / (f1 - f2)
            return float(x1 / n_n + t * (x2 - x1) / n_n)
    raise AssertionError("ROC convex hull does not cross P_miss = P_fa")  # (0,1)..(1,0) always does


def _dcf_norm(p_target: float, c_miss: float, c_fa: float) -> float:
    if not 0.0 < p_target < 1.0:
        raise MetricError(f"p_target must be in (0, 1), got {p_target}")
    if c_miss <= 0 or c_fa <= 0:
        raise MetricError(f"costs must be positive, got c_miss={c_miss}, c_fa={c_fa}")
    return min(c_miss * p_target, c_fa * (1.0 - p_target))


def min_dcf(target_scores, nontarget_scores, p_target: float, c_miss: float = 1.0,
            c_fa: float = 1.0) -> tuple[float, float]:
    """Minimum normalised detection cost: ``(min_dcf, threshold)``.

    ``DCF = c_miss * p_target * P_miss + c_fa * (1 - p_target) * P_fa``, minimised over
    every operating point including accept-all and reject-all, divided by
    ``min(c_miss * p_target, c_fa * (1 - p_target))`` (Kaldi ``compute_min_dcf.py``), the
    cost of the better of the two trivial systems, so the result is <= 1.
    """
    norm = _dcf_norm(p_target, c_miss, c_fa)
    s = sweep(*_two(target_scores, nontarget_scores))
    dcf = c_miss * p_target * s.miss_rate(0) + c_fa * (1.0 - p_target) * s.accept_rate(1)
    j = int(np.argmin(dcf))
    return float(dcf[j] / norm), s.threshold(j)


def bayes_threshold(p_target: float, c_miss: float = 1.0, c_fa: float = 1.0) -> float:
    """LLR threshold of the Bayes decision: ``log(c_fa * (1 - p_target) / (c_miss * p_target))``."""
    _dcf_norm(p_target, c_miss, c_fa)
    return float(np.log(c_fa * (1.0 - p_target) / (c_miss * p_target)))


def act_dcf(target_llrs, nontarget_llrs, p_target: float, c_miss: float = 1.0,
            c_fa: float = 1.0) -> float:
    """Actual normalised DCF of calibrated LLRs at the Bayes threshold (:func:`bayes_threshold`).

    Same cost and normalisation as :func:`min_dcf`; ``act_dcf - min_dcf`` is the
    calibration loss at this operating point.
    """
    norm = _dcf_norm(p_target, c_miss, c_fa)
    tar, non = _two(target_llrs, nontarget_llrs, ("target llrs", "nontarget llrs"))
    thr = bayes_threshold(p_target, c_miss, c_fa)
    p_miss = np.count_nonzero(tar < thr) / tar.size
    p_fa = np.count_nonzero(non >= thr) / non.size
    return float((c_miss * p_target * p_miss + c_fa * (1.0 - p_target) * p_fa) / norm)


def cllr(target_llrs, nontarget_llrs) -> float:
    """Log-likelihood-ratio cost in bits (Brümmer): 0 is perfect, 1 is an uninformative system.

    ``Cllr = (mean log2(1 + e^-t) over targets + mean log2(1 + e^n) over nontargets) / 2``
    with natural-log LLRs.
    """
    tar, non = _two(target_llrs, nontarget_llrs, ("target llrs", "nontarget llrs"))
    c_tar = np.mean(np.logaddexp(0.0, -tar))
    c_non = np.mean(np.logaddexp(0.0, non))
    return float((c_tar + c_non) / (2.0 * np.log(2.0)))


def auc(positive_scores, negative_scores) -> float:
    """Area under the ROC curve: P(positive > negative) + P(tie) / 2 (scikit-learn's value).

    Computed from exact integer counts per distinct score value.
    """
    s = sweep(*_two(positive_scores, negative_scores, ("positive scores", "negative scores")))
    pos_in = np.diff(s.rejected[0])          # positives at each distinct value
    neg_in = np.diff(s.rejected[1])
    neg_below = s.rejected[1][:-1]           # negatives strictly below that value
    twice = 2 * int(np.dot(pos_in, neg_below)) + int(np.dot(pos_in, neg_in))
    return twice / (2 * int(s.counts[0]) * int(s.counts[1]))
