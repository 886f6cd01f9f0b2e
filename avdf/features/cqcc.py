"""CQCC: constant-Q cepstral coefficients (Todisco, Delgado, Evans 2016/2017), with the options
that reproduce the ASVspoof 2021 LA CQCC-GMM baseline's Python front-end exactly.

Pipeline: constant-Q transform -> log power ``log(|X|^2 + eps)`` -> uniform resampling along
frequency by a cubic spline -> orthonormal DCT-II, first ``n_ceps`` coefficients (c0
included) -> deltas and delta-deltas. The resampling and the DCT are linear in the log
power, so they are folded into one ``(K, n_ceps)`` matrix computed once.

Constant-Q bins: ``f_k = f_min * 2^(k / B)`` (``B = bins_per_octave``), full bandwidth
``Q f_k + gamma`` Hz with ``Q = 2^(1/B) - 2^(-1/B)`` and the variable-Q offset
``gamma = 228.7 Q`` (``cqcc.m``'s); Hann windows in the frequency domain on one FFT of
the whole utterance (non-stationary Gabor frames, the CQT toolbox of Schoerkhuber et al.
2013), "sine" normalised (a sinusoid of amplitude A centred on a bin gives |X| = A), every
bin sampled on the same time grid ("rasterize full"). ``f_min`` defaults to
``f_max / 2^n_octaves``.

The options that differ between the variants:

``cqt``
    ``avdf`` (default, avdf's earlier transform): ``K = B * log2(f_max / f_min)`` bins
    (``f_max`` itself excluded); each window centred at ``f_k`` exactly, of real-valued
    width (at least ``min_window_bins`` FFT bins); ``T // hop_length + 1`` frames, the bins
    computed ``oversample`` times finer when a window is wider than the frame rate and
    their power averaged.
    ``toolbox``: the CQT toolbox's discretisation, as ``cqt.py`` / ``nsgcqwin.py`` /
    ``nsgtf_real.py`` of the baseline compute it: bins ``k = 0 .. floor(B log2(f_max /
    f_min))`` (``f_max`` included), less those whose band reaches past ``fs / 2`` (and
    those below a bin whose band reaches below 0 Hz, unless that is only the first bin:
    the Python port's test); with ``fftres = fs / T`` the window of bin ``k`` is centred
    on FFT bin ``floor(f_k / fftres)`` and has ``max(4, round((Q f_k + gamma) / fftres))``
    points (numpy's round, half to even), ``0.5 + 0.5 cos(2 pi m / L)`` at offsets
    ``m = -floor(L/2) .. ceil(L/2) - 1``; the number of frames is the top bin's window
    length (so it depends on ``T``: about ``T * (Q f_top + gamma) / fs``, a 2.05 ms hop
    at the 2021 settings, and ``hop_length`` / ``min_window_bins`` are not used).
``grid``
    ``step`` (default, avdf's earlier grid): from ``f_min`` in steps of ``f_min / d`` Hz
    (``d = 16``: 16 points in the first octave) up to the top bin: the rate ``1 / (f_min
    (2^(kl/B) - 1)) = d / f_min`` with ``kl = B log2(1 + 1/d)`` that the Matlab ``cqcc.m``
    gives ``resample(..., 'spline')`` (not checked against Matlab's output).
    ``asvspoof2021_py``: ``ceil(K * 9.562 * f_min / d)`` points evenly spaced from the
    first bin's frequency to the last one's, as the Python baseline's ``extract_cqcc``
    (``gmm.py``) computes them (its rate 9.562 against the Matlab's ``d / f_min``).
    Either way a not-a-knot cubic spline along frequency (Matlab's ``spline``; the Python
    baseline's 2-D ``interpn(..., 'splinef2d')`` evaluated at the frame times is the same
    spline, frame by frame).
``delta_axis``, ``delta_win``
    Regression deltas ``sum_k k (x[t+k] - x[t-k]) / (2 sum_k k^2)`` over ``delta_win``
    points, edges replicated, each order the deltas of the previous one. ``time``
    (default): along the frames. ``coefficients``: along the cepstral coefficients within
    each frame, which is what the Python baseline's ``cqccDeltas`` computes (it is given
    the ``(frames, coefficients)`` matrix and filters along its last axis) -- not a time
    derivative; the Matlab baseline's ``Deltas`` runs along time over 7 frames.
``eps``
    Added to the power before the log (Matlab's ``eps``; the Python baseline writes
    2.2204e-16).

The ASVspoof 2021 LA CQCC-GMM baseline (github.com/asvspoof-challenge/2021,
LA/Baseline-CQCC-GMM; checked against the Python version's own output in
``tests/test_cqcc_fidelity.py``; ``egs/asvspoof2019_la/cm1/conf/cqcc_gmm.yaml`` sets it):
``B = 12``, ``f_min = 62.5``, ``f_max = 4000`` (73 bins), ``d = 16``, 20 coefficients
(``cf = 19`` plus c0), deltas and delta-deltas (``ZsdD``): 60 dims; ``cqt: toolbox``,
``grid: asvspoof2021_py``, ``delta_axis: coefficients``, ``delta_win: 5``,
``eps: 2.2204e-16``. For the 2019 baseline's settings ``gmm.py`` quotes the Matlab call
``cqcc(x, fs, 96, fs/2, fs/2^10, 16, 29, 'ZsdD')`` (``B = 96``, 9 octaves below ``fs / 2``,
30 coefficients; not checked here against that baseline's code).

The defaults are avdf's earlier front-end (``B = 96`` over 9 octaves below ``fs / 2``, 20
coefficients, 10 ms frames, 7-point time deltas), kept so that a config written for it
still computes what it did.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.interpolate import CubicSpline
from torch import nn

from avdf.features.lfcc import append_deltas, deltas

CQTS = ("avdf", "toolbox")
GRIDS = ("step", "asvspoof2021_py")
DELTA_AXES = ("time", "coefficients")


def spline_resampling(freqs: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """``(G, K)`` matrix: not-a-knot cubic spline through values at ``freqs``, evaluated on ``grid``."""
    return CubicSpline(freqs, np.eye(len(freqs)), axis=0, bc_type="not-a-knot")(grid)


def cqcc_projection(freqs: np.ndarray, f_min: float, f_max: float, d: int, n_ceps: int) -> np.ndarray:
    """``(K, n_ceps)`` matrix of the ``step`` grid: spline resampling onto steps of ``f_min / d``, then DCT-II."""
    grid = np.arange(f_min, f_max, f_min / d)
    grid = grid[grid <= freqs[-1]]  # no extrapolation past the top bin
    return (dct_basis(len(grid), n_ceps) @ spline_resampling(freqs, grid)).T


def python_baseline_grid(freqs: np.ndarray, f_min: float, d: int) -> np.ndarray:
    """The ``asvspoof2021_py`` grid: ``ceil(K * 9.562 * f_min / d)`` points from the first bin to the last."""
    return np.linspace(freqs[0], freqs[-1], int(math.ceil(len(freqs) * 9.562 * f_min / d)))


def dct_basis(n: int, n_ceps: int) -> np.ndarray:
    """The first ``n_ceps`` rows of the orthonormal DCT-II matrix of size ``n`` (scipy's ``norm='ortho'``)."""
    k = np.arange(n_ceps)[:, None]
    basis = np.sqrt(2.0 / n) * np.cos(np.pi * k * (2 * np.arange(n)[None] + 1) / (2 * n))
    basis[0] /= np.sqrt(2.0)
    return basis


def toolbox_bins(f_min: float, f_max: float, bins_per_octave: int, sample_rate: float,
                 gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Centre frequencies and full bandwidths (Hz) of the CQT toolbox's bins (``cqt: toolbox``)."""
    nyquist = sample_rate / 2
    f_max = min(f_max, nyquist)
    n = math.floor(bins_per_octave * math.log(f_max / f_min, 2)) + 1
    freqs = f_min * 2.0 ** (np.arange(n) / bins_per_octave)
    widths = (2 ** (1 / bins_per_octave) - 2 ** (-1 / bins_per_octave)) * freqs + gamma
    over = np.nonzero(freqs + widths / 2 > nyquist)[0]
    if len(over):
        freqs, widths = freqs[:over[0]], widths[:over[0]]
    under = np.nonzero(freqs - widths / 2 < 0)[0]
    if len(under) and under[-1] > 0:  # the Python port keeps the bins when only the first one is below 0 Hz
        freqs, widths = freqs[under[-1] + 1:], widths[under[-1] + 1:]
    if len(freqs) < 4:
        raise ValueError(f"CQT: {len(freqs)} bins between {f_min} and {f_max} Hz; the spline needs 4")
    return freqs, widths


class CQCC(nn.Module):
    """Waveform ``(B, T)`` -> CQCC ``(B, frames, n_ceps * (delta_order + 1))``; options: module docstring."""

    def __init__(self, sample_rate: int = 16000, bins_per_octave: int = 96, n_octaves: int = 9,
                 f_max: float | None = None, gamma: float | None = None, d: int = 16,
                 n_ceps: int = 20, hop_length: int = 160, delta_order: int = 2, delta_win: int = 7,
                 min_window_bins: int = 4, eps: float = 2.220446049250313e-16,
                 f_min: float | None = None, cqt: str = "avdf", grid: str = "step",
                 delta_axis: str = "time"):
        super().__init__()
        if cqt not in CQTS:
            raise ValueError(f"CQCC cqt {cqt!r}: one of {', '.join(CQTS)}")
        if grid not in GRIDS:
            raise ValueError(f"CQCC grid {grid!r}: one of {', '.join(GRIDS)}")
        if delta_axis not in DELTA_AXES:
            raise ValueError(f"CQCC delta_axis {delta_axis!r}: one of {', '.join(DELTA_AXES)}")
        self.sample_rate = sample_rate
        self.hop_length = hop_length
        self.delta_order = delta_order
        self.delta_win = delta_win
        self.delta_axis = delta_axis
        self.min_window_bins = min_window_bins
        self.eps = float(eps)
        self.cqt = cqt
        f_max = float(f_max or sample_rate / 2)
        octaves_given = f_min is None
        f_min = f_max / 2 ** n_octaves if octaves_given else float(f_min)
        if not 0 < f_min < f_max <= sample_rate / 2:
            raise ValueError(f"CQCC band {f_min}..{f_max} Hz is not inside 0..{sample_rate / 2} Hz")
        ratio = 2 ** (1 / bins_per_octave) - 2 ** (-1 / bins_per_octave)
        gamma = 228.7 * ratio if gamma is None else float(gamma)
        if cqt == "toolbox":
            freqs, widths = toolbox_bins(f_min, f_max, bins_per_octave, sample_rate, gamma)
        else:
            n_bins = bins_per_octave * n_octaves if octaves_given else \
                math.floor(bins_per_octave * math.log2(f_max / f_min) + 1e-9)
            freqs = f_min * 2.0 ** (np.arange(n_bins) / bins_per_octave)
            widths = freqs * ratio + gamma  # full width of each window, Hz
        self.register_buffer("freqs", torch.tensor(freqs), persistent=False)
        self.register_buffer("widths", torch.tensor(widths), persistent=False)
        # avdf's transform: finer time grid when the widest window is wider than the frame rate
        self.oversample = max(1, math.ceil(widths.max() / (sample_rate / hop_length)))
        if grid == "step":
            proj = cqcc_projection(freqs, f_min, f_max, d, n_ceps)
        else:
            g = python_baseline_grid(freqs, f_min, d)
            proj = (dct_basis(len(g), n_ceps) @ spline_resampling(freqs, g)).T
        # avdf's transform keeps its float32 projection; the toolbox one stays in float64
        self.register_buffer("proj", torch.tensor(proj, dtype=torch.float32 if cqt == "avdf" else torch.float64),
                             persistent=False)
        self.dim = n_ceps * (delta_order + 1)

    def cqt_power(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` -> constant-Q power ``(B, frames, K)``."""
        if self.cqt == "toolbox":
            return self._toolbox_power(wave)
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

    def _toolbox_power(self, wave: torch.Tensor) -> torch.Tensor:
        """The CQT toolbox's transform (``cqt: toolbox``), float64: ``(B, frames, K)``."""
        x = wave.double()
        n = x.shape[-1]
        fftres = self.sample_rate / n
        freqs, widths = self.freqs.cpu().numpy(), self.widths.cpu().numpy()
        centre = np.floor(freqs / fftres).astype(np.int64)
        length = np.maximum(4, np.round(widths / fftres)).astype(np.int64)  # window points per bin
        # Every window fits the top bin's, which sets the number of frames: the bandwidths grow
        # with frequency and the band above the top bin (up to fs - f_top) is at least as wide,
        # so the toolbox's rules for a window wider than its neighbour's never apply here.
        m = int(length[-1])
        k = len(freqs)
        width = int(length.max())
        offsets = np.arange(width)[None] - length[:, None] // 2  # -floor(L/2) ..
        valid = np.arange(width)[None] < length[:, None]  # .. ceil(L/2) - 1
        window = np.where(valid, 0.5 + 0.5 * np.cos(2 * np.pi * offsets / length[:, None]), 0.0)
        src = (centre[:, None] + offsets) % n  # FFT bin read (negative frequencies wrap)
        dst = offsets % m  # baseband position in the frame-rate spectrum
        rows = np.broadcast_to(np.arange(k)[:, None], src.shape)
        spec = torch.fft.fft(x)  # (B, T)
        dev = x.device
        vals = spec[:, torch.from_numpy(src[valid]).to(dev)] * torch.from_numpy(window[valid]).to(dev)
        band = torch.zeros(x.shape[0], k * m, dtype=spec.dtype, device=dev)
        band[:, torch.from_numpy(rows[valid] * m + dst[valid]).to(dev)] = vals
        out = torch.fft.ifft(band.view(x.shape[0], k, m), dim=-1) * (2 * m / n)
        return out.abs().pow(2).transpose(1, 2)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        power = self.cqt_power(wave)
        static = torch.log(power + self.eps) @ self.proj  # float64 with cqt: toolbox
        if not self.delta_order:
            feats = static
        elif self.delta_axis == "time":
            feats = append_deltas(static, self.delta_order, self.delta_win)
        else:  # along the coefficients of each frame
            out = [static]
            for _ in range(self.delta_order):
                out.append(deltas(out[-1].transpose(1, 2), self.delta_win).transpose(1, 2))
            feats = torch.cat(out, dim=-1)
        return feats.float()
