"""LFCC: linear-frequency cepstral coefficients, the ASVspoof 2019/2021 baselines' front-end.

Framing as in the ASVspoof 2021 LFCC-LCNN / LFCC-GMM baselines: pre-emphasis 0.97,
20 ms Hamming window (320 samples at 16 kHz), 10 ms shift, 512-point FFT, power
spectrum, 20 linear triangular filters over 0..fs/2, log, DCT-II (orthonormal), 20
coefficients with c0 replaced by the frame log energy, then deltas and delta-deltas:
60 dimensions.

The filter bank, log and DCT are ``torchaudio.transforms.LFCC`` (``log_lf=True``). What
it does not do and this module adds: pre-emphasis and the log-energy c0. What differs
from the baselines' own code, by a constant only: the natural log instead of log10, and
deltas from ``torchaudio.functional.compute_deltas`` (``(x[t+1] - x[t-1]) / 2`` for a
3-frame window), half the baseline's ``x[t+1] - x[t-1]``. Frames are centred
(``center=True``, zero padding): ``T // hop + 1`` frames.
"""
from __future__ import annotations

import torch
import torchaudio
from torch import nn


def append_deltas(feats: torch.Tensor, order: int = 2, win_length: int = 3) -> torch.Tensor:
    """``(B, frames, dim)`` -> ``(B, frames, dim * (order + 1))``: statics, deltas, delta-deltas.

    Edges are replicated, as in the baselines (torchaudio ``compute_deltas``).
    """
    out = [feats]
    x = feats.transpose(1, 2)  # compute_deltas works along the last axis (time)
    for _ in range(order):
        x = torchaudio.functional.compute_deltas(x, win_length=win_length, mode="replicate")
        out.append(x.transpose(1, 2))
    return torch.cat(out, dim=-1)


def pre_emphasis(wave: torch.Tensor, coef: float) -> torch.Tensor:
    """``y[t] = x[t] - coef * x[t-1]`` (first sample kept)."""
    if coef == 0:
        return wave
    return torch.cat([wave[..., :1], wave[..., 1:] - coef * wave[..., :-1]], dim=-1)


class LFCC(nn.Module):
    """Waveform ``(B, T)`` -> LFCC ``(B, T // hop_length + 1, n_lfcc * (delta_order + 1))``."""

    def __init__(self, sample_rate: int = 16000, n_lfcc: int = 20, n_filter: int = 20,
                 n_fft: int = 512, win_length: int = 320, hop_length: int = 160,
                 f_min: float = 0.0, f_max: float | None = None, preemph: float = 0.97,
                 with_energy: bool = True, delta_order: int = 2, delta_win: int = 3):
        super().__init__()
        self.sample_rate = sample_rate
        self.preemph = preemph
        self.with_energy = with_energy
        self.delta_order = delta_order
        self.delta_win = delta_win
        self.hop_length = hop_length
        self.lfcc = torchaudio.transforms.LFCC(
            sample_rate=sample_rate, n_filter=n_filter, n_lfcc=n_lfcc, f_min=f_min, f_max=f_max,
            log_lf=True, speckwargs={"n_fft": n_fft, "win_length": win_length, "hop_length": hop_length,
                                     "window_fn": torch.hamming_window, "power": 2.0,
                                     "center": True, "pad_mode": "constant"})
        self.dim = n_lfcc * (delta_order + 1)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        wave = pre_emphasis(wave.float(), self.preemph)
        if not self.with_energy:
            static = self.lfcc(wave).transpose(1, 2)
        else:
            power = self.lfcc.Spectrogram(wave)  # (B, freq, frames): computed once, used twice
            fbank = torch.matmul(power.transpose(1, 2), self.lfcc.filter_mat)
            static = torch.matmul(torch.log(fbank + 1e-6), self.lfcc.dct_mat)
            energy = torch.log(power.sum(1) + 1e-6)
            static = torch.cat([energy.unsqueeze(-1), static[..., 1:]], dim=-1)
        return append_deltas(static, self.delta_order, self.delta_win) if self.delta_order else static
