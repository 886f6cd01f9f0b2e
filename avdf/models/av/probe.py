"""Probes on frozen frame-level representations (Boldisor et al.): how much of "real vs
fake" a representation holds, with the least machinery on top.

- :class:`LinearProbe`: one linear layer per frame gives a frame's fake logit; log-sum-exp
  pooling over time gives the video's (a soft maximum: one fake stretch makes a fake video).
- :class:`GaussianProbe`: the anomaly-detection proxy, fitted on real videos only
  (avdf.backend.anomaly): a frame scores its log-density under one Gaussian of the real
  frames (the negative squared Mahalanobis distance, halved); a video, the mean (or a soft
  minimum) of its frames.

Both take ``feats (B, T, D)`` and ``lengths (B,)`` and return ``(video_score (B,),
frame_scores (B, T))`` with **higher = more real**, padded frames set to 0. Features are
standardised with the training set's per-dimension mean and deviation (buffers, saved
with the model).
"""
from __future__ import annotations

import torch
from torch import nn


def frame_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """``(B, max_len)`` bool, True on the real frames."""
    return torch.arange(max_len, device=lengths.device)[None] < lengths[:, None]


def lse_pool(x: torch.Tensor, mask: torch.Tensor, r: float = 1.0) -> torch.Tensor:
    """``(1/r) log(mean_t exp(r x_t))`` over the masked frames: the mean for small ``r``,
    the maximum for large ``r``."""
    x = (r * x).masked_fill(~mask, float("-inf"))
    n = mask.sum(1).clamp(min=1).to(x.dtype)
    return (torch.logsumexp(x, dim=1) - torch.log(n)) / r


class _Standardise(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def set_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean.copy_(mean)
        self.std.copy_(std.clamp(min=1e-5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class LinearProbe(nn.Module):
    """Per-frame linear layer + log-sum-exp pooling (``lse_r`` sets its sharpness)."""

    def __init__(self, in_dim: int, lse_r: float = 1.0, dropout: float = 0.0):
        super().__init__()
        self.norm = _Standardise(in_dim)
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_dim, 1)
        self.lse_r = float(lse_r)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = frame_mask(lengths, feats.shape[1])
        fake = self.linear(self.dropout(self.norm(feats))).squeeze(-1)
        video_fake = lse_pool(fake, mask, self.lse_r)
        return -video_fake, (-fake).masked_fill(~mask, 0.0)


class GaussianProbe(nn.Module):
    """One full-covariance Gaussian of real frames; its parameters are buffers set by
    :func:`avdf.backend.anomaly.fit_gaussian`, not trained by SGD."""

    def __init__(self, in_dim: int, pooling: str = "mean", lse_r: float = 1.0):
        super().__init__()
        if pooling not in ("mean", "softmin"):
            raise ValueError(f"pooling must be mean or softmin, got {pooling!r}")
        self.norm = _Standardise(in_dim)
        self.register_buffer("mu", torch.zeros(in_dim))
        self.register_buffer("precision_chol", torch.eye(in_dim))  # L with precision = L L^T
        self.pooling, self.lse_r = pooling, float(lse_r)

    def frame_scores(self, feats: torch.Tensor) -> torch.Tensor:
        """``-0.5 * (x - mu)^T P (x - mu) / D`` per frame: divided by the dimension so that
        the scores of representations of different sizes are on one scale."""
        z = (self.norm(feats) - self.mu) @ self.precision_chol
        return -0.5 * z.pow(2).sum(-1) / z.shape[-1]

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = frame_mask(lengths, feats.shape[1])
        s = self.frame_scores(feats).masked_fill(~mask, 0.0)
        if self.pooling == "mean":
            video = s.sum(1) / mask.sum(1).clamp(min=1)
        else:
            video = -lse_pool(-s, mask, self.lse_r)
        return video, s
