"""i-vectors: Baum-Welch statistics on a full-covariance UBM, the total-variability matrix
T trained by EM with minimum-divergence re-estimation, and extraction; in torch, batched,
on the GPU when there is one.

Model (Dehak et al. 2011; Kenny's EM): the supervector of an utterance is
``m + T w`` with ``w ~ N(0, I)``. With zeroth- and centred first-order statistics
``N_c = sum_t g_tc`` and ``F_c = sum_t g_tc (x_t - mu_c)``, the posterior of ``w`` has
precision ``L = I + sum_c N_c T_c' S_c^-1 T_c`` and mean ``L^-1 sum_c T_c' S_c^-1 F_c``;
the i-vector is that mean. Everything is computed in the space whitened by each
component's covariance (``S_c = C_c C_c'``, ``T^_c = C_c^-1 T_c``), where the UBM
covariances are identities: ``L = I + sum_c N_c T^_c' T^_c``, and the EM update is
``T^_c = (sum_u F^_uc w_u') (sum_u N_uc E[w_u w_u'])^-1``, followed by minimum-divergence
re-estimation ``T <- T chol(mean_u E[w_u w_u'])``.

Frame posteriors are pruned as Kaldi does for i-vectors: the ``num_gselect`` best
components (by full-covariance likelihood here), posteriors below ``min_post`` dropped
(the best kept) and the rest renormalised.
:mod:`avdf.backend.ivector_ref` is the plain NumPy reference these results are checked
against.
"""
from __future__ import annotations

import logging
import os
from typing import Iterable, Iterator

import torch

from avdf.backend.gmm import GMM
from avdf.utils.fileio import atomic_path

logger = logging.getLogger(__name__)


def frame_posteriors(ubm: GMM, x: torch.Tensor, num_gselect: int = 20, min_post: float = 0.025) -> torch.Tensor:
    """Pruned UBM posteriors (n, C) of frames ``x`` (n, D); rows sum to one."""
    lc = ubm.component_log_likelihood(x)
    k = min(num_gselect, lc.shape[1]) if num_gselect > 0 else lc.shape[1]
    top, idx = lc.topk(k, dim=1)
    post = torch.softmax(top, dim=1)
    if min_post > 0:
        keep = post >= min_post
        keep[:, 0] = True  # topk is sorted: the best one always stays
        post = post * keep
        post = post / post.sum(1, keepdim=True)
    return torch.zeros_like(lc).scatter_(1, idx, post)


def utterance_stats(ubm: GMM, feats: Iterable[torch.Tensor], num_gselect: int = 20,
                    min_post: float = 0.025) -> tuple[torch.Tensor, torch.Tensor]:
    """Zeroth (B, C) and centred first-order (B, C, D) statistics of each utterance (float64)."""
    ns, fs = [], []
    mu = ubm.means.double()
    for x in feats:
        x = x.to(device=ubm.device, dtype=ubm.means.dtype)
        post = frame_posteriors(ubm, x, num_gselect, min_post).double()
        n = post.sum(0)
        ns.append(n)
        fs.append(post.T @ x.double() - n[:, None] * mu)
    return torch.stack(ns), torch.stack(fs)


class IVectorExtractor:
    """A UBM (full covariance) and a total-variability matrix ``T`` (C, D, R), kept whitened."""

    def __init__(self, ubm: GMM, T: torch.Tensor, dtype: torch.dtype = torch.float64):
        if ubm.covariance_type != "full":
            raise ValueError("the i-vector extractor needs a full-covariance UBM (GMM.to_full())")
        if T.shape[:2] != ubm.means.shape:
            raise ValueError(f"T has shape {tuple(T.shape)}, expected ({ubm.n_components}, {ubm.dim}, R)")
        self.ubm = ubm
        self.dtype = dtype
        self.chol = torch.linalg.cholesky(ubm.covars.to(dtype))          # S_c = C_c C_c'
        self.Tw = torch.linalg.solve_triangular(self.chol, T.to(device=ubm.device, dtype=dtype), upper=False)

    # -- shapes and construction --------------------------------------------------------
    @property
    def ivector_dim(self) -> int:
        return self.Tw.shape[2]

    @property
    def T(self) -> torch.Tensor:
        """T in the original feature space (C, D, R)."""
        return self.chol @ self.Tw

    @classmethod
    def init_random(cls, ubm: GMM, ivector_dim: int, seed: int = 0, scale: float = 0.3,
                    dtype: torch.dtype = torch.float64) -> "IVectorExtractor":
        """Whitened T with i.i.d. N(0, scale^2 / R) entries (the first EM step rescales it)."""
        g = torch.Generator().manual_seed(seed)
        c, d = ubm.means.shape
        tw = torch.randn(c, d, ivector_dim, generator=g, dtype=torch.float64) * (scale / ivector_dim ** 0.5)
        ext = cls(ubm, torch.zeros(c, d, ivector_dim, dtype=dtype, device=ubm.device), dtype)
        ext.Tw = tw.to(device=ubm.device, dtype=dtype)
        return ext

    # -- extraction ---------------------------------------------------------------------
    def whiten(self, F: torch.Tensor) -> torch.Tensor:
        """(B, C, D) centred first-order stats -> C_c^-1 F_c."""
        F = F.to(device=self.Tw.device, dtype=self.dtype)
        return torch.linalg.solve_triangular(self.chol, F.unsqueeze(-1), upper=False).squeeze(-1)

    def _TtT(self) -> torch.Tensor:
        c, _, r = self.Tw.shape
        return torch.einsum("cdi,cdj->cij", self.Tw, self.Tw).reshape(c, r * r)

    def posterior(self, N: torch.Tensor, F: torch.Tensor, TtT: torch.Tensor | None = None,
                  whitened: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean (B, R) and covariance (B, R, R) of w from stats ``N`` (B, C), ``F`` (B, C, D)."""
        r = self.ivector_dim
        N = N.to(device=self.Tw.device, dtype=self.dtype)
        Fw = F.to(device=self.Tw.device, dtype=self.dtype) if whitened else self.whiten(F)
        TtT = self._TtT() if TtT is None else TtT
        prec = torch.eye(r, dtype=self.dtype, device=N.device) + (N @ TtT).reshape(-1, r, r)
        linear = Fw.reshape(Fw.shape[0], -1) @ self.Tw.reshape(-1, r)
        chol = torch.linalg.cholesky(prec)
        mean = torch.cholesky_solve(linear.unsqueeze(-1), chol).squeeze(-1)
        cov = torch.cholesky_inverse(chol)
        return mean, cov

    def extract(self, N: torch.Tensor, F: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """i-vectors (B, R) of utterance statistics."""
        TtT = self._TtT()
        return torch.cat([self.posterior(N[i:i + batch_size], F[i:i + batch_size], TtT)[0]
                          for i in range(0, N.shape[0], batch_size)])

    # -- training -----------------------------------------------------------------------
    def em_iteration(self, stats: Iterable[tuple[torch.Tensor, torch.Tensor]],
                     min_divergence: bool = True) -> dict[str, float]:
        """One EM iteration of T over batches of (N, F); returns summary numbers."""
        c, d, r = self.Tw.shape
        dev = self.Tw.device
        A = torch.zeros(c, r * r, dtype=self.dtype, device=dev)
        Cacc = torch.zeros(c * d, r, dtype=self.dtype, device=dev)
        H = torch.zeros(r, r, dtype=self.dtype, device=dev)
        h = torch.zeros(r, dtype=self.dtype, device=dev)
        n_utt = 0
        TtT = self._TtT()
        for N, F in stats:
            N = N.to(device=dev, dtype=self.dtype)
            Fw = self.whiten(F)
            mean, cov = self.posterior(N, Fw, TtT, whitened=True)
            second = cov + mean[:, :, None] * mean[:, None, :]
            A += N.T @ second.reshape(-1, r * r)
            Cacc += Fw.reshape(Fw.shape[0], -1).T @ mean
            H += second.sum(0)
            h += mean.sum(0)
            n_utt += N.shape[0]
        if n_utt == 0:
            raise ValueError("i-vector EM: no utterances")
        A = A.reshape(c, r, r)
        # T^_c' = A_c^-1 C_c'  (A_c symmetric positive definite)
        self.Tw = torch.linalg.solve(A, Cacc.reshape(c, d, r).transpose(1, 2)).transpose(1, 2).contiguous()
        K = H / n_utt
        if min_divergence:
            self.Tw = self.Tw @ torch.linalg.cholesky(K)
        return {"utterances": n_utt, "mean_norm": float((h / n_utt).norm()),
                "prior_trace_per_dim": float(torch.trace(K)) / r}

    # -- I/O ----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        with atomic_path(path, suffix=".pt") as tmp:
            torch.save({"ubm": self.ubm.state_dict(), "T": self.T.cpu()}, tmp)

    @classmethod
    def load(cls, path: str | os.PathLike, device: torch.device | str = "cpu",
             dtype: torch.dtype = torch.float64) -> "IVectorExtractor":
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not {"ubm", "T"} <= set(state):
            raise ValueError(f"{path}: not an i-vector extractor file (needs 'ubm' and 'T')")
        u = state["ubm"]
        ubm = GMM(u["weights"], u["means"], u["covars"]).to(device)
        return cls(ubm, state["T"].to(device), dtype)


def batched(items: Iterable, size: int) -> Iterator[list]:
    """Lists of up to ``size`` consecutive items."""
    batch = []
    for it in items:
        batch.append(it)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
