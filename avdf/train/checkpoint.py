"""Checkpoints: atomic save, latest-epoch discovery, and averaging of the best ones."""
from __future__ import annotations

import logging
import pickle
import re
import zipfile
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


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read as tensors and plain Python values."""


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint (tensors and plain Python only: ``torch.load(weights_only=True)``).

    Every failure is a :class:`CheckpointError` of one line naming the file: a missing or
    truncated file, another format, a pickle holding other objects (refused, never loaded
    unsafely)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights only" in str(e).lower() or "weights_only" in str(e):
            raise CheckpointError(f"{path}: holds Python objects other than tensors, numbers and strings; "
                                  "avdf reads tensors only and refuses it") from None
        raise CheckpointError(f"{path}: not a torch checkpoint ({_first_line(e)})") from None
    except PermissionError as e:
        raise CheckpointError(f"{path}: cannot be read: {e.strerror}") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot be read: truncated, or not a torch checkpoint "
                              f"({_first_line(e)})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: holds a {type(obj).__name__}, not a dict of tensors")
    return obj


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def state_mismatch(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> str | None:
    """None when ``state`` has exactly ``expected``'s keys and shapes, else what differs."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shaped = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys ({_listing(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys ({_listing(unexpected)})")
    if shaped:
        parts.append(f"{len(shaped)} mis-shaped keys (" + ", ".join(
            f"{k}: checkpoint {tuple(state[k].shape)}, model {tuple(expected[k].shape)}" for k in shaped[:3])
            + (", ..." if len(shaped) > 3 else "") + ")")
    return "; ".join(parts) or None


def _listing(keys: list[str], n: int = 4) -> str:
    return ", ".join(keys[:n]) + (", ..." if len(keys) > n else "")


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
