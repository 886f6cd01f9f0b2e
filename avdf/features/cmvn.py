"""Cepstral mean normalisation: sliding-window (Kaldi ``apply-cmvn-sliding --center=true``)
and whole-utterance. Applied where features are read, after VAD decisions are made on
the raw energies."""
from __future__ import annotations

import numpy as np

CMN_TYPES = ("sliding", "utterance", "none")


def sliding_cmn(feats: np.ndarray, window: int = 300, norm_vars: bool = False) -> np.ndarray:
    """Subtract from frame t the mean of the ``window`` frames centred on it; near the
    edges the window is shifted to stay inside the utterance (Kaldi's centred mode), so
    an utterance shorter than ``window`` is normalised by its whole mean."""
    x = np.asarray(feats, dtype=np.float64)
    n = x.shape[0]
    if n == 0:
        return feats
    t = np.arange(n)
    start = t - window // 2
    end = start + window
    shift_right = np.maximum(0, -start)
    start, end = start + shift_right, end + shift_right
    shift_left = np.maximum(0, end - n)
    start, end = np.maximum(0, start - shift_left), end - shift_left
    csum = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
    count = (end - start)[:, None]
    mean = (csum[end] - csum[start]) / count
    out = x - mean
    if norm_vars:
        csq = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x * x, axis=0)])
        var = (csq[end] - csq[start]) / count - mean ** 2
        out = out / np.sqrt(np.maximum(var, 1e-10))
    return out.astype(feats.dtype if np.issubdtype(feats.dtype, np.floating) else np.float32)


def apply_cmn(feats: np.ndarray, cmn: str = "sliding", window: int = 300) -> np.ndarray:
    """``cmn`` is ``sliding`` (``window`` frames), ``utterance`` or ``none``."""
    if cmn == "sliding":
        return sliding_cmn(feats, window)
    if cmn == "utterance":
        return (feats - feats.mean(axis=0, keepdims=True)).astype(feats.dtype)
    if cmn == "none":
        return feats
    raise ValueError(f"cmn must be one of {CMN_TYPES}, got {cmn!r}")
