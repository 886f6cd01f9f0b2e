"""PLDA, the two-covariance model (Ioffe 2006; Brümmer & de Villiers 2010; Kaldi's
``ivector-compute-plda``): an embedding is ``x = mu + y + e`` with the speaker variable
``y ~ N(0, B)`` and the residual ``e ~ N(0, W)``. B and W are trained by EM from
speaker-labelled embeddings (initialised from the between- and within-speaker
covariances). Scoring uses the transform that makes W the identity and B diagonal
(``psi``): for an enrolment mean ``u_e`` of ``n`` embeddings and a test ``u_t``,

    LLR = log N(u_t; n psi/(n psi + 1) u_e, 1 + psi/(n psi + 1)) - log N(u_t; 0, 1 + psi)

summed over dimensions: the exact log-likelihood ratio of same versus different speaker.

speechbrain's ``processing.PLDA_LDA.PLDA`` is not used: it trains the simplified PLDA (a
rank-limited eigenvoice matrix F plus a full residual covariance, from SIDEKIT), a
different model from Kaldi's two-covariance one, and works on its own StatObject_SB
containers.
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
from scipy.linalg import eigh

from avdf.backend.lda import class_scatter

logger = logging.getLogger(__name__)


def _simultaneous_diag(W: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """V with V' W V = I and V' B V = diag(psi); psi descending."""
    psi, V = eigh(B, W)
    order = np.argsort(-psi)
    return V[:, order], np.maximum(psi[order], 0.0)


class PLDA:
    """A trained two-covariance PLDA: ``mean``, ``transform`` V and ``psi``."""

    def __init__(self, mean: np.ndarray, transform: np.ndarray, psi: np.ndarray):
        self.mean, self.transform_mat, self.psi = mean, transform, psi

    # -- training -----------------------------------------------------------------------
    @classmethod
    def fit(cls, x: np.ndarray, labels: Sequence, n_iter: int = 10, floor: float = 1e-6) -> "PLDA":
        x = np.asarray(x, dtype=np.float64)
        spk, y = np.unique(np.asarray(labels), return_inverse=True)
        if len(spk) < 2:
            raise ValueError(f"PLDA needs at least 2 speakers, got {len(spk)}")
        counts = np.bincount(y).astype(np.float64)
        mean, W, B = class_scatter(x, labels)
        d = x.shape[1]
        reg = floor * np.trace(W) / d * np.eye(d)
        W, B = W + reg, B + reg
        xc = x - mean
        sums = np.zeros((len(spk), d))
        np.add.at(sums, y, xc)
        scatter = xc.T @ xc
        for it in range(n_iter):
            V, psi = _simultaneous_diag(W, B)
            # in the diagonal space: posterior of y_s is N(m_s, diag(c_s))
            zbar = (sums @ V) / counts[:, None]
            c = psi[None, :] / (1.0 + counts[:, None] * psi[None, :])
            m = counts[:, None] * c * zbar
            Vinv = np.linalg.inv(V)
            B_new = (m.T @ m + np.diag(c.sum(0))) / len(spk)
            sz = (counts[:, None] * zbar)
            W_new = (V.T @ scatter @ V - sz.T @ m - m.T @ sz + (m * counts[:, None]).T @ m
                     + np.diag((c * counts[:, None]).sum(0))) / len(x)
            B = Vinv.T @ B_new @ Vinv
            W = Vinv.T @ W_new @ Vinv
            B, W = (B + B.T) / 2 + reg, (W + W.T) / 2 + reg
            logger.debug("PLDA EM iteration %d: trace(B) %.4g trace(W) %.4g", it + 1, np.trace(B), np.trace(W))
        V, psi = _simultaneous_diag(W, B)
        return cls(mean, V, psi)

    def covariances(self) -> tuple[np.ndarray, np.ndarray]:
        """(B, W) in the input space."""
        Vinv = np.linalg.inv(self.transform_mat)
        return Vinv.T @ np.diag(self.psi) @ Vinv, Vinv.T @ Vinv

    # -- scoring ------------------------------------------------------------------------
    def transform(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.mean) @ self.transform_mat

    def _terms(self, n_enroll: float = 1.0):
        psi = self.psi
        a = n_enroll * psi / (n_enroll * psi + 1.0)
        v1 = 1.0 + psi / (n_enroll * psi + 1.0)
        v0 = 1.0 + psi
        const = 0.5 * np.sum(np.log(v0) - np.log(v1))
        return a, v1, v0, const

    def llr_matrix(self, enroll: np.ndarray, test: np.ndarray, n_enroll: float = 1.0) -> np.ndarray:
        """LLRs of every (enroll, test) pair: (len(enroll), len(test))."""
        ue, ut = self.transform(enroll), self.transform(test)
        a, v1, v0, const = self._terms(n_enroll)
        qe = -0.5 * (ue * ue) @ (a * a / v1)
        qt = 0.5 * (ut * ut) @ (1.0 / v0 - 1.0 / v1)
        return const + qe[:, None] + qt[None, :] + (ue * (a / v1)) @ ut.T

    def llr_pairs(self, enroll: np.ndarray, test: np.ndarray, ie: np.ndarray, it: np.ndarray,
                  n_enroll: float = 1.0, chunk: int = 65536) -> np.ndarray:
        """LLRs of trials ``(enroll[ie[k]], test[it[k]])``."""
        ue, ut = self.transform(enroll), self.transform(test)
        a, v1, v0, const = self._terms(n_enroll)
        qe = -0.5 * (ue * ue) @ (a * a / v1)
        qt = 0.5 * (ut * ut) @ (1.0 / v0 - 1.0 / v1)
        ue_w = ue * (a / v1)
        out = np.empty(len(ie))
        for s in range(0, len(ie), chunk):
            e, t = ie[s:s + chunk], it[s:s + chunk]
            out[s:s + chunk] = const + qe[e] + qt[t] + np.einsum("ij,ij->i", ue_w[e], ut[t])
        return out

    def state(self) -> dict[str, np.ndarray]:
        return {"plda_mean": self.mean, "plda_transform": self.transform_mat, "plda_psi": self.psi}

    @classmethod
    def from_state(cls, s) -> "PLDA":
        return cls(s["plda_mean"], s["plda_transform"], s["plda_psi"])
