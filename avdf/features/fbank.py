"""Log mel filterbanks (Kaldi ``compute-fbank-feats``), the ECAPA/ResNet input of WeSpeaker:
80 bins, 25 ms / 10 ms, hamming window, 16-bit sample scale, no dither by default (give
``dither: 1.0`` to train as WeSpeaker does)."""
from __future__ import annotations

import torch
import torchaudio.compliance.kaldi as kaldi
from torch import nn

from avdf.features.mfcc import INT16_SCALE


class Fbank(nn.Module):
    """``forward(wave (B, T)) -> (B, frames, num_mel_bins)``."""

    def __init__(self, sample_rate: int = 16000, num_mel_bins: int = 80, frame_length: float = 25.0,
                 frame_shift: float = 10.0, low_freq: float = 20.0, high_freq: float = 0.0,
                 window_type: str = "hamming", snip_edges: bool = True, energy_floor: float = 0.0,
                 dither: float = 0.0, int16_scale: bool = True):
        super().__init__()
        self.sample_rate = sample_rate
        self.scale = INT16_SCALE if int16_scale else 1.0
        self.kwargs = dict(sample_frequency=float(sample_rate), num_mel_bins=num_mel_bins,
                           frame_length=frame_length, frame_shift=frame_shift, low_freq=low_freq,
                           high_freq=high_freq, window_type=window_type, snip_edges=snip_edges,
                           energy_floor=energy_floor, dither=dither)
        self.dim = num_mel_bins

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return torch.stack([kaldi.fbank(w[None] * self.scale, **self.kwargs) for w in wave.float()])
