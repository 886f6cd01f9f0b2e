"""CQCC: constant-Q cepstral coefficients (Todisco, Delgado, Evans 2017), the ASVspoof 2019 baseline's front-end.

Steps, with the 2019 baseline's parameters as defaults:

1. Constant-Q transform in the frequency domain, as the CQT toolbox the baseline uses
   (non-stationary Gabor frames): one FFT of the whole (zero-padded) utterance, then for
   each of the ``K = bins_per_octave * log2(f_max / f_min)`` bins a Hann window centred
   on ``f_k = f_min * 2^(k / bins_per_octave)`` whose full width is
   ``f_k * (2^(1/B) - 2^(-1/B)) + gamma`` Hz (``gamma = 228.7 * (2^(1/B) - 2^(-1/B))``,
   the baseline's variable-Q offset; at least 4 FFT bins), shifted to baseband and
   inverse-transformed on a uniform time grid (the toolbox's ``rasterize full``).
   ``B = 96`` bins per octave, ``f_max = fs / 2``, ``f_min = f_max / 2^9`` (15.6 Hz at
   16 kHz): 864 bins.
2. Log power ``log(|X|^2 + eps)``; frames every ``hop_length`` samples (the bins are
   computed ``oversample`` times finer when a window is wider than the frame rate and
   their power averaged, so the top bins do not alias).
3. Uniform resampling of the log-power spectrum along frequency: a cubic spline (not-a-knot,
   as Matlab's ``spline``) onto a linear grid of spacing ``f_min / d`` Hz (``d = 16``:
   the first octave gets 16 points), 8,176 points at the defaults.
4. Orthonormal DCT-II of the resampled spectrum; the first ``n_ceps`` coefficients (c0
   included, the baseline's ``Z`` option), then deltas and delta-deltas over a
   +-3-frame regression window (the baseline's ``Deltas(x, 3)``).

Steps 3 and 4 are linear in the log power, so they are folded into one
``(K, n_ceps)`` matrix computed once. The ASVspoof 2019 baseline kept 30 coefficients
(``cf = 29`` plus c0: 90 dims with ``ZsdD``); the default here is 20 (60 dims), set
``n_ceps: 30`` for the baseline's size. Frames: ``T // hop_length + 1``.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.interpolate import CubicSpline
from torch import nn

from avdf.features.lfcc import append_deltas


def cqcc_projection(freqs: np.ndarray, f_min: float, f_max: float, d: int, n_ceps: int) -> np.ndarray:
    """``(K, n_ceps)`` matrix: spline resampling onto the uniform grid, then DCT-II (ortho)."""
    step = f_min / d
    grid = np.arange(f_min, f_max, step)
    grid = grid[grid <= freqs[-1]]  # no extrapolation past the top bin
    spline = CubicSpline(freqs, np.eye(len(freqs)), axis=0, bc_type="not-a-knot")
    resample = spline(grid)  # (G, K): resampled = resample @ log_power
    return (dct_basis(len(grid), n_ceps) @ resample).T  # (K, n_ceps)


def dct_basis(n: int, n_ceps: int) -> np.ndarray:
    """The first ``n_ceps`` rows of the orthonormal DCT-II matrix of size ``n`` (scipy's ``norm='ortho'``)."""
    k = np.arange(n_ceps)[:, None]
    basis = np.sqrt(2.0 / n) * np.cos(np.pi * k * (2 * np.arange(n)[None] + 1) / (2 * n))
    basis[0] /= np.sqrt(2.0)
    return basis


class CQCC(nn.Module):
    """Waveform ``(B, T)`` -> CQCC ``(B, T // hop_length + 1, n_ceps * (delta_order + 1))``."""

    def __init__(self, sample_rate: int = 16000, bins_per_octave: int = 96, n_octaves: int = 9,
                 f_max: float | None = None, gamma: float | None = None, d: int = 16,
                 n_ceps: int = 20, hop_length: int = 160, delta_order: int = 2, delta_win: int = 7,
                 min_window_bins: int = 4, eps: float = 2.220446049250313e-16):
        super().__init__()
        self.sample_rate = sample_rate
        self.hop_length = hop_length
        self.delta_order = delta_order
        self.delta_win = delta_win
        self.min_window_bins = min_window_bins
        self.eps = eps
        f_max = float(f_max or sample_rate / 2)
        f_min = f_max / 2 ** n_octaves
        ratio = 2 ** (1 / bins_per_octave) - 2 ** (-1 / bins_per_octave)
        gamma = 228.7 * ratio if gamma is None else float(gamma)
        n_bins = bins_per_octave * n_octaves
        freqs = f_min * 2.0 ** (np.arange(n_bins) / bins_per_octave)
        widths = freqs * ratio + gamma  # full width of each window, Hz
        self.register_buffer("freqs", torch.tensor(freqs), persistent=False)
        self.register_buffer("widths", torch.tensor(widths), persistent=False)
        # finer time grid when the widest window is wider than the frame rate
        self.oversample = max(1, math.ceil(widths.max() / (sample_rate / hop_length)))
        proj = cqcc_projection(freqs, f_min, f_max, d, n_ceps)
        self.register_buffer("proj", torch.tensor(proj, dtype=torch.float32), persistent=False)
        self.dim = n_ceps * (delta_order + 1)

    def cqt_power(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` -> constant-Q power ``(B, frames, K)``."""
        n_frames = wave.shape[-1] // self.hop_length + 1
        length = n_frames * self.hop_length
        x = nn.functional.pad(wave.double(), (0, length - wave.shape[-1]))
        spec = torch.fft.rfft(x)  # (B, length // 2 + 1)
        m = n_frames * self.oversample  # time samples per bin
        centre = self.freqs * length / self.sample_rate  # in FFT bins
        half = torch.clamp(self.widths * length / self.sample_rate / 2, min=self.min_window_bins / 2)
        if 2 * half.max() >= m:
            raise ValueError(f"CQT window of {2 * half.max():.0f} FFT bins does not fit {m} time samples")
        offsets = torch.arange(m, device=x.device) - m // 2
        idx = torch.round(centre).long()[:, None] + offsets  # (K, m)
        dist = (idx - centre[:, None]) / half[:, None]
        inside = (dist.abs() < 1) & (idx >= 0) & (idx < spec.shape[-1])
        window = torch.where(inside, 0.5 + 0.5 * torch.cos(math.pi * dist), torch.zeros_like(dist))
        band = spec[:, idx.clamp(0, spec.shape[-1] - 1)] * window  # (B, K, m), centred at m // 2
        band = torch.fft.ifft(torch.fft.ifftshift(band, dim=-1), dim=-1) * (2 * m / length)
        power = band.abs().pow(2)
        power = power.view(*power.shape[:2], n_frames, self.oversample).mean(-1)
        return power.transpose(1, 2).float()

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        log_power = torch.log(self.cqt_power(wave) + self.eps)
        static = log_power @ self.proj
        return append_deltas(static, self.delta_order, self.delta_win) if self.delta_order else static
