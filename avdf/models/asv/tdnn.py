"""The Kaldi x-vector TDNN (Snyder et al., ICASSP 2018; Kaldi ``egs/voxceleb/v2``).

Frame layers (context, output): [-2,2] 512, {-2,0,2} 512, {-3,0,3} 512, {0} 512, {0} 1500,
each affine -> ReLU -> batch norm without learned scale/offset (Kaldi's
``relu-batchnorm-layer``); statistics pooling (mean and standard deviation over frames,
3000); segment6: affine 3000 -> 512. The x-vector is segment6's affine output (Kaldi's
``tdnn6.affine``), so this module ends there: with 30-dim MFCCs it has 4,219,868
parameters, the "4.2 million" of the paper. Segment7 (ReLU-BN, 512 -> 512, ReLU-BN) and
the softmax belong to the training head (``head.hidden: [512]`` in the config).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

KALDI_CONTEXTS = ([-2, -1, 0, 1, 2], [-2, 0, 2], [-3, 0, 3], [0], [0])


class TDNNLayer(nn.Module):
    """Affine over frames at ``context`` offsets (a dilated Conv1d), ReLU, batch norm."""

    def __init__(self, in_dim: int, out_dim: int, context: Sequence[int], bn_affine: bool = False):
        super().__init__()
        context = list(context)
        steps = {b - a for a, b in zip(context, context[1:])}
        if len(steps) > 1:
            raise ValueError(f"TDNN context {context} is not evenly spaced")
        dilation = steps.pop() if steps else 1
        self.conv = nn.Conv1d(in_dim, out_dim, kernel_size=len(context), dilation=dilation)
        self.bn = nn.BatchNorm1d(out_dim, affine=bn_affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(torch.relu(self.conv(x)))


def stats_pooling(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """(B, C, T) -> (B, 2C): mean and standard deviation over time."""
    mean = x.mean(dim=2)
    std = torch.sqrt(x.var(dim=2, unbiased=False).clamp_min(eps))
    return torch.cat([mean, std], dim=1)


class XVectorTDNN(nn.Module):
    """``forward(feats (B, T, input_dim)) -> (B, embed_dim)``. Needs T >= 15 frames (the
    summed context)."""

    def __init__(self, input_dim: int = 30, channels: Sequence[int] = (512, 512, 512, 512, 1500),
                 contexts: Sequence[Sequence[int]] = KALDI_CONTEXTS, embed_dim: int = 512,
                 bn_affine: bool = False):
        super().__init__()
        if len(channels) != len(contexts):
            raise ValueError(f"xvector_tdnn: {len(channels)} channels for {len(contexts)} contexts")
        dims = [input_dim, *channels]
        self.frame_layers = nn.Sequential(*(TDNNLayer(dims[i], dims[i + 1], contexts[i], bn_affine)
                                            for i in range(len(channels))))
        self.segment6 = nn.Linear(2 * channels[-1], embed_dim)
        self.input_dim, self.embed_dim = input_dim, embed_dim
        self.min_frames = 1 + sum(max(c) - min(c) for c in contexts)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        if feats.shape[1] < self.min_frames:  # repeat very short inputs up to the context
            feats = feats.repeat(1, -(-self.min_frames // feats.shape[1]), 1)
        return self.segment6(stats_pooling(self.frame_layers(feats.transpose(1, 2))))
