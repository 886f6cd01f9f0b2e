"""Building blocks shared by the audio-visual detectors.

- :func:`video_to_tensor`: face crops as the preprocessing stores them (B x T x H x W x 3,
  uint8 or 0..255 floats) -> normalised B x 3 x T x H x W floats.
- :class:`ShallowResNet3D`: the first blocks of a 3-D ResNet-18 (:class:`BasicBlock3d`, with
  the key layout of torchvision's video ResNet blocks, built without weights), with a
  max-pool after the stem so that 224 x 224 frames give 28 x 28 feature maps after two
  stages. Its options give the FGI authors' variant of it too (a 1 x 7 x 7 stem, no ReLU
  after the last block, BatchNorm without running statistics: :class:`ClipBatchNorm3d`).
- :class:`RawAudioEncoder`: a Conv1D encoder of the raw waveform whose output has exactly
  ``out_steps`` time steps, to line up with the visual features.
- :class:`LogMelAudioEncoder`: the same output from a log-mel spectrogram (25 ms windows,
  10 ms hop) through Conv1D layers over time, the mel bands as channels.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn
import torch.nn.functional as F


def video_to_tensor(video: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
    """B x T x H x W x 3 in 0..255 -> B x 3 x T x H x W in about [-1, 1]."""
    x = video.permute(0, 4, 1, 2, 3).float().div(127.5).sub(1.0)
    return x.contiguous(memory_format=torch.channels_last_3d) if channels_last else x.contiguous()


def conv_out(n: int, kernel: int, stride: int, padding: int = 0) -> int:
    return (n + 2 * padding - kernel) // stride + 1


class ClipBatchNorm3d(nn.BatchNorm3d):
    """BatchNorm3d without running statistics (``track_running_stats=False``, so its state
    is the affine weight and bias only). In training it normalises with the statistics of the
    batch, as nn.BatchNorm3d does; in evaluation each clip of the batch with its own
    statistics over time and space. That is what the FGI authors' code computes at test
    time, where such a BatchNorm sees one clip per forward pass: a clip's score then does not
    depend on the other clips of its batch."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__(num_features, eps=eps, momentum=momentum, affine=True, track_running_stats=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return super().forward(x)
        return F.instance_norm(x, weight=self.weight, bias=self.bias, use_input_stats=True, eps=self.eps)


class BasicBlock3d(nn.Module):
    """A basic 3-D residual block: 3x3x3 conv (stride ``stride`` in time and space), BN,
    ReLU, 3x3x3 conv, BN, plus the input (through ``downsample`` when given), then a ReLU
    unless ``final_relu`` is false. Its keys are those of torchvision's video ResNet
    ``BasicBlock`` (``conv1.0``, ``conv1.1``, ``conv2.0``, ``conv2.1``, ``downsample``)."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 norm: Callable[[int], nn.Module] = nn.BatchNorm3d, final_relu: bool = True):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv3d(inplanes, planes, 3, stride=stride, padding=1, bias=False),
                                   norm(planes), nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(nn.Conv3d(planes, planes, 3, padding=1, bias=False), norm(planes))
        self.downsample = downsample
        self.relu = nn.ReLU(inplace=True) if final_relu else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class ShallowResNet3D(nn.Module):
    """Stem (conv of ``stem_time_kernel`` x 7 x 7, stride 1x2x2, BN, ReLU, 1x3x3 max-pool
    stride 1x2x2), then one stage of two basic 3x3x3 residual blocks per entry of
    ``channels`` (the first stage at stride 1, the others at stride 2 in time and space).
    ``channels=(64, 128)`` is the first three blocks of a 3-D ResNet-18: 3 x 30 x 224 x 224
    -> 128 x 15 x 28 x 28.

    ``final_relu=False`` leaves out the ReLU after the last block, and ``running_stats=False``
    makes every BatchNorm a :class:`ClipBatchNorm3d`; with ``stem_time_kernel=1`` that is
    the visual network of the FGI authors' code (their half 3-D ResNet-18). The defaults (a
    3 x 7 x 7 stem, a final ReLU, running statistics) are avdf's own network, which joint_av
    uses and fgi's earlier configs were trained with."""

    def __init__(self, channels: Sequence[int] = (64, 128), stem_channels: int | None = None,
                 blocks_per_stage: int = 2, stem_time_kernel: int = 3, final_relu: bool = True,
                 running_stats: bool = True):
        super().__init__()
        stem = stem_channels or channels[0]
        kt = int(stem_time_kernel)
        if kt < 1 or kt % 2 == 0:
            raise ValueError(f"ShallowResNet3D: stem_time_kernel must be odd (1, 3, ...), got {stem_time_kernel}")
        norm: Callable[[int], nn.Module] = nn.BatchNorm3d if running_stats else ClipBatchNorm3d
        self.stem = nn.Sequential(
            nn.Conv3d(3, stem, kernel_size=(kt, 7, 7), stride=(1, 2, 2), padding=(kt // 2, 3, 3), bias=False),
            norm(stem), nn.ReLU(inplace=True),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)))
        stages = []
        inplanes = stem
        for i, planes in enumerate(channels):
            stride = 1 if i == 0 else 2
            layers = []
            for b in range(blocks_per_stage):
                s = stride if b == 0 else 1
                down = None
                if s != 1 or inplanes != planes:
                    down = nn.Sequential(nn.Conv3d(inplanes, planes, kernel_size=1, stride=s, bias=False),
                                         norm(planes))
                last = i == len(channels) - 1 and b == blocks_per_stage - 1
                layers.append(BasicBlock3d(inplanes, planes, stride=s, downsample=down, norm=norm,
                                           final_relu=final_relu or not last))
                inplanes = planes
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        self.out_channels = inplanes

    @staticmethod
    def output_shape(frames: int, size: int, num_stages: int) -> tuple[int, int]:
        """(T', H') for ``frames`` x ``size`` x ``size`` inputs."""
        t, h = frames, conv_out(conv_out(size, 7, 2, 3), 3, 2, 1)
        for _ in range(num_stages - 1):
            t, h = conv_out(t, 3, 2, 1), conv_out(h, 3, 2, 1)
        return t, h

    def forward(self, x: torch.Tensor, return_stages: bool = False):
        """B x 3 x T x H x W -> B x C x T' x H' x W' (and every stage's output)."""
        x = self.stem(x)
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return (x, outs) if return_stages else x


def _projection(cin: int, out_channels: int, steps: int, out_steps: int, what: str, hint: str) -> nn.Sequential:
    """A strided Conv1D whose kernel and stride take ``steps`` to exactly ``out_steps``, BN,
    ReLU, and a 3-tap convolution to ``out_channels``."""
    if steps < out_steps:
        raise ValueError(f"{what}, fewer than the {out_steps} needed; {hint}")
    stride = steps // out_steps
    kernel = steps - (out_steps - 1) * stride
    return nn.Sequential(
        nn.Conv1d(cin, out_channels // 2, kernel, stride=stride), nn.BatchNorm1d(out_channels // 2),
        nn.ReLU(inplace=True), nn.Conv1d(out_channels // 2, out_channels, 3, padding=1))


class RawAudioEncoder(nn.Module):
    """Raw waveform -> B x ``out_channels`` x ``out_steps``.

    Conv1d(1 -> c0, kernel ``first_kernel``, stride ``first_stride``), BN, ReLU, max-pool 4,
    two 3-tap convolutions to c1 (BN, ReLU between), then a strided projection whose kernel
    and stride are computed from ``samples`` so that exactly ``out_steps`` steps come out,
    BN, ReLU, and a 3-tap convolution to ``out_channels``. With 48,000 samples (1 s at
    48 kHz) and ``out_steps=15`` the projection has stride 99 and kernel 111.
    """

    def __init__(self, samples: int, out_steps: int, out_channels: int = 128,
                 channels: Sequence[int] = (128, 192), first_kernel: int = 80, first_stride: int = 8):
        super().__init__()
        c0, c1 = channels
        self.front = nn.Sequential(
            nn.Conv1d(1, c0, first_kernel, stride=first_stride), nn.BatchNorm1d(c0), nn.ReLU(inplace=True),
            nn.MaxPool1d(4, 4),
            nn.Conv1d(c0, c1, 3, padding=1), nn.BatchNorm1d(c1), nn.ReLU(inplace=True),
            nn.Conv1d(c1, c1, 3, padding=1), nn.BatchNorm1d(c1))
        steps = conv_out(samples, first_kernel, first_stride) // 4
        self.project = _projection(c1, out_channels, steps, out_steps,
                                   f"RawAudioEncoder: {samples} samples give {steps} steps before the projection",
                                   "give more samples or a smaller first_stride")
        self.samples, self.out_steps = samples, out_steps

    def forward(self, wave: torch.Tensor, return_front: bool = False):
        """B x L -> B x C x out_steps (and the front's B x c1 x L' features)."""
        if wave.shape[-1] != self.samples:
            raise ValueError(f"audio chunk has {wave.shape[-1]} samples, the model expects {self.samples}")
        front = self.front(wave.float().unsqueeze(1))
        out = self.project(front)
        return (out, front) if return_front else out


def mel_transform(sample_rate: int, n_mels: int) -> nn.Module:
    """torchaudio's mel spectrogram with 25 ms windows and a 10 ms hop."""
    import torchaudio

    return torchaudio.transforms.MelSpectrogram(
        sample_rate, n_fft=int(0.025 * sample_rate), hop_length=int(0.01 * sample_rate), n_mels=n_mels)


def log_mel(mel: nn.Module, wave: torch.Tensor) -> torch.Tensor:
    """B x L waveform -> B x n_mels x frames log-mel spectrogram, computed in fp32 under autocast."""
    with torch.autocast(wave.device.type, enabled=False):
        return torch.log(mel(wave.float()) + 1e-6)


class LogMelAudioEncoder(nn.Module):
    """Waveform -> log-mel spectrogram (``n_mels`` bands, 25 ms windows, 10 ms hop, computed
    in fp32) -> B x ``out_channels`` x ``out_steps``.

    BatchNorm over the mel bands, two 3-tap Conv1D layers over time to c0 and c1 channels
    (BN, ReLU), then the same strided projection as :class:`RawAudioEncoder`. A drop-in
    replacement for it: a vocoder's traces (smoothed harmonics, noisy phase) are plain in the
    spectrum, which the raw-waveform encoder has to learn first.
    """

    def __init__(self, samples: int, sample_rate: int, out_steps: int, out_channels: int = 128,
                 channels: Sequence[int] = (128, 192), n_mels: int = 64):
        super().__init__()
        c0, c1 = channels
        self.mel = mel_transform(sample_rate, n_mels)
        self.front = nn.Sequential(
            nn.BatchNorm1d(n_mels),
            nn.Conv1d(n_mels, c0, 3, padding=1), nn.BatchNorm1d(c0), nn.ReLU(inplace=True),
            nn.Conv1d(c0, c1, 3, padding=1), nn.BatchNorm1d(c1), nn.ReLU(inplace=True))
        frames = samples // self.mel.hop_length + 1
        self.project = _projection(c1, out_channels, frames, out_steps,
                                   f"LogMelAudioEncoder: {samples} samples give {frames} frames of 10 ms",
                                   "give more samples")
        self.samples, self.out_steps = samples, out_steps

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """B x L -> B x C x out_steps."""
        if wave.shape[-1] != self.samples:
            raise ValueError(f"audio chunk has {wave.shape[-1]} samples, the model expects {self.samples}")
        return self.project(self.front(log_mel(self.mel, wave)))
