"""The anomaly-detection proxy of the probe study: model real videos only, and call
what does not fit them fake. One Gaussian of the real videos' frame features, its
covariance shrunk towards a scaled identity (Ledoit-Wolf) so that it stays invertible
when frames are few or strongly correlated; scored by :class:`avdf.models.av.probe.GaussianProbe`.
"""
from __future__ import annotations

import logging

import numpy as np
import torch
from scipy.linalg import solve_triangular
from sklearn.covariance import ledoit_wolf

from avdf.models.av.probe import GaussianProbe
from avdf.tasks.probe import FeatsDataset

logger = logging.getLogger(__name__)


def real_frames(ds: FeatsDataset, max_frames: int = 200_000, seed: int = 0) -> np.ndarray:
    """Frames of the real videos of ``ds``, thinned evenly to at most ``max_frames``."""
    real = [u for u, f in zip(ds.utts, ds.fake) if not f]
    if len(real) < 2:
        raise ValueError(f"the anomaly model needs at least 2 real videos, the data has {len(real)}")
    per_video = max(1, max_frames // len(real))
    rng = np.random.default_rng(seed)
    parts = []
    for u in real:
        x = ds.load(u)
        if x.shape[0] > per_video:
            x = x[np.sort(rng.choice(x.shape[0], per_video, replace=False))]
        parts.append(x)
    return np.concatenate(parts).astype(np.float64)


def fit_gaussian(model: GaussianProbe, frames: np.ndarray) -> dict[str, float]:
    """Set ``model``'s standardisation, mean and precision from ``frames`` (N x D, real only)."""
    n, d = frames.shape
    if n < 2:
        raise ValueError(f"{n} real frames: too few to fit a Gaussian")
    mean, std = frames.mean(0), np.maximum(frames.std(0), 1e-5)
    z = (frames - mean) / std
    mu = z.mean(0)
    cov, shrinkage = ledoit_wolf(z - mu, assume_centered=True)
    # cov = C C^T  =>  precision = C^-T C^-1 = L L^T with L = C^-T (no eigendecomposition needed)
    c_inv = solve_triangular(np.linalg.cholesky(cov), np.eye(d), lower=True)
    model.norm.set_stats(torch.from_numpy(mean).float(), torch.from_numpy(std).float())
    model.mu.copy_(torch.from_numpy(mu).float())
    model.precision_chol.copy_(torch.from_numpy(c_inv.T.copy()).float())
    logger.info("Gaussian of %d real frames, dim %d, Ledoit-Wolf shrinkage %.3f", n, d, shrinkage)
    return {"frames": float(n), "dim": float(d), "shrinkage": float(shrinkage)}
