"""Cosine scoring after subtracting a mean (the training embeddings' mean, as WeSpeaker
and Kaldi's x-vector recipes do), plus the vectorised helpers every scorer here uses."""
from __future__ import annotations

import numpy as np


def length_normalize(x: np.ndarray, scale_to_sqrt_dim: bool = False) -> np.ndarray:
    """Rows scaled to unit norm (or to norm sqrt(dim), Kaldi's ``ivector-normalize-length``)."""
    n = np.linalg.norm(x, axis=1, keepdims=True)
    out = x / np.maximum(n, 1e-12)
    return out * np.sqrt(x.shape[1]) if scale_to_sqrt_dim else out


def pair_dot(a: np.ndarray, b: np.ndarray, ia: np.ndarray, ib: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """``sum(a[ia] * b[ib], axis=1)`` in chunks (no (n_trials, dim) matrix held at once)."""
    out = np.empty(len(ia), dtype=np.float64)
    for s in range(0, len(ia), chunk):
        out[s:s + chunk] = np.einsum("ij,ij->i", a[ia[s:s + chunk]], b[ib[s:s + chunk]])
    return out


class CosineScorer:
    """``score(enroll, test)``: cosine of mean-subtracted embeddings."""

    def __init__(self, mean: np.ndarray | None = None):
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float64)

    @classmethod
    def fit(cls, train: np.ndarray) -> "CosineScorer":
        return cls(np.asarray(train, dtype=np.float64).mean(0))

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return length_normalize(x - self.mean if self.mean is not None else x)

    def score_pairs(self, enroll: np.ndarray, test: np.ndarray, ie: np.ndarray, it: np.ndarray) -> np.ndarray:
        """Scores of trials ``(enroll[ie[k]], test[it[k]])``."""
        return pair_dot(self.transform(enroll), self.transform(test), ie, it)

    def score_matrix(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """All-pairs scores (len(a), len(b))."""
        return self.transform(a) @ self.transform(b).T
