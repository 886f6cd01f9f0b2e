"""speechbrain's log mel filterbanks (``speechbrain.lobes.features.Fbank``) as an avdf
front-end, for models trained with speechbrain's features (its pretrained VoxCeleb
ECAPA-TDNN, ``egs/voxceleb/v3/conf/ecapa_speechbrain.yaml``).

The features are computed by speechbrain's own class, so they are speechbrain's numbers by
construction. They are not Kaldi's (:mod:`avdf.features.fbank`): a centred, zero-padded
STFT (frames = samples // hop + 1), a Hamming window and no pre-emphasis or DC removal,
the power spectrum through speechbrain's triangular mel filters, in dB (10 log10) rather
than the natural log, and each utterance floored at 80 dB below its own maximum. The
waveform is taken at its [-1, 1) scale. The sentence mean normalisation that speechbrain
applies next (``InputNormalization(norm_type='sentence', std_norm=False)``) is avdf's
``data.cmn: utterance``.
"""
from __future__ import annotations

import torch
from torch import nn


class SpeechBrainFbank(nn.Module):
    """``forward(wave (B, T)) -> (B, frames, n_mels)``; the arguments are speechbrain's
    ``Fbank`` arguments of the same names (window and hop in milliseconds)."""

    def __init__(self, sample_rate: int = 16000, n_mels: int = 80, n_fft: int = 400,
                 win_length: float = 25.0, hop_length: float = 10.0, f_min: float = 0.0,
                 f_max: float | None = None, filter_shape: str = "triangular", deltas: bool = False,
                 context: bool = False, left_frames: int = 5, right_frames: int = 5):
        super().__init__()
        from speechbrain.lobes.features import Fbank as _SBFbank

        self.fbank = _SBFbank(deltas=deltas, context=context, requires_grad=False, sample_rate=sample_rate,
                              f_min=f_min, f_max=f_max, n_fft=n_fft, n_mels=n_mels,
                              filter_shape=filter_shape, left_frames=left_frames,
                              right_frames=right_frames, win_length=win_length, hop_length=hop_length)
        self.sample_rate = int(sample_rate)
        per_frame = n_mels * (3 if deltas else 1)
        self.dim = per_frame * (left_frames + right_frames + 1 if context else 1)
        # what the ASV task's chunking reads (frame shift and window, ms)
        self.kwargs = {"frame_shift": float(hop_length), "frame_length": float(win_length)}

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.fbank(wave.float())
