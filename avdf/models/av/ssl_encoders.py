"""Pluggable frame-level encoders for the self-supervised representation study
(Boldisor et al.): audio, visual and audio-visual, from local checkpoints only.

Every encoder is a :class:`FrameEncoder`: ``encode(audio, frames)`` takes one video's
audio (1-D float tensor at ``sample_rate``) and/or its face crops (``T x H x W x C``
uint8, as ``faces.scp`` holds them) and returns ``(frames', dim)`` features;
``frame_rate(fps)`` says how many of those frames a second holds. Built-in:

- ``wav2vec2`` / ``hubert`` / ``wavlm``: torchaudio models (avdf.features.ssl), long audio
  encoded in ``chunk_seconds`` windows;
- ``torchvision_image``: any torchvision classification model built without weights and
  loaded from a local state_dict, run on every frame; ``layer`` names a graph node
  (``avgpool`` by default) whose output is averaged over space;
- ``torchvision_video``: a torchvision video model (``r3d_18``, ``r2plus1d_18``, ``mc3_18``,
  ``s3d``, ...) run on consecutive ``clip_len``-frame clips; the node's output is averaged
  over space and stretched back to one vector per input frame.

An audio-visual encoder is a class of the user's own, named ``"package.module:Class"``,
subclassing :class:`FrameEncoder` with ``modality = "av"`` and taking its checkpoint path;
none is built in, since no audio-visual checkpoint format is shared widely enough.
"""
from __future__ import annotations

import importlib
import logging
from typing import Any

import torch
from torch import nn

from avdf.features.ssl import CheckpointError, SSLFrontend, load_weights, read_state_dict

logger = logging.getLogger(__name__)

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
KINETICS_MEAN, KINETICS_STD = (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)


class FrameEncoder(nn.Module):
    """The interface ``python -m avdf.bin.extract_ssl`` drives."""

    modality: str = "visual"   # audio | visual | av
    sample_rate: int = 16000   # audio rate the encoder expects (audio and av)
    dim: int

    def frame_rate(self, fps: float | None) -> float:
        """Output frames per second for a video of ``fps`` frames per second."""
        if fps is None:
            raise ValueError(f"{type(self).__name__}: the video's frame rate is needed")
        return fps

    def encode(self, audio: torch.Tensor | None, frames: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError


class AudioSSLEncoder(FrameEncoder):
    """A wav2vec 2.0 / HuBERT / WavLM layer over a whole recording, in windows."""

    modality = "audio"

    def __init__(self, arch: str, checkpoint: str, chunk_seconds: float = 30.0, **frontend_conf: Any):
        super().__init__()
        self.frontend = SSLFrontend(arch, checkpoint, **frontend_conf)
        self.sample_rate = self.frontend.sample_rate
        self.dim = self.frontend.dim
        self.chunk = int(chunk_seconds * self.sample_rate)

    def frame_rate(self, fps: float | None) -> float:
        return self.frontend.frame_rate

    def encode(self, audio: torch.Tensor | None, frames: torch.Tensor | None) -> torch.Tensor:
        if audio is None:
            raise ValueError("an audio encoder needs the audio")
        min_len = int(self.sample_rate / self.frontend.frame_rate)
        parts = []
        for start in range(0, audio.numel(), self.chunk):
            piece = audio[start:start + self.chunk]
            if piece.numel() < min_len:  # a tail shorter than one frame gives no frame
                continue
            parts.append(self.frontend(piece[None].float())[0])
        if not parts:
            raise ValueError(f"audio of {audio.numel()} samples is shorter than one frame ({min_len})")
        return torch.cat(parts)


def _normalise(frames: torch.Tensor, size: int, mean, std) -> torch.Tensor:
    """``N x H x W x C`` uint8 -> ``N x C x size x size`` normalised float."""
    x = frames.permute(0, 3, 1, 2).float().div_(255)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    m = torch.tensor(mean, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=x.device).view(1, -1, 1, 1)
    return (x - m) / s


def _torchvision_extractor(arch: str, checkpoint: str, layer: str, model_kwargs: dict | None) -> nn.Module:
    """torchvision ``arch`` built without weights, cut at node ``layer``, with the
    checkpoint's weights for the part that is kept (a classification head after the
    node may be absent from the checkpoint or sized differently)."""
    import torchvision
    from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

    what = f"torchvision {arch}"
    if not checkpoint:
        raise CheckpointError(f"{what}: no checkpoint given (a local path; nothing is downloaded)")
    if arch not in torchvision.models.list_models():
        raise ValueError(f"unknown torchvision model {arch!r}; e.g. resnet18, resnet50, r3d_18, r2plus1d_18")
    state = read_state_dict(checkpoint, what)  # first: a missing path is the clearer error
    full = torchvision.models.get_model(arch, weights=None, **(model_kwargs or {}))
    nodes = get_graph_node_names(full)[1]
    if layer not in nodes and not any(n.startswith(layer + ".") for n in nodes):
        raise ValueError(f"{what}: no graph node or module {layer!r}; the last nodes are {', '.join(nodes[-8:])}")
    extractor = create_feature_extractor(full, return_nodes={layer: "feat"})
    foreign = [k for k in state if k not in full.state_dict()]
    if foreign:
        raise CheckpointError(f"checkpoint {checkpoint} does not match the architecture {what}: "
                              f"{len(foreign)} unexpected keys (first: {', '.join(foreign[:3])})")
    kept = extractor.state_dict()
    load_weights(extractor, {k: v for k, v in state.items() if k in kept}, checkpoint, f"{what} up to {layer}")
    return extractor.eval().requires_grad_(False)


class TorchvisionImageEncoder(FrameEncoder):
    """A torchvision image model on every face crop; one vector per frame."""

    def __init__(self, arch: str, checkpoint: str, layer: str = "avgpool", image_size: int = 224,
                 mean=IMAGENET_MEAN, std=IMAGENET_STD, batch_frames: int = 64, model_kwargs: dict | None = None):
        super().__init__()
        self.net = _torchvision_extractor(arch, checkpoint, layer, model_kwargs)
        self.image_size, self.mean, self.std = int(image_size), tuple(mean), tuple(std)
        self.batch_frames = int(batch_frames)
        with torch.no_grad():
            self.dim = int(self._run(torch.zeros(1, 3, self.image_size, self.image_size)).shape[1])

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x)["feat"]
        return y.flatten(2).mean(-1) if y.dim() > 2 else y

    def encode(self, audio: torch.Tensor | None, frames: torch.Tensor | None) -> torch.Tensor:
        if frames is None:
            raise ValueError("a visual encoder needs the face frames")
        out = [self._run(_normalise(frames[i:i + self.batch_frames], self.image_size, self.mean, self.std))
               for i in range(0, frames.shape[0], self.batch_frames)]
        return torch.cat(out)


class TorchvisionVideoEncoder(FrameEncoder):
    """A torchvision video model on consecutive clips; one vector per input frame."""

    def __init__(self, arch: str, checkpoint: str, layer: str = "layer4", clip_len: int = 16,
                 image_size: int = 112, mean=KINETICS_MEAN, std=KINETICS_STD, model_kwargs: dict | None = None):
        super().__init__()
        self.net = _torchvision_extractor(arch, checkpoint, layer, model_kwargs)
        self.clip_len, self.image_size = int(clip_len), int(image_size)
        self.mean, self.std = tuple(mean), tuple(std)
        with torch.no_grad():
            self.dim = int(self._clip(torch.zeros(self.clip_len, 8, 8, 3, dtype=torch.uint8)).shape[1])

    def _clip(self, frames: torch.Tensor) -> torch.Tensor:
        """``clip_len`` frames -> ``(clip_len, dim)``."""
        x = _normalise(frames, self.image_size, self.mean, self.std)  # T x C x H x W
        y = self.net(x.permute(1, 0, 2, 3)[None])["feat"]             # 1 x D x T' x h x w
        if y.dim() != 5:
            raise ValueError(f"node output of shape {tuple(y.shape)} has no time axis; pick a layer before pooling")
        y = y.flatten(3).mean(-1)                                     # 1 x D x T'
        return nn.functional.interpolate(y, size=frames.shape[0], mode="nearest")[0].T

    def encode(self, audio: torch.Tensor | None, frames: torch.Tensor | None) -> torch.Tensor:
        if frames is None:
            raise ValueError("a visual encoder needs the face frames")
        out = []
        for start in range(0, frames.shape[0], self.clip_len):
            clip = frames[start:start + self.clip_len]
            n = clip.shape[0]
            if n < self.clip_len:  # pad the last clip by repeating its last frame
                clip = torch.cat([clip, clip[-1:].expand(self.clip_len - n, *clip.shape[1:])])
            out.append(self._clip(clip)[:n])
        return torch.cat(out)


ENCODERS = {
    "wav2vec2": lambda **kw: AudioSSLEncoder("wav2vec2", **kw),
    "hubert": lambda **kw: AudioSSLEncoder("hubert", **kw),
    "wavlm": lambda **kw: AudioSSLEncoder("wavlm", **kw),
    "torchvision_image": TorchvisionImageEncoder,
    "torchvision_video": TorchvisionVideoEncoder,
}


def build_encoder(conf: dict[str, Any]) -> FrameEncoder:
    """``conf['name']`` (one of :data:`ENCODERS`, or ``"package.module:Class"``) built with
    the other keys; in eval mode, without gradients."""
    name = conf.get("name")
    kwargs = {k: v for k, v in conf.items() if k != "name"}
    if name in ENCODERS:
        enc = ENCODERS[name](**kwargs)
    elif isinstance(name, str) and ":" in name:
        module, cls = name.split(":")
        enc = getattr(importlib.import_module(module), cls)(**kwargs)
        if not isinstance(enc, FrameEncoder):
            raise TypeError(f"encoder {name} is not an avdf.models.av.ssl_encoders.FrameEncoder")
    else:
        raise ValueError(f"unknown encoder {name!r}; known: {', '.join(ENCODERS)}, or 'package.module:Class'")
    if enc.modality not in ("audio", "visual", "av"):
        raise ValueError(f"encoder {name}: modality {enc.modality!r} is not audio, visual or av")
    return enc.eval().requires_grad_(False)
