"""What a speaker-embedding model trains as: the embedding extractor, an optional
hidden head (Kaldi's segment7: ReLU-BN-affine layers) and the classification loss with
its weights. Only ``embedding`` is used for extraction; checkpoints store it under the
``embedding.`` prefix so it loads without the head (:func:`embedding_state`).

``loss=None`` builds the extractor alone (no head, no classifier): the model of a task that
has no training speakers, which an imported embedding-only checkpoint (speechbrain's
``embedding_model.ckpt``) fills."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from avdf.losses import build_loss


class SpeakerNet(nn.Module):
    """``forward(feats, labels) -> (loss, logits)``; ``embed(feats) -> embeddings``."""

    def __init__(self, embedding: nn.Module, n_speakers: int, loss: Mapping | None, hidden: Sequence[int] = (),
                 steps_per_epoch: int = 0):
        super().__init__()
        self.embedding = embedding
        if loss is None:  # embedding extractor only
            self.head, self.loss = nn.Sequential(), None
            return
        layers: list[nn.Module] = []
        dim = int(embedding.embed_dim)
        for h in hidden:  # Kaldi: the x-vector is taken before this ReLU-BN
            layers += [nn.ReLU(), nn.BatchNorm1d(dim, affine=False), nn.Linear(dim, int(h))]
            dim = int(h)
        if hidden:
            layers += [nn.ReLU(), nn.BatchNorm1d(dim, affine=False)]
        self.head = nn.Sequential(*layers)
        loss = dict(loss)
        if "margin_schedule" in loss or loss.get("name") == "asoftmax":
            loss.setdefault("steps_per_epoch", steps_per_epoch)
        self.loss = build_loss(loss, dim, n_speakers)

    def embed(self, feats: torch.Tensor) -> torch.Tensor:
        return self.embedding(feats)

    def _classifier(self):
        if self.loss is None:
            raise RuntimeError("this SpeakerNet is an embedding extractor only (built without training "
                               "speakers): it has no classifier to train or to give logits")
        return self.loss

    def logits(self, feats: torch.Tensor) -> torch.Tensor:
        return self._classifier().logits(self.head(self.embedding(feats)))

    def forward(self, feats: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._classifier()(self.head(self.embedding(feats)), labels)


def embedding_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The ``embedding.*`` entries of a SpeakerNet state dict, prefix removed."""
    out = {k[len("embedding."):]: v for k, v in state.items() if k.startswith("embedding.")}
    if not out:
        raise KeyError("no 'embedding.*' weights in this state dict: not a SpeakerNet checkpoint")
    return out
