"""Energy voice-activity detection with the semantics of Kaldi's ``compute-vad``, and
frame selection (``select-voiced-frames``).

A frame is voiced when, among the frames within ``frames_context`` of it, the share whose
log energy (feature column 0: c0 of an MFCC computed with ``use_energy``) exceeds
``energy_threshold + energy_mean_scale * mean(log energy)`` is at least
``proportion_threshold``. Kaldi's VoxCeleb/SRE ``conf/vad.conf`` values are the defaults.
"""
from __future__ import annotations

import numpy as np
import torch

VAD_DEFAULTS = {"energy_threshold": 5.5, "energy_mean_scale": 0.5, "frames_context": 2,
                "proportion_threshold": 0.12}


def vad_options(cfg: dict) -> dict:
    """Kaldi's defaults updated with a config's ``vad:`` section (unknown keys are errors)."""
    conf = dict(cfg.get("vad") or {})
    unknown = set(conf) - set(VAD_DEFAULTS)
    if unknown:
        raise ValueError(f"vad: unknown option(s) {sorted(unknown)}; known: {sorted(VAD_DEFAULTS)}")
    return {**VAD_DEFAULTS, **conf}


def compute_vad(feats: torch.Tensor | np.ndarray, energy_threshold: float = 5.5,
                energy_mean_scale: float = 0.5, frames_context: int = 2,
                proportion_threshold: float = 0.12) -> np.ndarray:
    """(frames, dim) features whose column 0 is the log energy -> (frames,) float32 0/1."""
    col0 = feats[:, 0].detach().cpu().numpy() if isinstance(feats, torch.Tensor) else np.asarray(feats)[:, 0]
    e = torch.tensor(col0, dtype=torch.float64)
    n = e.numel()
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    thr = energy_threshold + (energy_mean_scale * float(e.mean()) if energy_mean_scale != 0 else 0.0)
    above = (e > thr).double()
    k = 2 * frames_context + 1
    ones = torch.ones(1, 1, k, dtype=torch.float64)
    num = torch.nn.functional.conv1d(above[None, None], ones, padding=frames_context)[0, 0]
    den = torch.nn.functional.conv1d(torch.ones(1, 1, n, dtype=torch.float64), ones, padding=frames_context)[0, 0]
    return (num >= den * proportion_threshold).numpy().astype(np.float32)


def select_voiced(feats: np.ndarray, vad: np.ndarray, where: str = "") -> np.ndarray:
    """The voiced frames of ``feats``; all frames (with no error) when none is voiced, as
    an utterance must keep something to score. Lengths must match."""
    if len(vad) != len(feats):
        raise ValueError(f"{where + ': ' if where else ''}VAD has {len(vad)} frames, features {len(feats)}")
    keep = np.asarray(vad) > 0.5
    return feats[keep] if keep.any() else feats
