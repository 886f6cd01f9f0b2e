"""ECAPA-TDNN (Desplanques et al., Interspeech 2020), speechbrain's implementation
(``speechbrain.lobes.models.ECAPA_TDNN``) behind avdf's model interface.

``channels`` [512, 512, 512, 512, 1536] with 128 attention channels and a 192-dim
embedding (C = 512) has 6,194,048 parameters; [1024, 1024, 1024, 1024, 1536] (C = 1024)
has 14,660,416 -- exactly speechbrain's counts, as this module adds none. (speechbrain's
own VoxCeleb C = 1024 checkpoint uses a 3072-channel last layer: 20,767,552,
``egs/voxceleb/v3/conf/ecapa_speechbrain.yaml``.) The classifier of the AAM-softmax lives in
the loss head, not here.

speechbrain's published ``embedding_model.ckpt`` (speechbrain/spkrec-ecapa-voxceleb) loads
through :func:`from_speechbrain` (``avdf.bin.import_model --format speechbrain_ecapa``).
"""
from __future__ import annotations

from typing import Sequence

import torch
from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN as _SBECAPA
from torch import nn


class ECAPATDNN(nn.Module):
    """``forward(feats (B, T, input_dim)) -> (B, lin_neurons)``."""

    def __init__(self, input_dim: int = 80, channels: Sequence[int] = (512, 512, 512, 512, 1536),
                 kernel_sizes: Sequence[int] = (5, 3, 3, 3, 1), dilations: Sequence[int] = (1, 2, 3, 4, 1),
                 attention_channels: int = 128, res2net_scale: int = 8, se_channels: int = 128,
                 global_context: bool = True, lin_neurons: int = 192):
        super().__init__()
        self.net = _SBECAPA(input_dim, lin_neurons=lin_neurons, channels=list(channels),
                            kernel_sizes=list(kernel_sizes), dilations=list(dilations),
                            attention_channels=attention_channels, res2net_scale=res2net_scale,
                            se_channels=se_channels, global_context=global_context)
        self.input_dim, self.embed_dim = input_dim, lin_neurons

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.net(feats).squeeze(1)


#: the top-level modules of speechbrain's ECAPA_TDNN state dict
_SPEECHBRAIN_TOP = ("blocks", "mfa", "asp", "asp_bn", "fc")


def from_speechbrain(state: dict, model_cfg: dict | None = None) -> dict:
    """speechbrain's ECAPA_TDNN state dict (its ``embedding_model.ckpt``) in the layout of
    the ASV task's model without training speakers: a :class:`~avdf.models.asv.speaker_net.SpeakerNet`
    holding this module as ``embedding``, so each key gains the prefix ``embedding.net.``.
    Keys of other modules (a classifier's, say) are returned unchanged, for the import's
    key check to name them."""
    return {f"embedding.net.{k}" if k.split(".", 1)[0] in _SPEECHBRAIN_TOP else k: v for k, v in state.items()}
