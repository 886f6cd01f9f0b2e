"""LFCC-GMM / CQCC-GMM countermeasure: two diagonal GMMs, bona fide and spoof (ASVspoof 2019/2021 baselines).

The score of an utterance is the average over its frames of
``log p(x_t | bona fide) - log p(x_t | spoof)``: higher = bona fide (the ASVspoof 2021
Python baselines' ``gmm_bona.score(x) - gmm_spoof.score(x)``, scikit-learn's mean frame
log-likelihoods). The model does not depend on the front-end (registered as ``lfcc_gmm``
and ``gmm``). The mixtures are trained with ``python -m avdf.bin.train_gmm``; this module
holds them as float64 buffers so that the trained model is a ``state_dict`` like any other
and goes through the same inference entry point (``avdf.bin.infer_cm``). Scores are
computed in float64 with autocast off (``infer_cm`` autocasts to bf16 on a GPU, which
would ruin the expanded quadratic forms of small-variance components).
"""
from __future__ import annotations

import torch
from torch import nn

from avdf.backend.gmm import GMM


class GmmCM(nn.Module):
    """Features ``(B, frames, feat_dim)`` -> scores ``(B,)`` (average frame log-likelihood ratio).

    Items of a batch must not be padded (score one utterance per batch, or equal lengths).
    """

    CLASSES = ("bonafide", "spoof")

    def __init__(self, n_components: int = 512, feat_dim: int = 60):
        super().__init__()
        self.n_components, self.feat_dim = n_components, feat_dim
        for c in self.CLASSES:
            kw = {"dtype": torch.float64}
            self.register_buffer(f"{c}_weights", torch.full((n_components,), 1.0 / n_components, **kw))
            self.register_buffer(f"{c}_means", torch.zeros(n_components, feat_dim, **kw))
            self.register_buffer(f"{c}_covars", torch.ones(n_components, feat_dim, **kw))

    def gmm(self, cls: str) -> GMM:
        return GMM(getattr(self, f"{cls}_weights"), getattr(self, f"{cls}_means"), getattr(self, f"{cls}_covars"))

    def set_gmm(self, cls: str, gmm: GMM) -> None:
        if gmm.covariance_type != "diag" or gmm.means.shape != (self.n_components, self.feat_dim):
            raise ValueError(f"{cls} GMM: expected diagonal {self.n_components} x {self.feat_dim}, got "
                             f"{gmm.covariance_type} {tuple(gmm.means.shape)}")
        for name in ("weights", "means", "covars"):
            getattr(self, f"{cls}_{name}").copy_(getattr(gmm, name))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        b, t, d = feats.shape
        if d != self.feat_dim:
            raise ValueError(f"GMM CM expects {self.feat_dim}-dim features, got {d}")
        with torch.autocast(feats.device.type, enabled=False):
            flat = feats.reshape(b * t, d).double()
            gmms = [self.gmm(c).to(dtype=torch.float64) for c in self.CLASSES]
            llr = gmms[0].log_likelihood(flat) - gmms[1].log_likelihood(flat)
        return llr.view(b, t).mean(dim=1)
