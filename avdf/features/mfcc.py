"""Kaldi-compatible MFCC (``compute-mfcc-feats``), with Kaldi's ``add-deltas`` optional.

Defaults follow Kaldi's own (``--use-energy=true``, ``--energy-floor=0``, povey window,
``--dither`` off here for reproducible features); set the rest as the recipes do, for
example Kaldi's VoxCeleb x-vector ``conf/mfcc.conf``: 16 kHz, 25 ms / 10 ms,
``--num-mel-bins=30 --num-ceps=30 --low-freq=20 --high-freq=7600 --snip-edges=false``.
Audio in [-1, 1] is scaled to the 16-bit range first (``int16_scale``), as Kaldi reads
integer samples: log energies, and so the VAD threshold, then mean what they mean in Kaldi.
"""
from __future__ import annotations

import torch
import torchaudio.compliance.kaldi as kaldi
from torch import nn

INT16_SCALE = 32768.0


def delta_filters(order: int, window: int = 2) -> list[torch.Tensor]:
    """Kaldi's ``DeltaFeatures`` filters: filter i (length 2*i*window+1) gives the i-th delta."""
    scales = [torch.tensor([1.0], dtype=torch.float64)]
    norm = float(sum(j * j for j in range(-window, window + 1)))
    for _ in range(order):
        prev = scales[-1]
        cur = torch.zeros(prev.numel() + 2 * window, dtype=torch.float64)
        for j in range(-window, window + 1):
            cur[j + window: j + window + prev.numel()] += j * prev / norm
        scales.append(cur)
    return scales


def add_deltas(feats: torch.Tensor, order: int = 2, window: int = 2) -> torch.Tensor:
    """(frames, dim) -> (frames, dim * (order + 1)), edges clamped as Kaldi's ``add-deltas``."""
    if order == 0:
        return feats
    out = [feats]
    x = feats.T[None]  # (1, dim, frames)
    for f in delta_filters(order, window)[1:]:
        half = (f.numel() - 1) // 2
        padded = torch.nn.functional.pad(x, (half, half), mode="replicate") if x.shape[-1] > 1 \
            else x.expand(-1, -1, 2 * half + 1)
        w = f.to(feats.dtype).expand(feats.shape[1], 1, -1)
        out.append(torch.nn.functional.conv1d(padded, w, groups=feats.shape[1])[0].T)
    return torch.cat(out, dim=1)


class MFCC(nn.Module):
    """``forward(wave (B, T)) -> (B, frames, num_ceps * (deltas + 1))``; c0 is the log energy
    when ``use_energy`` (what the energy VAD reads)."""

    def __init__(self, sample_rate: int = 16000, num_ceps: int = 30, num_mel_bins: int = 30,
                 frame_length: float = 25.0, frame_shift: float = 10.0, low_freq: float = 20.0,
                 high_freq: float = 7600.0, snip_edges: bool = False, use_energy: bool = True,
                 energy_floor: float = 0.0, dither: float = 0.0, cepstral_lifter: float = 22.0,
                 deltas: int = 0, int16_scale: bool = True):
        super().__init__()
        if num_ceps > num_mel_bins:
            raise ValueError(f"mfcc: num_ceps {num_ceps} > num_mel_bins {num_mel_bins}")
        self.sample_rate = sample_rate
        self.deltas = deltas
        self.scale = INT16_SCALE if int16_scale else 1.0
        self.kwargs = dict(sample_frequency=float(sample_rate), num_ceps=num_ceps, num_mel_bins=num_mel_bins,
                           frame_length=frame_length, frame_shift=frame_shift, low_freq=low_freq,
                           high_freq=high_freq, snip_edges=snip_edges, use_energy=use_energy,
                           energy_floor=energy_floor, dither=dither, cepstral_lifter=cepstral_lifter)
        self.dim = num_ceps * (deltas + 1)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        out = []
        for w in wave.float():
            feats = kaldi.mfcc(w[None] * self.scale, **self.kwargs)
            out.append(add_deltas(feats, self.deltas))
        return torch.stack(out)
