"""Classification losses with their own weights (the classifier head lives in the loss).

A config's ``loss:`` section names one of ``LOSSES``; :func:`build_loss` gives it the
embedding size and the number of classes. Each loss module maps ``(embeddings, labels)``
to ``(loss, logits)`` and has ``logits(embeddings)`` (no margin) for evaluation.
"""
from __future__ import annotations

import importlib
from typing import Any

LOSSES: dict[str, str] = {
    "softmax": "avdf.losses.margin:Softmax",
    "asoftmax": "avdf.losses.margin:ASoftmax",
    "amsoftmax": "avdf.losses.margin:AMSoftmax",
    "aamsoftmax": "avdf.losses.margin:AAMSoftmax",
    "ocsoftmax": "avdf.losses.oc_softmax:OCSoftmax",
}


class UnknownLossError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def build_loss(conf: dict[str, Any], in_dim: int, n_classes: int):
    """Instantiate ``conf['name']`` with ``in_dim``, ``n_classes`` and the other keys of ``conf``."""
    name = conf.get("name")
    if name not in LOSSES:
        raise UnknownLossError(f"unknown loss {name!r}; known losses: {', '.join(sorted(LOSSES))}")
    module, cls = LOSSES[name].split(":")
    kwargs = {k: v for k, v in conf.items() if k != "name"}
    return getattr(importlib.import_module(module), cls)(in_dim=in_dim, n_classes=n_classes, **kwargs)
