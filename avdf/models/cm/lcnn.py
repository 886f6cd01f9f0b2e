"""LCNN with Max-Feature-Map and two BLSTM layers: the ASVspoof 2021 LFCC-LCNN baseline (Wang & Yamagishi 2021).

Features ``(B, frames, dim)`` (60-dim LFCC in the baseline) -> nine convolutions, each
followed by Max-Feature-Map (the channel-wise max of two halves), with 2x2 max-pooling
after the 1st, 3rd, 5th and 9th, BatchNorm without affine parameters in between, and
dropout 0.7 -> ``(B, frames/16, 32 * dim/16)`` -> two BLSTM layers (added to their input)
-> average over time -> linear. ``num_classes: 1`` (the baseline) gives one score
trained with a sigmoid (higher = bona fide); ``2`` gives two logits (spoof, bona fide); a
larger number gives an embedding for a one-class head (avdf.models.cm.one_class).
With 60-dim input the baseline has 269,729 trainable parameters.
"""
from __future__ import annotations

import torch
from torch import nn


class MaxFeatureMap(nn.Module):
    """Splits the channels in two halves and keeps their element-wise maximum."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return torch.maximum(a, b)


def _conv_mfm(in_ch: int, out_ch: int, kernel: int) -> list[nn.Module]:
    return [nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2), MaxFeatureMap()]


class BLSTM(nn.Module):
    """Bidirectional LSTM whose output has the input's size (``dim // 2`` per direction)."""

    def __init__(self, dim: int):
        super().__init__()
        if dim % 2:
            raise ValueError(f"BLSTM size must be even, got {dim}")
        self.lstm = nn.LSTM(dim, dim // 2, batch_first=True, bidirectional=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(x)[0]


class LCNN(nn.Module):
    """Features ``(B, frames, feat_dim)`` -> ``(B, num_classes)``; needs at least 16 frames."""

    def __init__(self, feat_dim: int = 60, num_classes: int = 1, dropout: float = 0.7):
        super().__init__()
        if feat_dim < 16:
            raise ValueError(f"LCNN needs feat_dim >= 16 (four 2x2 poolings), got {feat_dim}")
        if num_classes < 1:
            raise ValueError(f"num_classes must be 1 (score), 2 (logits) or the embedding size of a "
                             f"one-class head (avdf.models.cm.one_class), got {num_classes}")
        bn = lambda c: nn.BatchNorm2d(c, affine=False)  # noqa: E731
        pool = lambda: nn.MaxPool2d(2, 2)  # noqa: E731
        self.cnn = nn.Sequential(
            *_conv_mfm(1, 64, 5), pool(),
            *_conv_mfm(32, 64, 1), bn(32), *_conv_mfm(32, 96, 3), pool(), bn(48),
            *_conv_mfm(48, 96, 1), bn(48), *_conv_mfm(48, 128, 3), pool(),
            *_conv_mfm(64, 128, 1), bn(64), *_conv_mfm(64, 64, 3), bn(32),
            *_conv_mfm(32, 64, 1), bn(32), *_conv_mfm(32, 64, 3), pool(),
            nn.Dropout(dropout))
        hidden = (feat_dim // 16) * 32
        self.blstm = nn.Sequential(BLSTM(hidden), BLSTM(hidden))
        self.out = nn.Linear(hidden, num_classes)
        self.num_classes = num_classes

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        if feats.shape[1] < 16:
            raise ValueError(f"LCNN needs at least 16 frames, got {feats.shape[1]}")
        x = self.cnn(feats.unsqueeze(1))  # (B, 32, frames/16, dim/16)
        x = x.permute(0, 2, 1, 3).flatten(2)  # (B, frames/16, 32 * dim/16)
        x = (self.blstm(x) + x).mean(dim=1)
        return self.out(x)
