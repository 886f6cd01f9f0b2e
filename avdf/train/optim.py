"""Optimizers and learning-rate schedules from a config's ``optim:`` and ``scheduler:`` sections."""
from __future__ import annotations

import math
from typing import Any, Iterable

import torch

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
SCHEDULERS = ("none", "cosine", "step", "exponential")


def build_optimizer(params: Iterable[torch.nn.Parameter], conf: dict[str, Any]) -> torch.optim.Optimizer:
    """``optim: {name: adam, lr: 1e-3, weight_decay: 0, betas: [0.9, 0.999], ...}``.

    ``grad_clip`` is read by the trainer, not passed to the optimizer.
    """
    conf = dict(conf)
    name = conf.pop("name", "adam").lower()
    conf.pop("grad_clip", None)
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")
    if "betas" in conf:
        conf["betas"] = tuple(conf["betas"])
    return OPTIMIZERS[name](params, **conf)


def build_scheduler(optimizer: torch.optim.Optimizer, conf: dict[str, Any] | None,
                    steps_per_epoch: int, epochs: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step schedule as a multiplier of the base learning rate.

    ``cosine``: linear warm-up over ``warmup_steps`` then cosine decay to
    ``min_lr_ratio`` x lr at the last step (AASIST's schedule with the defaults).
    ``step``: x ``gamma`` every ``step_epochs`` epochs. ``exponential``: x ``gamma`` per
    epoch. ``none``: constant (after the warm-up).
    """
    conf = dict(conf or {})
    name = conf.get("name", "none").lower()
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r}; known: {', '.join(SCHEDULERS)}")
    warmup = int(conf.get("warmup_steps", 0))
    total = max(1, steps_per_epoch * epochs)
    min_ratio = float(conf.get("min_lr_ratio", 0.0))
    gamma = float(conf.get("gamma", 0.5 if name == "step" else 0.95))
    step_epochs = int(conf.get("step_epochs", 10))
    spe = max(1, steps_per_epoch)

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if name == "cosine":
            progress = min(1.0, (step - warmup) / max(1, total - warmup))
            return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
        if name == "step":
            return gamma ** ((step // spe) // step_epochs)
        if name == "exponential":
            return gamma ** (step // spe)
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
