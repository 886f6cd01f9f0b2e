"""One-class softmax (Zhang, Jiang, Li 2021) for countermeasures: bona fide embeddings are
pulled within cosine ``m_real`` of one direction, spoofs pushed below ``m_fake``.
Class 0 is bona fide, 1 spoof; the score (higher = bona fide) is the cosine."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class OCSoftmax(nn.Module):
    def __init__(self, in_dim: int, n_classes: int = 2, m_real: float = 0.9, m_fake: float = 0.2,
                 alpha: float = 20.0):
        super().__init__()
        if n_classes != 2:
            raise ValueError(f"ocsoftmax is a two-class (bona fide / spoof) loss, got n_classes={n_classes}")
        self.center = nn.Parameter(torch.randn(1, in_dim))
        self.m_real, self.m_fake, self.alpha = m_real, m_fake, alpha

    def score(self, emb: torch.Tensor) -> torch.Tensor:
        """Cosine to the bona fide direction: (B,)."""
        return F.linear(F.normalize(emb.float(), dim=1), F.normalize(self.center.float(), dim=1))[:, 0]

    def logits(self, emb: torch.Tensor) -> torch.Tensor:
        s = self.alpha * self.score(emb)
        return torch.stack([s, -s], dim=1)

    def forward(self, emb: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.score(emb)
        margin = torch.where(labels == 0, self.m_real - s, s - self.m_fake)
        return F.softplus(self.alpha * margin).mean(), torch.stack([self.alpha * s, -self.alpha * s], dim=1)
