"""Softmax and the angular-margin softmax losses of speaker verification.

- ``Softmax``: a linear layer and cross-entropy (the Kaldi x-vector).
- ``ASoftmax`` (SphereFace, Liu et al. 2017): target logit ``|x| psi(m theta)`` with the
  monotonic ``psi(t) = (-1)^k cos(t) - 2k``, blended with ``|x| cos(theta)`` by
  ``lambda = max(lambda_min, lambda_base (1 + gamma step)^-power)``, annealed over steps.
- ``AMSoftmax`` (CosFace/AM, Wang et al. 2018): ``s (cos theta - m)`` for the target.
- ``AAMSoftmax`` (ArcFace, Deng et al. 2019): ``s cos(theta + m)`` for the target, with
  the usual linear continuation past ``theta = pi - m`` (``easy_margin`` false).

Margin scheduling as WeSpeaker does it (optional): the margin grows from 0 to ``margin``
between epochs ``margin_schedule.start`` and ``.end`` (1-based) along WeSpeaker's
exponential ramp ``1 - 0.001^p`` (p the fraction of the ramp done), then stays at
``margin``. The step count is a buffer, so it is checkpointed and a resumed run
continues the schedule.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class _MarginHead(nn.Module):
    """Cosine classifier ``W`` (n_classes, in_dim) with a step counter for schedules."""

    def __init__(self, in_dim: int, n_classes: int, margin: float, scale: float,
                 margin_schedule: dict | None = None, steps_per_epoch: int = 0):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_classes, in_dim))
        nn.init.xavier_uniform_(self.weight)
        self.margin, self.scale = float(margin), float(scale)
        self.schedule = dict(margin_schedule or {})
        if self.schedule and set(self.schedule) - {"start", "end"}:
            raise ValueError(f"margin_schedule takes start and end (epochs), got {sorted(self.schedule)}")
        self.steps_per_epoch = int(steps_per_epoch)
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def current_margin(self) -> float:
        if not self.schedule:
            return self.margin
        if self.steps_per_epoch <= 0:
            raise ValueError("margin_schedule needs steps_per_epoch (set by the task)")
        epoch = float(self.step) / self.steps_per_epoch + 1  # 1-based, fractional
        start, end = float(self.schedule["start"]), float(self.schedule["end"])
        if epoch < start:
            return 0.0
        if epoch >= end:
            return self.margin
        p = (epoch - start) / (end - start)
        return self.margin * (1 - 0.001 ** p)

    def cosine(self, emb: torch.Tensor) -> torch.Tensor:
        return F.linear(F.normalize(emb.float(), dim=1), F.normalize(self.weight.float(), dim=1)).clamp(-1, 1)

    def logits(self, emb: torch.Tensor) -> torch.Tensor:
        """Scaled cosines without margin (evaluation)."""
        return self.scale * self.cosine(emb)

    def target_logit(self, cos: torch.Tensor, emb: torch.Tensor, margin: float) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, emb: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cos = self.cosine(emb)
        m = self.current_margin()
        if self.training:
            self.step += 1
        onehot = F.one_hot(labels, cos.shape[1]).bool()
        tgt = self.target_logit(cos.gather(1, labels[:, None]), emb, m)
        logits = torch.where(onehot, tgt, self.scale * cos)
        return F.cross_entropy(logits, labels), logits


class Softmax(nn.Module):
    """Affine classifier + cross-entropy."""

    def __init__(self, in_dim: int, n_classes: int):
        super().__init__()
        self.fc = nn.Linear(in_dim, n_classes)

    def logits(self, emb: torch.Tensor) -> torch.Tensor:
        return self.fc(emb)

    def forward(self, emb: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.fc(emb)
        return F.cross_entropy(logits.float(), labels), logits


class AMSoftmax(_MarginHead):
    def __init__(self, in_dim: int, n_classes: int, margin: float = 0.2, scale: float = 30.0,
                 margin_schedule: dict | None = None, steps_per_epoch: int = 0):
        super().__init__(in_dim, n_classes, margin, scale, margin_schedule, steps_per_epoch)

    def target_logit(self, cos, emb, margin):
        return self.scale * (cos - margin)


class AAMSoftmax(_MarginHead):
    def __init__(self, in_dim: int, n_classes: int, margin: float = 0.2, scale: float = 30.0,
                 easy_margin: bool = False, margin_schedule: dict | None = None, steps_per_epoch: int = 0):
        super().__init__(in_dim, n_classes, margin, scale, margin_schedule, steps_per_epoch)
        self.easy_margin = easy_margin

    def target_logit(self, cos, emb, margin):
        sin = torch.sqrt((1.0 - cos * cos).clamp(0, 1))
        phi = cos * math.cos(margin) - sin * math.sin(margin)  # cos(theta + m)
        if self.easy_margin:
            phi = torch.where(cos > 0, phi, cos)
        else:  # past theta = pi - m, continue linearly so the logit keeps decreasing in theta
            phi = torch.where(cos > math.cos(math.pi - margin), phi, cos - math.sin(math.pi - margin) * margin)
        return self.scale * phi


class ASoftmax(_MarginHead):
    """SphereFace; ``margin`` is the integer angle multiplier m (4 in the paper). The logits
    are ``|x| cos`` (unnormalised features), so ``scale`` is unused."""

    def __init__(self, in_dim: int, n_classes: int, margin: int = 4, lambda_base: float = 1000.0,
                 lambda_min: float = 5.0, gamma: float = 0.12, power: float = 1.0,
                 steps_per_epoch: int = 0):
        super().__init__(in_dim, n_classes, margin, 1.0, None, steps_per_epoch)
        if int(margin) != margin or margin < 1:
            raise ValueError(f"asoftmax margin must be a positive integer, got {margin}")
        self.m = int(margin)
        self.lambda_base, self.lambda_min, self.gamma, self.power = lambda_base, lambda_min, gamma, power

    def current_lambda(self) -> float:
        return max(self.lambda_min, self.lambda_base * (1 + self.gamma * float(self.step)) ** -self.power)

    def logits(self, emb):
        return emb.float().norm(dim=1, keepdim=True) * self.cosine(emb)

    def forward(self, emb, labels):
        cos = self.cosine(emb)
        norm = emb.float().norm(dim=1, keepdim=True)
        lam = self.current_lambda()
        if self.training:
            self.step += 1
        c = cos.gather(1, labels[:, None])
        theta = torch.acos(c.clamp(-1 + 1e-7, 1 - 1e-7))
        k = torch.floor(self.m * theta / math.pi)
        psi = (1 - 2 * torch.remainder(k, 2)) * torch.cos(self.m * theta) - 2 * k
        tgt = norm * (psi + lam * c) / (1 + lam)
        logits = norm * cos
        logits = logits.scatter(1, labels[:, None], tgt)
        return F.cross_entropy(logits, labels), logits
