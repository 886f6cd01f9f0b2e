"""Self-supervised speech encoders (wav2vec 2.0, HuBERT, WavLM) as front-ends, loaded
from local checkpoints only.

The architecture is one of torchaudio's builders: a named size (``base``, ``large``, ...)
or ``custom`` with ``model_conf`` overriding the base configuration (small models for
tests, or an unusual checkpoint). The weights come from ``checkpoint``:

- a torchaudio-format state_dict saved with ``torch.save`` (bare, or under a ``model`` /
  ``state_dict`` key; the ``wav2vec2.`` prefix of a ``hubert_pretrain_model`` is stripped
  and its pre-training heads dropped), or
- a transformers folder (``config.json`` + weights), converted with torchaudio's
  ``import_huggingface_model`` when the ``transformers`` package is installed.

A path that does not exist or weights that do not fit the architecture raise
:class:`CheckpointError` naming both. Nothing is ever downloaded.

Front-end contract (avdf.features): ``forward(wave (B, T)) -> (B, frames, dim)`` at
``sample_rate``; ``frame_rate`` frames per second; ``layer`` picks the transformer layer
(1-based, negative counts from the last).
"""
from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Mapping

import torch
import torchaudio
from torch import nn

logger = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """A pretrained-model checkpoint is missing or does not fit the chosen architecture."""


# The base configuration of torchaudio's builders; ``custom`` overrides these.
_BASE = {
    "extractor_mode": "group_norm", "extractor_conv_layer_config": None, "extractor_conv_bias": False,
    "encoder_embed_dim": 768, "encoder_projection_dropout": 0.1, "encoder_pos_conv_kernel": 128,
    "encoder_pos_conv_groups": 16, "encoder_num_layers": 12, "encoder_num_heads": 12,
    "encoder_attention_dropout": 0.1, "encoder_ff_interm_features": 3072, "encoder_ff_interm_dropout": 0.1,
    "encoder_dropout": 0.1, "encoder_layer_norm_first": False, "encoder_layer_drop": 0.1, "aux_num_out": None,
}
_WAVLM_EXTRA = {"encoder_num_buckets": 320, "encoder_max_distance": 800}
# (arch, size) -> torchaudio builder name
PRESETS = {
    ("wav2vec2", "base"): "wav2vec2_base", ("wav2vec2", "large"): "wav2vec2_large",
    ("wav2vec2", "large_lv60k"): "wav2vec2_large_lv60k", ("wav2vec2", "xlsr_300m"): "wav2vec2_xlsr_300m",
    ("wav2vec2", "xlsr_1b"): "wav2vec2_xlsr_1b", ("wav2vec2", "xlsr_2b"): "wav2vec2_xlsr_2b",
    ("hubert", "base"): "hubert_base", ("hubert", "large"): "hubert_large", ("hubert", "xlarge"): "hubert_xlarge",
    ("wavlm", "base"): "wavlm_base", ("wavlm", "large"): "wavlm_large",
}
_DEFAULT_CONV = [(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512, 2, 2)] * 2


def build_ssl_model(arch: str, size: str = "base", model_conf: Mapping[str, Any] | None = None) -> nn.Module:
    """An untrained torchaudio ``Wav2Vec2Model`` of the given architecture and size."""
    sizes = sorted(s for a, s in PRESETS if a == arch)
    if not sizes:
        raise ValueError(f"unknown SSL architecture {arch!r}; known: wav2vec2, hubert, wavlm")
    # dropouts only matter in training; feature extraction runs in eval mode
    no_drop = {"encoder_layer_drop": 0.0}
    if size == "custom":
        conf = {**_BASE, **(_WAVLM_EXTRA if arch == "wavlm" else {}), **no_drop, **(model_conf or {})}
        if conf["extractor_conv_layer_config"] is not None:
            conf["extractor_conv_layer_config"] = [tuple(c) for c in conf["extractor_conv_layer_config"]]
        builder = torchaudio.models.wavlm_model if arch == "wavlm" else torchaudio.models.wav2vec2_model
        try:
            return builder(**conf)
        except TypeError as e:
            raise ValueError(f"{arch} custom model_conf: {e}") from None
    if (arch, size) not in PRESETS:
        raise ValueError(f"unknown {arch} size {size!r}; known: {', '.join(sizes)}, custom (with model_conf)")
    if model_conf:
        raise ValueError(f"model_conf is only read with size: custom (got size {size!r})")
    return getattr(torchaudio.models, PRESETS[(arch, size)])(**no_drop)


def read_state_dict(path: str | os.PathLike, what: str) -> dict[str, torch.Tensor]:
    """The tensors of a ``torch.save`` checkpoint (bare, or under ``model``/``state_dict``)."""
    from avdf.train import checkpoint as ckpt
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{what}: checkpoint {p} does not exist")
    try:
        obj = ckpt.load(p)  # tensors only; a truncated, foreign or non-tensor file is one line
    except ckpt.CheckpointError as e:
        raise CheckpointError(f"{what}: cannot read checkpoint {e}") from None
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{what}: checkpoint {p} is not a state_dict (a dict of tensors)")
    return obj


def load_weights(model: nn.Module, state: Mapping[str, torch.Tensor], path: str | os.PathLike, what: str) -> None:
    """``model.load_state_dict(state)``, strictly; a mismatch raises :class:`CheckpointError`
    naming the checkpoint, the architecture and the first differing keys."""
    from avdf.train.checkpoint import state_mismatch
    diff = state_mismatch(dict(state), model.state_dict())
    if diff:
        raise CheckpointError(f"checkpoint {path} does not match the architecture {what}: {diff}")
    model.load_state_dict(state)


def _torchaudio_keys(state: Mapping[str, torch.Tensor], own: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map a ``hubert_pretrain_model`` (``wav2vec2.`` prefix, pre-training heads) or a
    fine-tuned checkpoint (``aux`` CTC head) onto a plain encoder's keys."""
    if any(k.startswith("wav2vec2.") for k in state) and not any(k.startswith("wav2vec2.") for k in own):
        state = {k[len("wav2vec2."):]: v for k, v in state.items() if k.startswith("wav2vec2.")}
    if not any(k.startswith("aux.") for k in own):
        state = {k: v for k, v in state.items() if not k.startswith("aux.")}
    return dict(state)


def _from_transformers(folder: Path, arch: str, what: str) -> nn.Module:
    """A transformers folder converted to torchaudio; its ``model_type`` must be ``arch``."""
    try:
        model_type = json.loads((folder / "config.json").read_text()).get("model_type")
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{what}: cannot read {folder / 'config.json'}: {e}") from None
    if model_type != arch:
        raise CheckpointError(f"checkpoint {folder} is a transformers {model_type!r} model, which does not match "
                              f"the architecture {what}")
    try:
        import transformers
    except ImportError:
        raise CheckpointError(f"{what}: {folder} is a transformers folder, but the transformers package is "
                              "not installed; install it, or convert the weights to a torchaudio state_dict "
                              "(torchaudio.models.wav2vec2.utils.import_huggingface_model)") from None
    from torchaudio.models.wav2vec2.utils import import_huggingface_model
    hf = transformers.AutoModel.from_pretrained(str(folder), local_files_only=True)
    return import_huggingface_model(hf)


class SSLFrontend(nn.Module):
    """A frozen (by default) SSL speech encoder giving one layer's frame features."""

    modality = "audio"

    def __init__(self, arch: str, checkpoint: str, size: str = "base", model_conf: dict | None = None,
                 layer: int = -1, normalize_waveform: bool = False, sample_rate: int = 16000,
                 freeze: bool = True):
        super().__init__()
        what = f"{arch} ({size}{' ' + str(model_conf) if model_conf else ''})"
        if not checkpoint:
            raise CheckpointError(f"{what}: no checkpoint given (a local path; nothing is downloaded)")
        path = Path(checkpoint)
        if path.is_dir() and (path / "config.json").is_file():
            self.model = _from_transformers(path, arch, what)
        else:
            self.model = build_ssl_model(arch, size, model_conf)
            state = _torchaudio_keys(read_state_dict(path, what), self.model.state_dict())
            load_weights(self.model, state, path, what)
        self.checkpoint = str(path)
        n_layers = len(self.model.encoder.transformer.layers)
        if not (1 <= layer <= n_layers or -n_layers <= layer <= -1):
            raise ValueError(f"{what}: layer {layer} is outside 1..{n_layers} (or -1..-{n_layers})")
        self.layer = layer if layer > 0 else n_layers + 1 + layer
        self.dim = int(self.model.encoder.feature_projection.projection.out_features)
        self.sample_rate = int(sample_rate)
        strides = [m.conv.stride[0] for m in self.model.feature_extractor.conv_layers]
        self.frame_rate = self.sample_rate / math.prod(strides)
        self.normalize_waveform = bool(normalize_waveform)
        self.freeze = bool(freeze)
        if self.freeze:
            self.model.requires_grad_(False)
            self.model.eval()
        logger.info("%s from %s: layer %d of %d, dim %d, %.1f frames/s", what, path, self.layer, n_layers,
                    self.dim, self.frame_rate)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze:
            self.model.eval()
        return self

    def forward(self, wave: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, T)`` waveforms -> ``(B, frames, dim)`` features of the chosen layer."""
        if self.normalize_waveform:
            wave = nn.functional.layer_norm(wave, wave.shape[-1:])
        feats, _ = self.model.extract_features(wave, lengths, num_layers=self.layer)
        return feats[self.layer - 1]


class Wav2Vec2Frontend(SSLFrontend):
    """wav2vec 2.0 (Baevski et al., 2020)."""

    def __init__(self, checkpoint: str, **kwargs):
        super().__init__("wav2vec2", checkpoint, **kwargs)


class HubertFrontend(SSLFrontend):
    """HuBERT (Hsu et al., 2021)."""

    def __init__(self, checkpoint: str, **kwargs):
        super().__init__("hubert", checkpoint, **kwargs)


class WavLMFrontend(SSLFrontend):
    """WavLM (Chen et al., 2022)."""

    def __init__(self, checkpoint: str, **kwargs):
        super().__init__("wavlm", checkpoint, **kwargs)
