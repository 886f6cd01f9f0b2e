"""A one-class head on any CM embedding network (OC-softmax, Zhang, Jiang, Li, IEEE SPL 2021).

``model: {name: one_class, emb_dim: D, backbone: {name: rawnet2, ..., nb_classes: D}}``: the
backbone maps its input to a D-dimensional embedding; this head returns the cosine between
that embedding and one learned bona fide direction, ``(B,)`` in [-1, 1], higher = bona fide.
Train it with the CM task's ``loss: {name: ocsoftmax, m_real: 0.9, m_fake: 0.2, alpha: 20}``,
which pulls bona fide cosines above ``m_real`` and pushes spoofs below ``m_fake``: only the
bona fide class is made compact, which the paper shows generalises better to unseen attacks.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn


class OneClassCM(nn.Module):
    """``backbone`` (a model config) -> embedding ``(B, emb_dim)`` -> cosine to the bona fide direction."""

    def __init__(self, backbone: Mapping[str, Any], emb_dim: int):
        super().__init__()
        from avdf.models import build_model
        if not isinstance(backbone, Mapping) or "name" not in backbone:
            raise ValueError("model.backbone must be a model section with a name, e.g. {name: rawnet2, ...}")
        self.backbone = build_model(dict(backbone))
        self.emb_dim = int(emb_dim)
        self.center = nn.Parameter(torch.randn(1, self.emb_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        emb = self.backbone(x)
        if emb.ndim != 2 or emb.shape[1] != self.emb_dim:
            raise ValueError(f"model.backbone gives {tuple(emb.shape)}, the one-class head expects "
                             f"(B, {self.emb_dim}): set the backbone's output size to model.emb_dim")
        return F.linear(F.normalize(emb.float(), dim=1), F.normalize(self.center.float(), dim=1))[:, 0]
