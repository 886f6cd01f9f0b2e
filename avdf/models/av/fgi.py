"""The fine-grained audio-visual inconsistency detector of Astrid, Ghorbel and Aouada,
"Detecting Audio-Visual Deepfakes with Fine-Grained Inconsistencies" (BMVC 2024).

A 1 s clip: T = 30 face frames of 224 x 224 and 48,000 audio samples.

- Visual branch V: the first three blocks of a 3-D ResNet-18 (stem, stage 1, stage 2;
  :class:`~avdf.models.av.blocks.ShallowResNet3D`) -> F_v, C' x T' x H' x W' = 128 x 15 x 28 x 28.
- Audio branch A: a Conv1D encoder of the waveform (:class:`~avdf.models.av.blocks.RawAudioEncoder`)
  -> F_a, C' x T' = 128 x 15; or, with ``audio_frontend: logmel`` (not in the paper), Conv1D
  layers on a log-mel spectrogram (:class:`~avdf.models.av.blocks.LogMelAudioEncoder`, which
  needs ``sample_rate``) to the same shape.
- Spatially-local distance map M (H' x W'): M_ij = || F_a - F_v[:, :, i, j] ||_2 over the
  C' x T' values, for every spatial position.
- Attention map (H' x W'): 1x1 Conv3D of F_v and 1x1 Conv1D of F_a to C'/4 channels,
  their product summed over channels and time at each position, divided by the number of
  terms summed (T' x C'/4: the normalisation by T'C' of the paper, with C' the embedding
  width), softmax over the H' x W' positions.
- Their Hadamard product (plus M itself with ``residual: true``), flattened -> one linear
  layer -> logit of "fake"; sigmoid gives p(fake); trained with binary cross-entropy.

Ablation switches: ``attention`` (off: the linear layer sees M), ``residual``, and
``map_size`` (F_v adaptively average-pooled to k x k before the maps; default: H').
Not in the paper: ``appearance: true`` gives the linear layer F_v averaged over time and
space (C' more inputs) beside the map, so that visual artefacts that keep audio-visual
synchrony (a face swap that follows the real lips) can count too; ``centre_frames: true``
subtracts from every frame the chunk's mean frame before the visual branch, so that it sees
what changes over the chunk (the lips moving) rather than what a face looks like.
Choices where the paper is silent: the stem's max-pool (so that two stages reach 28 x 28
from 224), the audio encoder's layer sizes (the authors' public code for the temporal
variant, ICASSP 2025), and a small epsilon inside the square root for finite gradients.

``forward`` returns a dict with ``logit`` (B,) and the maps ``distance``, ``attention``
(None without attention) and ``product`` (B x k x k) for explanations.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
import torch.nn.functional as F

from avdf.models.av.blocks import LogMelAudioEncoder, RawAudioEncoder, ShallowResNet3D, video_to_tensor


class FineGrainedAV(nn.Module):
    """See the module docstring. Inputs: ``video`` B x T x H x W x 3 (0..255), ``audio`` B x L."""

    def __init__(self, num_frames: int = 30, image_size: int = 224, audio_samples: int = 48000,
                 visual_channels: Sequence[int] = (64, 128), audio_channels: Sequence[int] = (128, 192),
                 audio_first_kernel: int = 80, audio_first_stride: int = 8,
                 attention: bool = True, residual: bool = False, map_size: int | None = None,
                 normalize: bool = False, channels_last: bool = False,
                 audio_frontend: str = "waveform", sample_rate: int | None = None, n_mels: int = 64,
                 appearance: bool = False, centre_frames: bool = False):
        super().__init__()
        self.visual = ShallowResNet3D(visual_channels)
        steps, side = ShallowResNet3D.output_shape(num_frames, image_size, len(visual_channels))
        channels = self.visual.out_channels
        if audio_frontend == "waveform":
            self.audio = RawAudioEncoder(audio_samples, steps, channels, audio_channels,
                                         audio_first_kernel, audio_first_stride)
        elif audio_frontend == "logmel":
            if not sample_rate:
                raise ValueError("fgi: audio_frontend logmel needs model.sample_rate (the audio's rate in Hz)")
            self.audio = LogMelAudioEncoder(audio_samples, int(sample_rate), steps, channels, audio_channels, n_mels)
        else:
            raise ValueError(f"fgi: audio_frontend must be waveform or logmel, got {audio_frontend!r}")
        self.map_size = int(map_size or side)
        self.attention = bool(attention)
        self.residual = bool(residual)
        self.normalize = bool(normalize)
        self.appearance = bool(appearance)
        self.centre_frames = bool(centre_frames)
        self.channels_last = channels_last
        if channels_last:  # the 3-D convolutions' weights too, so that no layout conversion happens per step
            self.visual.to(memory_format=torch.channels_last_3d)
        self.num_frames, self.image_size, self.audio_samples = num_frames, image_size, audio_samples
        emb = max(1, channels // 4)
        if self.attention:
            self.visual_emb = nn.Conv3d(channels, emb, kernel_size=1)
            self.audio_emb = nn.Conv1d(channels, emb, kernel_size=1)
        self.classifier = nn.Linear(self.map_size * self.map_size + (channels if self.appearance else 0), 1)

    def forward(self, video: torch.Tensor, audio: torch.Tensor) -> dict[str, torch.Tensor | None]:
        if video.shape[1] != self.num_frames or video.shape[2] != self.image_size:
            raise ValueError(f"video chunk {tuple(video.shape[1:])}: the model expects "
                             f"{self.num_frames} x {self.image_size} x {self.image_size} x 3")
        x = video_to_tensor(video, self.channels_last)                       # B x 3 x T x H x W
        if self.centre_frames:
            x = x - x.mean(dim=2, keepdim=True)
        fv = self.visual(x)                                                 # B x C x T' x H' x W'
        if fv.shape[-1] != self.map_size:
            fv = F.adaptive_avg_pool3d(fv, (fv.shape[2], self.map_size, self.map_size))
        fa = self.audio(audio)                                              # B x C x T'
        va, vv = fa.float(), fv.float()
        if self.normalize:  # unit C' x T' patterns: the distance then depends on their shapes only
            va = va / (va.flatten(1).norm(dim=1)[:, None, None] + 1e-6)
            vv = vv / (vv.flatten(1, 2).norm(dim=1)[:, None, None] + 1e-6)
        diff = vv - va[..., None, None]
        distance = torch.sqrt(diff.pow(2).sum(dim=(1, 2)) + 1e-6)           # B x k x k
        attention = None
        product = distance
        if self.attention:
            ev = self.visual_emb(fv)                                        # B x C/4 x T' x k x k
            ea = self.audio_emb(fa)                                         # B x C/4 x T'
            logits = (ev.float() * ea.float()[..., None, None]).sum(dim=(1, 2)) / (ev.shape[1] * ev.shape[2])
            attention = torch.softmax(logits.flatten(1), dim=1).view_as(distance)
            product = distance * attention + (distance if self.residual else 0)
        features = product.flatten(1)
        if self.appearance:
            features = torch.cat([features, fv.float().mean(dim=(2, 3, 4))], dim=1)
        logit = self.classifier(features).squeeze(1)
        return {"logit": logit, "distance": distance, "attention": attention, "product": product}
