"""LFCC: linear-frequency cepstral coefficients, with the options that reproduce the two
ASVspoof 2021 LA baselines' front-ends exactly.

Pipeline: pre-emphasis ``y[t] = x[t] - preemph * x[t-1]`` -> frames -> window -> power
spectrum ``|FFT|^2`` (``n_fft`` points) -> ``n_filter`` linear triangular filters ->
``log(. + log_floor)`` -> orthonormal DCT-II, first ``n_lfcc`` coefficients -> c0
replaced by the frame log energy (``with_energy``) -> deltas and delta-deltas
(``delta_order``).

The options that differ between the variants:

``center``
    ``true``: frame ``t`` is centred on sample ``t * hop_length``, the signal zero padded
    by ``n_fft // 2`` at both ends (``torch.stft(center=True)``): ``T // hop + 1`` frames.
    ``false``: frame ``t`` starts at sample ``t * hop_length`` and only whole frames are
    kept: ``(T - win_length) // hop + 1`` frames (a signal shorter than one frame is zero
    padded to one).
``window``
    ``hamming`` (periodic, torch's default), ``hamming_symmetric`` (numpy's / Matlab's
    ``hamming``), ``hann`` (periodic).
``filterbank``
    ``torchaudio``: ``torchaudio.functional.linear_fbanks`` on every FFT bin, at its true
    frequency, filter edges evenly spaced over ``[f_min, f_max]``.
    ``nii``: the filter bank of the LFCC-LCNN baseline (Wang's ``sandbox`` toolkit): only
    the bins ``int(f_min / (sr/2) * B)`` up to (not including) ``int(f_max / (sr/2) * B)``
    are kept (``B = n_fft // 2 + 1``); those bins are given frequencies evenly spaced
    from ``f_min`` to ``f_max`` (not their true ones: at 16 kHz with ``n_fft`` 1024 and
    ``f_max`` 4000, bins 0..255 are labelled 0..4000 Hz although bin 255 is at 3984 Hz),
    and triangles with edges evenly spaced over ``[f_min, f_max]`` are evaluated there.
    ``spafe``: the filter bank of the Python LFCC-GMM baseline (spafe 0.1.2's
    ``linear_filter_banks``): the ``n_filter + 2`` evenly spaced edge frequencies are
    rounded down to bins ``floor((n_fft + 1) * f / sr)`` and the triangles are drawn on
    bin indices, over every FFT bin.
``log`` and ``log_floor``
    ``ln`` or ``log10``; the constant added before the log (filter-bank outputs and energy).
``energy_norm``
    The energy that replaces c0 is the sum of the power spectrum over the bins the filter
    bank reads (the kept band for ``nii``, every bin otherwise), divided by ``n_fft`` when
    ``energy_norm: n_fft`` (LFCC-LCNN), not divided with ``none``.
``delta_norm``
    ``true``: HTK / torchaudio regression deltas,
    ``sum_k k (x[t+k] - x[t-k]) / (2 sum_k k^2)`` (``(x[t+1] - x[t-1]) / 2`` for
    ``delta_win`` 3); ``false``: the numerator alone, ``x[t+1] - x[t-1]``, as both
    baselines compute it. Edge frames are replicated either way.

The two official front-ends (github.com/asvspoof-challenge/2021, LA/Baseline-LFCC-LCNN:
``project/baseline_LA/model.py`` and ``sandbox/util_frontend.py``; LA/Baseline-LFCC-GMM:
``python/gmm.py`` ``extract_lfcc`` and ``python/LFCC_pipeline.py``), checked against their
own output in ``tests/test_lfcc_fidelity.py``:

=================  ==========================  ==================================
option             LFCC-LCNN                   LFCC-GMM (Python)
=================  ==========================  ==================================
win / hop / n_fft  320 / 160 / 1024            480 / 240 / 1024 (30 / 15 ms)
center, window     true, hamming (periodic)    false, hamming_symmetric
preemph            0.97                        0 (none)
filterbank         nii, 20 filters, 0-4000 Hz  spafe, 70 filters, 0-4000 Hz
n_lfcc             20                          20
log, log_floor     log10, 1.1920929e-07        log10, 2.2204e-16
with_energy        true, energy_norm n_fft     false
deltas             2 orders, delta_norm false  2 orders, delta_norm false
=================  ==========================  ==================================

The defaults are avdf's earlier front-end (torchaudio filter bank over 0..fs/2, natural
log with floor 1e-6, c0 = log energy, normalised deltas), kept so that a config written
for it still computes what it did; ``egs/asvspoof2019_la/cm1/conf/lfcc_{lcnn,gmm}*.yaml``
set every option.
"""
from __future__ import annotations

import numpy as np
import torch
import torchaudio
from torch import nn

WINDOWS = ("hamming", "hamming_symmetric", "hann")
FILTERBANKS = ("torchaudio", "nii", "spafe")


def deltas(x: torch.Tensor, win_length: int = 3, normalise: bool = True) -> torch.Tensor:
    """Regression deltas of ``(B, frames, dim)`` along the frames, edges replicated."""
    if win_length < 3 or win_length % 2 == 0:
        raise ValueError(f"delta window must be odd and >= 3, got {win_length}")
    n, frames = (win_length - 1) // 2, x.shape[1]
    padded = torch.cat([x[:, :1].expand(-1, n, -1), x, x[:, -1:].expand(-1, n, -1)], dim=1)
    d = padded[:, n + 1:n + 1 + frames] - padded[:, n - 1:n - 1 + frames]
    for k in range(2, n + 1):
        d = d + k * (padded[:, n + k:n + k + frames] - padded[:, n - k:n - k + frames])
    return d / (n * (n + 1) * (2 * n + 1) / 3) if normalise else d


def append_deltas(feats: torch.Tensor, order: int = 2, win_length: int = 3,
                  normalise: bool = True) -> torch.Tensor:
    """``(B, frames, dim)`` -> ``(B, frames, dim * (order + 1))``: statics, deltas, delta-deltas.

    Each order is the deltas of the previous one (``normalise``: see :func:`deltas`).
    """
    out = [feats]
    for _ in range(order):
        out.append(deltas(out[-1], win_length, normalise))
    return torch.cat(out, dim=-1)


def pre_emphasis(wave: torch.Tensor, coef: float) -> torch.Tensor:
    """``y[t] = x[t] - coef * x[t-1]`` (first sample kept)."""
    if coef == 0:
        return wave
    return torch.cat([wave[..., :1], wave[..., 1:] - coef * wave[..., :-1]], dim=-1)


def _triangle(x: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """Triangle rising on ``(a, b)``, falling on ``(b, c)``, 1 at ``b``, 0 elsewhere."""
    y = np.zeros_like(x)
    if a < b:
        up = (x > a) & (x < b)
        y[up] = (x[up] - a) / (b - a)
    if b < c:
        down = (x > b) & (x < c)
        y[down] = (c - x[down]) / (c - b)
    y[x == b] = 1.0
    return y


def nii_filterbank(n_fft: int, sample_rate: int, n_filter: int, f_min: float,
                   f_max: float) -> tuple[np.ndarray, int, int]:
    """The LFCC-LCNN baseline's filter bank: ``(fb (hi - lo, n_filter), lo, hi)``, bins ``lo:hi``."""
    n_bins, nyquist = n_fft // 2 + 1, sample_rate / 2
    lo, hi = int(f_min / nyquist * n_bins), int(f_max / nyquist * n_bins)
    grid = np.linspace(f_min, f_max, hi - lo)  # nominal frequencies of the kept bins
    edges = np.linspace(grid.min(), grid.max(), n_filter + 2)
    fb = np.stack([_triangle(grid, *edges[m:m + 3]) for m in range(n_filter)], axis=1)
    return fb, lo, hi


def spafe_filterbank(n_fft: int, sample_rate: int, n_filter: int, f_min: float,
                     f_max: float) -> np.ndarray:
    """The Python LFCC-GMM baseline's filter bank (spafe 0.1.2): ``(n_fft // 2 + 1, n_filter)``."""
    edges = np.floor((n_fft + 1) * np.linspace(f_min, f_max, n_filter + 2) / sample_rate).astype(int)
    fb = np.zeros((n_fft // 2 + 1, n_filter))
    k = np.arange(n_fft // 2 + 1)
    for m in range(n_filter):
        b0, b1, b2 = edges[m:m + 3]
        if b1 > b0:
            fb[b0:b1, m] = (k[b0:b1] - b0) / (b1 - b0)
        if b2 > b1:
            fb[b1:b2, m] = (b2 - k[b1:b2]) / (b2 - b1)
    return fb


class LFCC(nn.Module):
    """Waveform ``(B, T)`` -> LFCC ``(B, frames, n_lfcc * (delta_order + 1))``; options: module docstring."""

    def __init__(self, sample_rate: int = 16000, n_lfcc: int = 20, n_filter: int = 20,
                 n_fft: int = 512, win_length: int = 320, hop_length: int = 160,
                 f_min: float = 0.0, f_max: float | None = None, preemph: float = 0.97,
                 with_energy: bool = True, delta_order: int = 2, delta_win: int = 3,
                 center: bool = True, window: str = "hamming", filterbank: str = "torchaudio",
                 log: str = "ln", log_floor: float = 1e-6, energy_norm: str = "none",
                 delta_norm: bool = True):
        super().__init__()
        f_max = float(sample_rate / 2 if f_max is None else f_max)
        f_min = float(f_min)
        if window not in WINDOWS:
            raise ValueError(f"LFCC window {window!r}: one of {', '.join(WINDOWS)}")
        if filterbank not in FILTERBANKS:
            raise ValueError(f"LFCC filterbank {filterbank!r}: one of {', '.join(FILTERBANKS)}")
        if log not in ("ln", "log10"):
            raise ValueError(f"LFCC log {log!r}: ln or log10")
        if energy_norm not in ("none", "n_fft"):
            raise ValueError(f"LFCC energy_norm {energy_norm!r}: none or n_fft")
        if not 0 <= f_min < f_max <= sample_rate / 2:
            raise ValueError(f"LFCC band {f_min}..{f_max} Hz is not inside 0..{sample_rate / 2} Hz")
        if n_lfcc > n_filter:
            raise ValueError(f"n_lfcc {n_lfcc} > n_filter {n_filter}")
        if win_length > n_fft:
            raise ValueError(f"win_length {win_length} > n_fft {n_fft}")
        self.sample_rate = sample_rate
        self.n_fft, self.win_length, self.hop_length = n_fft, win_length, hop_length
        self.center, self.preemph = bool(center), float(preemph)
        self.with_energy = bool(with_energy)
        self.delta_order, self.delta_win, self.delta_norm = int(delta_order), int(delta_win), bool(delta_norm)
        self.log_floor = float(log_floor)
        self._log = torch.log10 if log == "log10" else torch.log
        self.energy_scale = 1.0 / n_fft if energy_norm == "n_fft" else 1.0
        self.n_lfcc = n_lfcc
        if window == "hann":
            win = torch.hann_window(win_length)
        else:
            win = torch.hamming_window(win_length, periodic=window == "hamming")
        self.register_buffer("window", win, persistent=False)
        self.bins = (0, n_fft // 2 + 1)
        if filterbank == "torchaudio":
            fb = torchaudio.functional.linear_fbanks(n_fft // 2 + 1, f_min, f_max, n_filter, sample_rate)
        elif filterbank == "nii":
            fb, lo, hi = nii_filterbank(n_fft, sample_rate, n_filter, f_min, f_max)
            fb, self.bins = torch.from_numpy(fb).float(), (lo, hi)
        else:
            fb = torch.from_numpy(spafe_filterbank(n_fft, sample_rate, n_filter, f_min, f_max)).float()
        self.register_buffer("filter_mat", fb, persistent=False)
        self.register_buffer("dct_mat", torchaudio.functional.create_dct(n_lfcc, n_filter, norm="ortho"),
                             persistent=False)
        self.dim = n_lfcc * (delta_order + 1)

    def power_spectrum(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` -> ``(B, frames, bins)``: ``|FFT|^2`` of the windowed frames, the bins the filter bank reads."""
        if self.center:
            spec = torch.stft(wave, self.n_fft, self.hop_length, self.win_length, window=self.window,
                              center=True, pad_mode="constant", onesided=True, return_complex=True)
            power = spec.abs().pow(2).transpose(1, 2)
        else:
            if wave.shape[-1] < self.win_length:
                wave = nn.functional.pad(wave, (0, self.win_length - wave.shape[-1]))
            frames = wave.unfold(-1, self.win_length, self.hop_length) * self.window
            power = torch.fft.rfft(frames, n=self.n_fft).abs().pow(2)
        lo, hi = self.bins
        return power[..., lo:hi]

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        wave = pre_emphasis(wave.float(), self.preemph)
        power = self.power_spectrum(wave)
        static = torch.matmul(self._log(torch.matmul(power, self.filter_mat) + self.log_floor), self.dct_mat)
        if self.with_energy:
            energy = self._log(power.sum(-1) * self.energy_scale + self.log_floor)
            static = torch.cat([energy.unsqueeze(-1), static[..., 1:]], dim=-1)
        if not self.delta_order:
            return static
        return append_deltas(static, self.delta_order, self.delta_win, self.delta_norm)
