"""RawNet2 countermeasure (Tak et al., ICASSP 2021), the ASVspoof 2021 LA/DF baseline.

Raw waveform -> fixed mel-spaced sinc filters (``first_conv`` taps) -> |.|, max-pool 3,
BN, SELU -> six 1-D residual blocks (two of ``filts[1]``, four of ``filts[2]``), each
followed by filter-wise feature map scaling (FMS: a sigmoid gate per channel from the
time-averaged output, applied as ``x * s + s``) -> BN, SELU -> GRU (last step) -> FC ->
two logits (spoof, bona fide).

The 2021 baseline configuration (``conf/rawnet2.yaml``: first_conv 1024, filts
[20, [20, 20], [20, 128], [128, 128]], gru 1024 x 3 layers, fc 1024) has 17,621,410
trainable parameters. As in AASIST (see there), a non-first residual block applies its
BN + LeakyReLU before its first convolution, which the reference code computes but does
not use; the parameter count is unchanged.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from avdf.models.cm.sinc import SincConv


class ResBlock1d(nn.Module):
    """(BN, LeakyReLU 0.3) -> conv3 -> BN, LeakyReLU -> conv3, 1x1 skip projection, max-pool 3,
    then FMS: ``x * s + s`` with ``s = sigmoid(W mean_t(x))``."""

    def __init__(self, in_ch: int, out_ch: int, first: bool = False):
        super().__init__()
        self.pre = nn.Identity() if first else nn.Sequential(nn.BatchNorm1d(in_ch), nn.LeakyReLU(0.3))
        self.conv1 = nn.Conv1d(in_ch, out_ch, kernel_size=3, padding=1)
        self.bn2 = nn.BatchNorm1d(out_ch)
        self.act = nn.LeakyReLU(0.3)
        self.conv2 = nn.Conv1d(out_ch, out_ch, kernel_size=3, padding=1)
        self.skip = nn.Conv1d(in_ch, out_ch, kernel_size=1) if in_ch != out_ch else nn.Identity()
        self.pool = nn.MaxPool1d(3)
        self.fms = nn.Linear(out_ch, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.act(self.bn2(self.conv1(self.pre(x)))))
        out = self.pool(out + self.skip(x))
        scale = torch.sigmoid(self.fms(out.mean(dim=-1))).unsqueeze(-1)
        return out * scale + scale


class RawNet2(nn.Module):
    """Waveform ``(B, T)`` at 16 kHz -> logits ``(B, 2)`` (spoof, bona fide), or with
    ``nb_classes: D`` an embedding ``(B, D)`` for a one-class head (avdf.models.cm.one_class)."""

    def __init__(self, first_conv: int = 1024, filts: Sequence = (20, (20, 20), (20, 128), (128, 128)),
                 gru_node: int = 1024, nb_gru_layer: int = 3, nb_fc_node: int = 1024, sample_rate: int = 16000,
                 nb_classes: int = 2):
        super().__init__()
        self.sample_rate = sample_rate
        n_sinc = int(filts[0])
        (a1, b1), (a2, b2) = filts[1], filts[2]
        self.sinc = SincConv(n_sinc, first_conv, sample_rate)
        self.first_bn = nn.BatchNorm1d(n_sinc)
        self.act = nn.SELU(inplace=True)
        blocks = [ResBlock1d(a1, b1, first=True), ResBlock1d(b1, b1), ResBlock1d(a2, b2)]
        blocks += [ResBlock1d(b2, b2) for _ in range(3)]
        self.blocks = nn.Sequential(*blocks)
        self.bn_before_gru = nn.BatchNorm1d(b2)
        self.gru = nn.GRU(b2, gru_node, num_layers=nb_gru_layer, batch_first=True)
        self.fc1 = nn.Linear(gru_node, nb_fc_node)
        self.fc2 = nn.Linear(nb_fc_node, int(nb_classes))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        x = nn.functional.max_pool1d(self.sinc(wave).abs(), 3)
        x = self.act(self.first_bn(x))
        x = self.act(self.bn_before_gru(self.blocks(x)))
        self.gru.flatten_parameters()
        out, _ = self.gru(x.transpose(1, 2))
        return self.fc2(self.fc1(out[:, -1]))
