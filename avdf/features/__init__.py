"""Acoustic front-ends as torch modules, and their registry.

A front-end maps a batch of waveforms ``(B, T)`` (float, at ``module.sample_rate``) to
features ``(B, frames, dim)``. The same module serves two ways: inside a model
(features on the fly, on the GPU) and in ``python -m avdf.bin.compute_features``, which
writes them to ark/scp with kaldiio. A config's ``frontend:`` section names one here.
"""
from __future__ import annotations

import importlib
from typing import Any

FEATURES: dict[str, str] = {
    "wav2vec2": "avdf.features.ssl:Wav2Vec2Frontend",
    "hubert": "avdf.features.ssl:HubertFrontend",
    "wavlm": "avdf.features.ssl:WavLMFrontend",
    "mfcc": "avdf.features.mfcc:MFCC",
    "fbank": "avdf.features.fbank:Fbank",
    "speechbrain_fbank": "avdf.features.speechbrain_fbank:SpeechBrainFbank",
    "lfcc": "avdf.features.lfcc:LFCC",
    "cqcc": "avdf.features.cqcc:CQCC",
    "spectrogram": "avdf.features.spectrogram:LogSpectrogram",
}


class UnknownFrontendError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def build_frontend(conf: dict[str, Any]):
    """Instantiate ``conf['name']`` with the other keys as keyword arguments."""
    name = conf.get("name")
    if name not in FEATURES:
        raise UnknownFrontendError(f"unknown front-end {name!r}; known front-ends: "
                                   f"{', '.join(sorted(FEATURES)) or '(none)'}")
    module, cls = FEATURES[name].split(":")
    return getattr(importlib.import_module(module), cls)(**{k: v for k, v in conf.items() if k != "name"})
