"""Log power spectrogram, the input of the LCNN variants (Lavrentyeva et al. 2017/2019).

Defaults: 20 ms Hamming window, 10 ms shift, 512-point FFT -> 257 log-power bins
(``log(|X|^2 + 1e-6)``), centred frames (``T // hop + 1``). ``n_bins`` keeps only the
lowest bins (for example 256) so that the frequency axis halves cleanly in a CNN.
"""
from __future__ import annotations

import torch
import torchaudio
from torch import nn

from avdf.features.lfcc import pre_emphasis


class LogSpectrogram(nn.Module):
    """Waveform ``(B, T)`` -> ``(B, T // hop_length + 1, n_bins or n_fft // 2 + 1)``."""

    def __init__(self, sample_rate: int = 16000, n_fft: int = 512, win_length: int = 320,
                 hop_length: int = 160, preemph: float = 0.0, n_bins: int | None = None,
                 window: str = "hamming"):
        super().__init__()
        windows = {"hamming": torch.hamming_window, "hann": torch.hann_window, "blackman": torch.blackman_window}
        if window not in windows:
            raise ValueError(f"spectrogram window {window!r}; known: {', '.join(windows)}")
        n_freq = n_fft // 2 + 1
        if n_bins is not None and not 1 <= n_bins <= n_freq:
            raise ValueError(f"n_bins {n_bins} outside 1..{n_freq} for n_fft {n_fft}")
        self.sample_rate = sample_rate
        self.preemph = preemph
        self.n_bins = n_bins or n_freq
        self.dim = self.n_bins
        self.spec = torchaudio.transforms.Spectrogram(
            n_fft=n_fft, win_length=win_length, hop_length=hop_length, window_fn=windows[window],
            power=2.0, center=True, pad_mode="constant")

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        power = self.spec(pre_emphasis(wave.float(), self.preemph))[:, : self.n_bins]
        return torch.log(power + 1e-6).transpose(1, 2)
