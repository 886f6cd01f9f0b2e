"""Fixed sinc band-pass filters on the mel scale: the first layer of RawNet2 and AASIST.

``out_channels`` band-pass FIR filters whose cut-offs are equally spaced on the mel
scale between 0 and fs/2 (via a 512-point FFT frequency grid, as both papers' code
does), each the difference of two ideal low-pass sincs times a Hamming window. The
filters are fixed (a buffer, not parameters): the RawNet2 ASVspoof 2021 baseline and
AASIST both keep them frozen. An even ``kernel_size`` is made odd (+1) so that the
filters are symmetric.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


def _hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + f / 700.0)


def _mel_to_hz(m):
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_sinc_filters(out_channels: int, kernel_size: int, sample_rate: int = 16000, n_fft: int = 512) -> np.ndarray:
    """``(out_channels, kernel_size)`` Hamming-windowed band-pass filters, mel-spaced."""
    grid = (sample_rate // 2) * np.linspace(0, 1, n_fft // 2 + 1)
    mel = _hz_to_mel(grid)
    edges = _mel_to_hz(np.linspace(mel.min(), mel.max(), out_channels + 1))
    t = np.arange(-(kernel_size - 1) / 2, (kernel_size - 1) / 2 + 1)
    window = np.hamming(kernel_size)
    filters = np.empty((out_channels, kernel_size))
    for i in range(out_channels):
        lo, hi = edges[i], edges[i + 1]
        ideal = (2 * hi / sample_rate) * np.sinc(2 * hi * t / sample_rate) \
            - (2 * lo / sample_rate) * np.sinc(2 * lo * t / sample_rate)
        filters[i] = window * ideal
    return filters


class SincConv(nn.Module):
    """``(B, T)`` or ``(B, 1, T)`` -> ``(B, out_channels, T - kernel_size + 1)`` (no padding)."""

    def __init__(self, out_channels: int, kernel_size: int, sample_rate: int = 16000):
        super().__init__()
        if kernel_size % 2 == 0:
            kernel_size += 1
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        filters = mel_sinc_filters(out_channels, kernel_size, sample_rate)
        self.register_buffer("filters", torch.tensor(filters, dtype=torch.float32).unsqueeze(1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 2:
            x = x.unsqueeze(1)
        return nn.functional.conv1d(x, self.filters.to(x.dtype))

    def extra_repr(self) -> str:
        return f"out_channels={self.out_channels}, kernel_size={self.kernel_size}, fixed mel-spaced"
