"""Gaussian mixture models (diagonal or full covariance) trained by EM, in torch.

Used by the LFCC/CQCC-GMM countermeasure (diagonal, one GMM per class) and by the
i-vector UBM (diagonal first, then full covariance, as Kaldi's ``sid/train_diag_ubm.sh``
and ``train_full_ubm.sh``). Frames can be one ``(N, D)`` tensor or a function that
returns an iterable of ``(n, D)`` batches, so a corpus that does not fit in memory
streams through each EM iteration; statistics accumulate in float64 on the GMM's
device, so the result does not depend on the batch size.

    gmm = GMM.init_from_frames(frames, 512, "diag", seed=0)
    gmm.fit(frames, n_iter=10)
    llk = gmm.log_likelihood(x)              # (N,) log p(x)
    full = gmm.to_full(); full.fit(frames, n_iter=4)
    gmm.save("exp/ubm/final_diag.pt"); GMM.load("exp/ubm/final_diag.pt")
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Callable, Iterable, Union

import torch

from avdf.utils.fileio import atomic_path

logger = logging.getLogger(__name__)

Frames = Union[torch.Tensor, Callable[[], Iterable[torch.Tensor]]]
COVARIANCE_TYPES = ("diag", "full")


def _batches(frames: Frames, batch_size: int) -> Iterable[torch.Tensor]:
    if isinstance(frames, torch.Tensor):
        for i in range(0, frames.shape[0], batch_size):
            yield frames[i:i + batch_size]
    else:
        for part in frames():
            for i in range(0, part.shape[0], batch_size):
                yield part[i:i + batch_size]


@dataclass
class GMMStats:
    """Sufficient statistics: zeroth ``n`` (C,), first ``f`` (C, D), second ``s``
    ((C, D) for diagonal, (C, D, D) for full), total log-likelihood and frame count."""

    n: torch.Tensor
    f: torch.Tensor
    s: torch.Tensor
    llk: float = 0.0
    frames: int = 0

    def __iadd__(self, other: "GMMStats") -> "GMMStats":
        self.n += other.n
        self.f += other.f
        self.s += other.s
        self.llk += other.llk
        self.frames += other.frames
        return self


class GMM:
    """A GMM with weights (C,), means (C, D) and covariances (C, D) or (C, D, D)."""

    def __init__(self, weights: torch.Tensor, means: torch.Tensor, covars: torch.Tensor):
        if means.ndim != 2 or weights.shape != means.shape[:1]:
            raise ValueError(f"GMM: weights {tuple(weights.shape)} and means {tuple(means.shape)} disagree")
        if covars.shape not in (means.shape, means.shape + means.shape[1:]):
            raise ValueError(f"GMM: covariances of shape {tuple(covars.shape)} fit neither diagonal "
                             f"{tuple(means.shape)} nor full {tuple(means.shape + means.shape[1:])}")
        self.weights, self.means, self.covars = weights, means, covars
        self._cache: dict[str, torch.Tensor] | None = None

    # -- properties ---------------------------------------------------------------------
    @property
    def covariance_type(self) -> str:
        return "full" if self.covars.ndim == 3 else "diag"

    @property
    def n_components(self) -> int:
        return self.means.shape[0]

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def device(self) -> torch.device:
        return self.means.device

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "GMM":
        return GMM(*(t.to(device=device, dtype=dtype) for t in (self.weights, self.means, self.covars)))

    # -- construction -------------------------------------------------------------------
    @classmethod
    def init_from_frames(cls, frames: torch.Tensor, n_components: int, covariance_type: str = "diag",
                         seed: int = 0, kmeans_iter: int = 0) -> "GMM":
        """Means at ``n_components`` distinct random frames (refined by ``kmeans_iter``
        Lloyd iterations), every covariance the global one, uniform weights."""
        if covariance_type not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}, got {covariance_type!r}")
        if frames.ndim != 2 or frames.shape[0] < n_components:
            raise ValueError(f"need a (N, D) frame matrix with N >= {n_components} components, "
                             f"got {tuple(frames.shape)}")
        x = frames.double()
        g = torch.Generator(device="cpu").manual_seed(seed)
        means = x[torch.randperm(x.shape[0], generator=g)[:n_components].to(x.device)].clone()
        for _ in range(kmeans_iter):
            assign = torch.cdist(x, means).argmin(1)
            counts = torch.bincount(assign, minlength=n_components).double()
            sums = torch.zeros_like(means).index_add_(0, assign, x)
            ok = counts > 0
            means[ok] = sums[ok] / counts[ok, None]
        var = x.var(0, unbiased=False).clamp_min(1e-10)
        covars = var.expand(n_components, -1).clone() if covariance_type == "diag" else \
            torch.diag(var).expand(n_components, -1, -1).clone()
        weights = torch.full((n_components,), 1.0 / n_components, dtype=x.dtype, device=x.device)
        dt = frames.dtype if frames.is_floating_point() else torch.float32
        return cls(weights.to(dt), means.to(dt), covars.to(dt))

    def to_full(self) -> "GMM":
        """The same mixture with full covariance matrices (diagonal ones expanded)."""
        if self.covariance_type == "full":
            return GMM(self.weights.clone(), self.means.clone(), self.covars.clone())
        return GMM(self.weights.clone(), self.means.clone(), torch.diag_embed(self.covars))

    def to_diag(self) -> "GMM":
        """The same mixture with only the diagonals of the covariances (for Gaussian selection)."""
        if self.covariance_type == "diag":
            return GMM(self.weights.clone(), self.means.clone(), self.covars.clone())
        return GMM(self.weights.clone(), self.means.clone(), torch.diagonal(self.covars, dim1=1, dim2=2).clone())

    # -- likelihoods --------------------------------------------------------------------
    def _precompute(self) -> dict[str, torch.Tensor]:
        if self._cache is not None:
            return self._cache
        w, mu, cov = self.weights, self.means, self.covars
        d = self.dim
        if self.covariance_type == "diag":
            prec = 1.0 / cov
            const = torch.log(w) - 0.5 * (d * math.log(2 * math.pi) + torch.log(cov).sum(1)
                                          + (mu * mu * prec).sum(1))
            self._cache = {"prec": prec, "mu_prec": mu * prec, "const": const}
        else:
            chol = torch.linalg.cholesky(cov.double())
            prec = torch.cholesky_inverse(chol).to(cov.dtype)
            logdet = 2 * torch.log(torch.diagonal(chol, dim1=1, dim2=2)).sum(1).to(cov.dtype)
            mu_prec = torch.einsum("cij,cj->ci", prec, mu)
            const = torch.log(w) - 0.5 * (d * math.log(2 * math.pi) + logdet + (mu * mu_prec).sum(1))
            self._cache = {"prec": prec.reshape(self.n_components, d * d), "mu_prec": mu_prec, "const": const}
        return self._cache

    def component_log_likelihood(self, x: torch.Tensor) -> torch.Tensor:
        """``log w_c + log N(x_t; mu_c, Sigma_c)`` for every frame and component: (N, C)."""
        p = self._precompute()
        x = x.to(device=self.device, dtype=self.means.dtype)
        if self.covariance_type == "diag":
            quad = (x * x) @ p["prec"].T
        else:
            quad = (x[:, :, None] * x[:, None, :]).reshape(x.shape[0], -1) @ p["prec"].T
        return p["const"] + x @ p["mu_prec"].T - 0.5 * quad

    def log_likelihood(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x_t)`` for every frame: (N,)."""
        return torch.logsumexp(self.component_log_likelihood(x), dim=1)

    def posteriors(self, x: torch.Tensor) -> torch.Tensor:
        """Component posteriors (N, C), rows summing to one."""
        return torch.softmax(self.component_log_likelihood(x), dim=1)

    # -- EM -----------------------------------------------------------------------------
    def zero_stats(self) -> GMMStats:
        c, d = self.n_components, self.dim
        kw = {"dtype": torch.float64, "device": self.device}
        s = torch.zeros((c, d), **kw) if self.covariance_type == "diag" else torch.zeros((c, d, d), **kw)
        return GMMStats(torch.zeros(c, **kw), torch.zeros((c, d), **kw), s)

    def accumulate(self, x: torch.Tensor, stats: GMMStats | None = None) -> GMMStats:
        """Add the E-step statistics of frames ``x`` (N, D) to ``stats`` (new ones if None)."""
        stats = stats if stats is not None else self.zero_stats()
        x = x.to(device=self.device, dtype=self.means.dtype)
        lc = self.component_log_likelihood(x)
        llk = torch.logsumexp(lc, dim=1)
        post = torch.exp(lc - llk[:, None]).double()
        xd = x.double()
        stats.n += post.sum(0)
        stats.f += post.T @ xd
        if self.covariance_type == "diag":
            stats.s += post.T @ (xd * xd)
        else:  # sum_n post[n, c] x_n x_n', in frame blocks that keep the (n, C, D) product near 2^25 values
            c, d = self.n_components, self.dim
            step = max(1, 2 ** 25 // (c * d))
            flat = stats.s.view(c * d, d)
            for i in range(0, x.shape[0], step):
                p, xb = post[i:i + step], xd[i:i + step]
                flat += (p[:, :, None] * xb[:, None, :]).reshape(len(xb), c * d).T @ xb
        stats.llk += float(llk.double().sum())
        stats.frames += x.shape[0]
        return stats

    def m_step(self, stats: GMMStats, var_floor: float = 1e-3, min_count: float = 1e-3) -> None:
        """Re-estimate from ``stats``. Covariances (eigenvalues, for full ones) are floored at
        ``var_floor`` times the mean global variance; a component whose count is below
        ``min_count`` keeps its parameters (the mixture keeps its size)."""
        n = stats.n
        total = n.sum()
        ok = n > min_count
        if not bool(ok.all()):
            logger.warning("GMM: %d of %d components have a count below %g; keeping their parameters",
                           int((~ok).sum()), self.n_components, min_count)
        safe_n = n.clamp_min(min_count)
        mu = stats.f / safe_n[:, None]
        glob_mean = stats.f.sum(0) / total
        if self.covariance_type == "diag":
            glob_var = stats.s.sum(0) / total - glob_mean ** 2
            floor = var_floor * float(glob_var.mean().clamp_min(1e-20))
            cov = (stats.s / safe_n[:, None] - mu * mu).clamp_min(floor)
        else:
            glob_var = torch.diagonal(stats.s.sum(0), dim1=0, dim2=1) / total - glob_mean ** 2
            floor = var_floor * float(glob_var.mean().clamp_min(1e-20))
            cov = stats.s / safe_n[:, None, None] - mu[:, :, None] * mu[:, None, :]
            cov = 0.5 * (cov + cov.transpose(1, 2))
            evals, evecs = torch.linalg.eigh(cov)
            cov = evecs @ torch.diag_embed(evals.clamp_min(floor)) @ evecs.transpose(1, 2)
        dt = self.means.dtype
        w = (n / total).clamp_min(1e-10)
        self.weights = torch.where(ok, w.to(dt), self.weights)
        self.weights = self.weights / self.weights.sum()
        keep = ok.view(-1, *([1] * (self.covars.ndim - 1)))
        self.means = torch.where(ok[:, None], mu.to(dt), self.means)
        self.covars = torch.where(keep, cov.to(dt), self.covars)
        self._cache = None

    def fit(self, frames: Frames, n_iter: int = 10, batch_size: int = 20000, var_floor: float = 1e-3,
            min_count: float = 1e-3, progress: bool = True) -> list[float]:
        """``n_iter`` EM iterations over ``frames``; returns the mean log-likelihood per frame
        before each iteration's update (it never decreases, up to flooring)."""
        history = []
        for it in range(n_iter):
            stats = self.zero_stats()
            for batch in _batches(frames, batch_size):
                self.accumulate(batch, stats)
            if stats.frames == 0:
                raise ValueError("GMM.fit: no frames")
            avg = stats.llk / stats.frames
            history.append(avg)
            if progress:
                logger.info("GMM %s C=%d iter %d/%d: average log-likelihood %.4f over %d frames",
                            self.covariance_type, self.n_components, it + 1, n_iter, avg, stats.frames)
            self.m_step(stats, var_floor=var_floor, min_count=min_count)
        return history

    # -- I/O ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"weights": self.weights.cpu(), "means": self.means.cpu(), "covars": self.covars.cpu()}

    def save(self, path: str | os.PathLike) -> None:
        with atomic_path(path, suffix=".pt") as tmp:
            torch.save(self.state_dict(), tmp)

    @classmethod
    def load(cls, path: str | os.PathLike, device: torch.device | str = "cpu") -> "GMM":
        state = torch.load(path, map_location=device, weights_only=True)
        missing = {"weights", "means", "covars"} - set(state)
        if missing:
            raise ValueError(f"{path}: not a GMM file (missing {sorted(missing)})")
        return cls(state["weights"], state["means"], state["covars"])
