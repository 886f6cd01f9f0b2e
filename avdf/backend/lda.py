"""Linear discriminant analysis as Kaldi's ``ivector-compute-lda`` with
``--total-covariance-factor=0``: directions maximising between- over within-speaker
covariance (the generalised eigenproblem B v = l W v), scaled so that the within-speaker
covariance becomes the identity, largest ratios first."""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
from scipy.linalg import eigh

logger = logging.getLogger(__name__)


def class_scatter(x: np.ndarray, labels: Sequence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, within-class covariance, between-class covariance), both weighted by utterances."""
    x = np.asarray(x, dtype=np.float64)
    _, y = np.unique(np.asarray(labels), return_inverse=True)
    counts = np.bincount(y).astype(np.float64)
    mean = x.mean(0)
    sums = np.zeros((len(counts), x.shape[1]))
    np.add.at(sums, y, x)
    cls_means = sums / counts[:, None]
    dm = cls_means - mean
    between = (dm * counts[:, None]).T @ dm / len(x)
    within = np.cov(x.T, bias=True) * 1.0 - between if x.shape[0] > 1 else np.zeros_like(between)
    return mean, (within + within.T) / 2, (between + between.T) / 2


class LDA:
    """``transform(x) = (x - mean) @ proj`` with ``proj`` (dim, lda_dim)."""

    def __init__(self, mean: np.ndarray, proj: np.ndarray, ratios: np.ndarray | None = None):
        self.mean, self.proj = mean, proj
        self.ratios = ratios

    @classmethod
    def fit(cls, x: np.ndarray, labels: Sequence, dim: int, floor: float = 1e-8) -> "LDA":
        n_classes = len(set(labels))
        if dim > min(x.shape[1], n_classes - 1):
            new = min(x.shape[1], n_classes - 1)
            logger.warning("LDA: %d dimensions asked, but %d classes in %d dims allow %d; using %d",
                           dim, n_classes, x.shape[1], new, new)
            dim = new
        if dim < 1:
            raise ValueError(f"LDA needs at least 2 classes, got {n_classes}")
        mean, within, between = class_scatter(x, labels)
        within += floor * np.trace(within) / len(within) * np.eye(len(within))
        evals, evecs = eigh(between, within)  # evecs' W evecs = I
        order = np.argsort(-evals)[:dim]
        return cls(mean, evecs[:, order], evals[order])

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.mean) @ self.proj

    def state(self) -> dict[str, np.ndarray]:
        return {"lda_mean": self.mean, "lda_proj": self.proj, "lda_ratios": self.ratios}

    @classmethod
    def from_state(cls, s) -> "LDA":
        return cls(s["lda_mean"], s["lda_proj"], s["lda_ratios"])
