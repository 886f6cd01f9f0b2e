"""Tasks: what a kind of training (CM, ASV, AV, ...) adds to the generic trainer.

A config's ``task:`` key names one of ``TASKS``; the trainer (``avdf/train/trainer.py``)
does the rest: DDP, mixed precision, checkpoints, resume, model selection and averaging.
"""
from __future__ import annotations

import importlib
from typing import Any, Iterable, Mapping

import torch
from torch import nn
from torch.utils.data import Dataset

TASKS: dict[str, str] = {
    "asv": "avdf.tasks.asv:ASVTask",
    "probe": "avdf.tasks.probe:ProbeTask",
    "cm": "avdf.tasks.cm:CMTask",
    "av": "avdf.tasks.av:AVTask",
}


class Task:
    """Base class. A subclass gives the model, the data and the two steps.

    ``cfg`` is the resolved config; ``data`` maps role names (``train``, ``valid``,
    ``test``) to data-dir paths given on the command line.
    """

    #: the validation metric used for model selection and whether lower is better
    select_metric: str = "loss"
    select_mode: str = "min"
    #: the documented defaults of the config's ``data:`` section: overrides may set these
    #: keys (``--data.key value``) even where the config file leaves them out
    data_defaults: dict[str, Any] = {}

    def __init__(self, cfg: dict[str, Any], data: Mapping[str, str] | None = None):
        self.cfg = cfg
        self.data = dict(data or {})

    # -- model and data -------------------------------------------------------------
    def build_model(self) -> nn.Module:
        """The module to train; everything with parameters (loss heads too) lives in it."""
        from avdf.models import build_model
        return build_model(self.cfg["model"])

    def train_dataset(self) -> Dataset:
        raise NotImplementedError

    def valid_dataset(self) -> Dataset | None:
        return None

    def collate_fn(self, train: bool):
        return None  # torch's default collate

    # -- steps ------------------------------------------------------------------------
    def training_step(self, model: nn.Module, batch: Any, device: torch.device) -> tuple[torch.Tensor, dict[str, float]]:
        """Return the loss to back-propagate and a dict of numbers to log."""
        raise NotImplementedError

    def validation_outputs(self, model: nn.Module, batch: Any, device: torch.device) -> Iterable[tuple]:
        """Per-item outputs of one validation batch (for example ``(key, score, label)``);
        gathered across ranks and handed to :meth:`validation_metrics`."""
        raise NotImplementedError

    def validation_metrics(self, outputs: list[tuple]) -> dict[str, float]:
        """Metrics over the whole validation set; must contain ``select_metric``."""
        raise NotImplementedError


class UnknownTaskError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def get_task_class(name: str) -> type[Task]:
    """A registered task, or any ``"package.module:Class"`` (a task of the user's own)."""
    if name not in TASKS and ":" in name:
        module, cls = name.split(":")
        return getattr(importlib.import_module(module), cls)
    if name not in TASKS:
        raise UnknownTaskError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS)) or '(none)'}")
    module, cls = TASKS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def build_task(cfg: dict[str, Any], data: Mapping[str, str] | None = None) -> Task:
    if "task" not in cfg:
        raise UnknownTaskError(f"config has no 'task:' key; known tasks: {', '.join(sorted(TASKS)) or '(none)'}")
    return get_task_class(cfg["task"])(cfg, data)
