"""The fine-grained audio-visual inconsistency detector of Astrid, Ghorbel and Aouada,
"Detecting Audio-Visual Deepfakes with Fine-Grained Inconsistencies" (BMVC 2024), and a
converter of the authors' checkpoints (:func:`from_official`).

A 1 s clip: T = 30 face frames of 224 x 224 and 48,000 audio samples (48 kHz).

- Visual branch V: the stem and the first two stages of a 3-D ResNet-18
  (:class:`~avdf.models.av.blocks.ShallowResNet3D`) -> F_v, C' x T' x H' x W' = 128 x 15 x 28 x 28.
- Audio branch A: a Conv1D encoder of the waveform (:class:`~avdf.models.av.blocks.RawAudioEncoder`:
  the authors' ``My_CNN_RawAud`` and ``netcnnaud_to_vis``) -> F_a, C' x T' = 128 x 15; or, with
  ``audio_frontend: logmel`` (not in the paper), Conv1D layers on a log-mel spectrogram
  (:class:`~avdf.models.av.blocks.LogMelAudioEncoder`, which needs ``sample_rate``) to the
  same shape.
- Spatially-local distance map M (H' x W'): M_ij = || F_a - F_v[:, :, i, j] ||_2 over the
  C' x T' values, for every spatial position.
- Attention map (H' x W'): 1x1 Conv3D of F_v and 1x1 Conv1D of F_a to C'/4 channels,
  their product summed over channels and time at each position, divided by the number of
  terms summed (T' x C'/4 = 15 x 32, as the authors' code), softmax over the H' x W' positions.
- Their Hadamard product (plus M itself with ``residual: true``), flattened -> one linear
  layer -> logit of "fake"; sigmoid gives p(fake) (the authors' network ends in that
  sigmoid; its output is p(fake), their label 1 being fake); trained with binary
  cross-entropy.

The paper configs (``egs/*/av1/conf/fgi.yaml``) compute the authors' forward pass
(aseuteurideu/FGI ``model.py``, ``resnet_2d3d.py``; checked by ``tests/test_fgi_fidelity.py``):

- ``stem_time_kernel: 1``: the visual stem is a 1 x 7 x 7 convolution (3,604,177
  parameters in all, as the official model);
- ``visual_final_relu: false``: no ReLU after the last residual block (F_v can be negative);
- ``visual_running_stats: false``: the visual BatchNorms keep no running statistics. In
  training they use the batch's statistics; in evaluation each clip is normalised by its own
  statistics over time and space (:class:`~avdf.models.av.blocks.ClipBatchNorm3d`). The
  official code has ``track_running_stats=False`` there and scores one clip per forward
  pass, which is that; avdf gives the same scores in batches. The audio BatchNorms keep
  running statistics, in both;
- ``distance_eps: 0``: no epsilon inside the square root of the distance.

The defaults of those four keys (a 3 x 7 x 7 stem, a final ReLU, running statistics, an
epsilon of 1e-6 for finite gradients at a zero distance) are avdf's earlier network,
3,622,993 parameters in the paper's sizes, which the mini and tiny configs were tuned and
trained with; a model trained with one setting does not score correctly with the other,
and an official checkpoint only fits the official setting (the converter's strict check says
so). The stem's max-pool and the audio encoder's sizes are those of the authors' code in
both.

Other switches: ``attention`` (off: the linear layer sees M), ``residual``, and
``map_size`` (F_v adaptively average-pooled to k x k before the maps; default: H'), all
three in the authors' code (``--with_att``, ``--residual_conn``, ``--spatial_size``).
Not in the paper: ``normalize`` (unit-norm F_a and F_v patterns before the distance);
``appearance: true`` gives the linear layer F_v averaged over time and space (C' more
inputs) beside the map, so that visual artefacts that keep audio-visual synchrony (a face
swap that follows the real lips) can count too; ``centre_frames: true`` subtracts from
every frame the chunk's mean frame before the visual branch, so that it sees what changes
over the chunk (the lips moving) rather than what a face looks like.

Inputs: the authors' data pipeline scales each clip's frames to [-1, 1] (x / 127.5 - 1, as
:func:`~avdf.models.av.blocks.video_to_tensor`) and each chunk's audio to [-1, 1] by its own
minimum and maximum; the latter is the data option ``data.audio_norm: minmax``
(avdf.tasks.av), set in the paper configs, not part of the model.

``forward`` returns a dict with ``logit`` (B,) and the maps ``distance`` (M), ``attention``
(None without attention) and ``product`` (B x k x k) for explanations. The official network
returns (p(fake), the product map, the attention map).
"""
from __future__ import annotations

import re
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
                 appearance: bool = False, centre_frames: bool = False,
                 stem_time_kernel: int = 3, visual_final_relu: bool = True, visual_running_stats: bool = True,
                 distance_eps: float = 1e-6):
        super().__init__()
        self.visual = ShallowResNet3D(visual_channels, stem_time_kernel=stem_time_kernel,
                                      final_relu=visual_final_relu, running_stats=visual_running_stats)
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
        self.distance_eps = float(distance_eps)
        if self.distance_eps < 0:
            raise ValueError(f"fgi: distance_eps must be >= 0, got {distance_eps}")
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
        distance = torch.sqrt(diff.pow(2).sum(dim=(1, 2)) + self.distance_eps)  # B x k x k
        attention = None
        product = distance
        if self.attention:
            ev = self.visual_emb(fv)                                        # B x C/4 x T' x k x k
            ea = self.audio_emb(fa)                                         # B x C/4 x T'
            # divided by C'/4 x T' = 32 x 15 (the authors' code divides by that constant)
            logits = (ev.float() * ea.float()[..., None, None]).sum(dim=(1, 2)) / (ev.shape[1] * ev.shape[2])
            attention = torch.softmax(logits.flatten(1), dim=1).view_as(distance)
            product = distance * attention + (distance if self.residual else 0)
        features = product.flatten(1)
        if self.appearance:
            features = torch.cat([features, fv.float().mean(dim=(2, 3, 4))], dim=1)
        logit = self.classifier(features).squeeze(1)
        return {"logit": logit, "distance": distance, "attention": attention, "product": product}


# The official checkpoint's modules (aseuteurideu/FGI model.py, resnet_2d3d.py) and avdf's.
# My_CNN_RawAud: layer1 = [conv, BN, ReLU], layer2 = [max-pool, conv, BN, ReLU, conv, BN];
# avdf's RawAudioEncoder.front is the nine of them in one Sequential.
_OFFICIAL_MODULES = {
    "netcnnaud.netcnnaud_layer1.0": "audio.front.0", "netcnnaud.netcnnaud_layer1.1": "audio.front.1",
    "netcnnaud.netcnnaud_layer2.1": "audio.front.4", "netcnnaud.netcnnaud_layer2.2": "audio.front.5",
    "netcnnaud.netcnnaud_layer2.4": "audio.front.7", "netcnnaud.netcnnaud_layer2.5": "audio.front.8",
    "netcnnaud_to_vis": "audio.project",               # [conv, BN, ReLU, conv]: the same indices
    "netcnnlip.conv1": "visual.stem.0", "netcnnlip.bn1": "visual.stem.1",
    "final_fc.0": "classifier",                        # final_fc = [Linear, Sigmoid]
    "img_emb_layer": "visual_emb", "aud_emb_layer": "audio_emb",
}
# a residual block's parts: official BasicBlock3d (conv1, bn1, conv2, bn2) -> avdf's BasicBlock3d
_OFFICIAL_BLOCK = {"conv1": "conv1.0", "bn1": "conv1.1", "conv2": "conv2.0", "bn2": "conv2.1"}
_OFFICIAL_BLOCK_KEY = re.compile(r"netcnnlip\.layer(\d+)\.(\d+)\.(conv1|bn1|conv2|bn2|downsample)\.(.+)")


def official_key(key: str) -> str:
    """An official FGI key (``module.`` already removed) -> avdf's; unknown keys unchanged."""
    m = _OFFICIAL_BLOCK_KEY.fullmatch(key)
    if m:
        layer, block, part, rest = m.groups()
        part = _OFFICIAL_BLOCK.get(part, part)
        return f"visual.stages.{int(layer) - 1}.{block}.{part}.{rest}"
    for module, ours in _OFFICIAL_MODULES.items():
        if key.startswith(module + "."):
            return ours + key[len(module):]
    return key


def from_official(state: dict, model_cfg: dict | None = None) -> dict:
    """The authors' FGI state dict (aseuteurideu/FGI, ``My_Network`` saved by ``my_train.py``
    under ``state_dict``, after the DataParallel ``module.`` prefix is removed) in avdf's key
    layout; it fits a model built with the paper config's model section (``stem_time_kernel:
    1``, ``visual_final_relu: false``, ``visual_running_stats: false``). Keys are renamed,
    never changed; a key it does not know is passed through for the import's strict check.

    The official network builds the attention's embedding layers (``img_emb_layer``,
    ``aud_emb_layer``) with or without ``--with_att``, and uses them only with it; for a
    model config with ``attention: false`` they are left out, as avdf builds no such layers.
    """
    attention = bool((model_cfg or {}).get("attention", True))
    out = {}
    for key, value in state.items():
        if not attention and key.split(".", 1)[0] in ("img_emb_layer", "aud_emb_layer"):
            continue
        out[official_key(key)] = value
    return out
