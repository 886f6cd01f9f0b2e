"""One-class softmax (Zhang, Jiang, Li 2021) for countermeasures: bona fide embeddings are
pulled within cosine ``m_real`` of one direction, spoofs pushed below ``m_fake``.
Class 0 is bona fide, 1 spoof; the score (higher = bona fide) is the cosine.
:func:`one_class_loss` is the loss on given cosines (the CM task's ``loss: {name: ocsoftmax}``
with a model whose own head gives the cosine, avdf.models.cm.one_class)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def one_class_loss(score: torch.Tensor, bona_fide: torch.Tensor, m_real: float = 0.9, m_fake: float = 0.2,
                   alpha: float = 20.0) -> torch.Tensor:
    """Per-item loss ``softplus(alpha (m_real - s))`` for bona fide and ``softplus(alpha (s -
    m_fake))`` for spoofs, ``s`` the cosine to the bona fide direction (``bona_fide``: bool)."""
    margin = torch.where(bona_fide, m_real - score, score - m_fake)
    return F.softplus(alpha * margin)


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
        loss = one_class_loss(s, labels == 0, self.m_real, self.m_fake, self.alpha).mean()
        return loss, torch.stack([self.alpha * s, -self.alpha * s], dim=1)
