"""Checkpoints: atomic save, latest-epoch discovery, and averaging of the best ones."""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Sequence

import torch

from avdf.utils.fileio import atomic_path

logger = logging.getLogger(__name__)
_EPOCH_RE = re.compile(r"^epoch_(\d+)\.pt$")


def save(state: dict[str, Any], path: str | Path) -> None:
    """``torch.save`` to a temporary name, then rename: a kill never leaves half a file."""
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(state, tmp)


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save` (tensors and plain Python only)."""
    return torch.load(path, map_location=map_location, weights_only=True)


def epoch_checkpoints(ckpt_dir: str | Path) -> dict[int, Path]:
    """``{epoch: path}`` of every ``epoch_N.pt`` in ``ckpt_dir``."""
    d = Path(ckpt_dir)
    if not d.is_dir():
        return {}
    out = {}
    for p in d.iterdir():
        m = _EPOCH_RE.match(p.name)
        if m:
            out[int(m.group(1))] = p
    return dict(sorted(out.items()))


def latest(ckpt_dir: str | Path) -> Path | None:
    ckpts = epoch_checkpoints(ckpt_dir)
    return ckpts[max(ckpts)] if ckpts else None


def rank_epochs(history: Sequence[dict[str, Any]], metric: str, mode: str) -> list[dict[str, Any]]:
    """The rows of a training ``history`` (one dict per epoch, ``valid_<metric>`` where
    validated) best first: by ``valid_<metric>`` (``mode`` ``min`` or ``max``), ties to the
    later epoch; without any validated row, latest first."""
    if mode not in ("min", "max"):
        raise ValueError(f"selection mode must be min or max, got {mode!r}")
    key = f"valid_{metric}"
    rows = [r for r in history if key in r]
    if not rows:
        return sorted(history, key=lambda r: -r["epoch"])
    sign = 1 if mode == "min" else -1
    return sorted(rows, key=lambda r: (sign * r[key], -r["epoch"]))


def improving_epochs(history: Sequence[dict[str, Any]], metric: str, mode: str) -> list[int]:
    """The epochs whose ``valid_<metric>`` was at least as good as every earlier one (ties
    count), oldest first: the snapshots AASIST's official training averages by SWA."""
    if mode not in ("min", "max"):
        raise ValueError(f"selection mode must be min or max, got {mode!r}")
    key, sign, best, out = f"valid_{metric}", 1 if mode == "min" else -1, None, []
    for r in history:
        if key in r and (best is None or sign * r[key] <= best):
            best = sign * r[key]
            out.append(r["epoch"])
    return out


def average_state_dicts(paths: Sequence[str | Path]) -> dict[str, torch.Tensor]:
    """Element-wise mean of the ``model`` weights in ``paths`` (accumulated in float64,
    returned in each tensor's own dtype); integer buffers such as BatchNorm's
    ``num_batches_tracked`` are taken from the last checkpoint."""
    if not paths:
        raise ValueError("no checkpoints to average")
    acc: dict[str, torch.Tensor] = {}
    dtypes: dict[str, torch.dtype] = {}
    for p in paths:
        for k, v in load(p)["model"].items():
            if torch.is_floating_point(v):
                dtypes[k] = v.dtype
                acc[k] = acc[k] + v.double() if k in acc else v.double()
            else:
                acc[k] = v.clone()
    return {k: (v / len(paths)).to(dtypes[k]) if k in dtypes else v for k, v in acc.items()}
