"""Linear logistic-regression calibration and fusion of detection scores (BOSARIS / FoCal style).

Given K score columns ``s`` per trial, learn ``llr = w . s + b`` on labelled development
trials by minimising the prior-weighted cross-entropy (Brümmer's Cllr objective)::

    C(w, b) =  pi / N_tar       * sum_tar log(1 + exp(-(w.s + b + logit pi)))
            + (1 - pi) / N_non * sum_non log(1 + exp(  w.s + b + logit pi))

so that each class weighs by the training prior ``pi`` (``p_target``) regardless of the
class counts, and ``w . s + b`` is a natural-log likelihood ratio (the prior log-odds
``logit pi`` is added only inside the objective). K = 1 is calibration, K > 1 is fusion.
Positive class = bona fide / target / real. The objective is convex; it is minimised
with a trust-region Newton method (exact gradient and Hessian).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit, logit

from avdf.data.datadir import DataDir
from avdf.metrics.core import MetricError, as_scores
from avdf.metrics.scorefile import ScoreFileError, join_trial_scores, join_utt_scores, read_score_matrix
from avdf.utils.fileio import atomic_open


class CalibrationError(ValueError):
    """Training failed or the inputs cannot be calibrated."""


def _as_matrix(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise CalibrationError(f"{name}: expected an array of shape (trials, systems), got {a.shape}")
    for k in range(a.shape[1]):
        try:
            as_scores(a[:, k], f"{name} (column {k})")
        except MetricError as e:
            raise CalibrationError(str(e)) from None
    return a


@dataclass
class LinearCalibration:
    """``llr = weights . scores + bias``; ``systems`` names the score columns."""
    weights: list[float]
    bias: float
    p_target: float
    systems: list[str] = field(default_factory=list)
    l2: float = 0.0
    train_counts: dict = field(default_factory=dict)

    def apply(self, scores) -> np.ndarray:
        """LLRs for scores of shape (trials,) or (trials, systems)."""
        s = _as_matrix(scores, "scores")
        if s.shape[1] != len(self.weights):
            raise CalibrationError(f"scores have {s.shape[1]} column(s), the model expects {len(self.weights)}")
        return s @ np.asarray(self.weights) + self.bias

    def save(self, path: str | os.PathLike) -> None:
        with atomic_open(path) as f:
            json.dump({"model": "linear logistic regression (prior-weighted, BOSARIS-style)",
                       "formula": "llr = sum_k weights[k] * score_k + bias (natural log)", **asdict(self)},
                      f, indent=2)
            f.write("\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LinearCalibration":
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        return cls(**{k: d[k] for k in ("weights", "bias", "p_target", "systems", "l2", "train_counts")})


def weighted_cllr_objective(params: np.ndarray, pos: np.ndarray, neg: np.ndarray, p_target: float,
                            l2: float | np.ndarray = 0.0) -> tuple[float, np.ndarray, np.ndarray]:
    """The objective of the module docstring (in nats), its gradient and Hessian in ``(w, b)``."""
    w, b = params[:-1], params[-1]
    offset = logit(p_target)
    xt = np.hstack([pos, np.ones((pos.shape[0], 1))])
    xn = np.hstack([neg, np.ones((neg.shape[0], 1))])
    zt = pos @ w + b + offset
    zn = neg @ w + b + offset
    ct, cn = p_target / pos.shape[0], (1 - p_target) / neg.shape[0]
    value = -ct * log_expit(zt).sum() - cn * log_expit(-zn).sum() + 0.5 * np.sum(l2 * w * w)
    gt, gn = -expit(-zt), expit(zn)                       # d/dz of each term
    grad = ct * xt.T @ gt + cn * xn.T @ gn
    ht, hn = expit(zt) * expit(-zt), expit(zn) * expit(-zn)
    hess = ct * (xt * ht[:, None]).T @ xt + cn * (xn * hn[:, None]).T @ xn
    reg = np.zeros_like(params)
    reg[:-1] = l2
    return value, grad + reg * params, hess + np.diag(reg)


def train_linear(pos, neg, p_target: float = 0.5, l2: float = 0.0,
                 systems: list[str] | None = None) -> LinearCalibration:
    """Fit ``llr = w . s + b`` on positive (bona fide / target) and negative trials.

    ``pos`` and ``neg`` are (trials,) or (trials, systems) arrays. ``l2`` adds
    ``l2/2 * |w|^2`` to the objective (0 = plain BOSARIS). Raises
    :class:`CalibrationError` when the classes are separable (the weights diverge).
    """
    if not 0.0 < p_target < 1.0:
        raise CalibrationError(f"p_target must be in (0, 1), got {p_target}")
    pos, neg = _as_matrix(pos, "positive scores"), _as_matrix(neg, "negative scores")
    if pos.shape[1] != neg.shape[1]:
        raise CalibrationError(f"positive scores have {pos.shape[1]} columns, negative {neg.shape[1]}")
    k = pos.shape[1]
    if k == 1 and l2 == 0.0 and pos.min() > neg.max():
        raise CalibrationError("the training scores separate the classes perfectly: logistic-regression "
                               "calibration is undefined (the scale diverges); use harder or more "
                               "development data, or a small --l2")
    # Standardise the columns for the optimiser; the solution is mapped back exactly.
    allx = np.vstack([pos, neg])
    mu, sd = allx.mean(axis=0), allx.std(axis=0)
    sd[sd == 0] = 1.0
    ps, ns = (pos - mu) / sd, (neg - mu) / sd
    l2_std = l2 / sd ** 2  # the same penalty on the original weights

    def fun(p):
        v, g, _ = weighted_cllr_objective(p, ps, ns, p_target, l2_std)
        return v, g

    res = minimize(fun, np.zeros(k + 1), jac=True, method="trust-exact",
                   hess=lambda p: weighted_cllr_objective(p, ps, ns, p_target, l2_std)[2],
                   options={"gtol": 1e-10, "maxiter": 500})
    w_std, b_std = res.x[:-1], res.x[-1]
    w = w_std / sd
    b = b_std - float(w @ mu)
    # Near the optimum the trust region can stall on rounding ("bad approximation") with a
    # vanishing gradient: that is convergence too.
    converged = res.success or float(np.abs(res.jac).max()) < 1e-8
    if not converged or not np.all(np.isfinite(res.x)):
        raise CalibrationError(f"logistic regression did not converge: {res.message}")
    if l2 == 0.0 and (ps @ w_std).min() > (ns @ w_std).max():
        # A linear score separates the classes: the unpenalised optimum lies at infinity.
        raise CalibrationError("the training scores are linearly separable: logistic regression has no "
                               "finite solution; use more development data or a small --l2")
    return LinearCalibration(weights=[float(x) for x in w], bias=float(b), p_target=p_target,
                             systems=list(systems or [f"system{i}" for i in range(k)]), l2=l2,
                             train_counts={"positive": int(pos.shape[0]), "negative": int(neg.shape[0])})


# ---------------------------------------------------------------- score files
def labelled_scores(paths: list[str], data_dir: str, trials: str | None = None,
                    negatives: tuple[str, ...] = ("nontarget",)) -> tuple[np.ndarray, np.ndarray, dict]:
    """Training scores of K files joined with their keys: ``(positive (n, K), negative (m, K), counts)``.

    Utterance scores use ``data_dir/utt2label`` (bona fide = positive); trial scores use
    ``trials`` (default ``data_dir/trials``): target = positive, the ``negatives`` labels
    negative, other trials left out.
    """
    keys, matrix, n_keys, lines = read_score_matrix(paths)
    scores_1 = dict(zip(keys, matrix[:, 0]))
    order = {k: i for i, k in enumerate(keys)}
    data = DataDir(data_dir)
    if n_keys == 1:
        if not data.has("utt2label"):
            raise ScoreFileError(f"{data.path}/utt2label: required to train on utterance scores, missing")
        utts, _, labels = join_utt_scores(scores_1, lines, paths[0], data.read("utt2label"),
                                          data.path / "utt2label")
        idx = np.array([order[u] for u in utts])
        labels = np.asarray(labels)
        pos_mask, neg_mask = labels == "bonafide", labels == "spoof"
    else:
        tpath = Path(trials) if trials else data.path / "trials"
        tr, _ = join_trial_scores(scores_1, lines, paths[0], tpath)
        idx = np.array([order[(e, t)] for e, t, _ in tr])
        labels = np.array([lab for _, _, lab in tr])
        pos_mask, neg_mask = labels == "target", np.isin(labels, negatives)
    pos, neg = matrix[idx[pos_mask]], matrix[idx[neg_mask]]
    if pos.shape[0] == 0 or neg.shape[0] == 0:
        raise CalibrationError(f"training needs both classes: {pos.shape[0]} positive and {neg.shape[0]} "
                               f"negative trials in {paths[0]} joined with {data.path}")
    counts = {"positive": int(pos.shape[0]), "negative": int(neg.shape[0]),
              "left_out": int(len(keys) - pos.shape[0] - neg.shape[0])}
    return pos, neg, counts


def apply_to_files(model: LinearCalibration, paths: list[str], out: str | os.PathLike) -> int:
    """Write ``<keys> <llr>`` for K score files over the same keys (order of the first file)."""
    keys, matrix, _, _ = read_score_matrix(paths)
    llr = model.apply(matrix)
    with atomic_open(out) as f:
        for key, v in zip(keys, llr):
            f.write(f"{key if isinstance(key, str) else ' '.join(key)} {v:.6f}\n")
    return len(keys)
