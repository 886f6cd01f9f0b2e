"""Published checkpoint layouts that ``avdf.bin.import_model`` converts to avdf models.

Each entry maps a format name to a converter ``"module:function"`` (imported on first use,
like the model registry) and the ``model.name`` values it can fill. A converter takes the
published state dict (tensors by their official key names, after any ``module.``
DataParallel prefix is removed) and the avdf model config, and returns a state dict in
avdf's key layout. It changes names, never values: the import then checks the result
against the built model key by key and shape by shape.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Format:
    converter: str          # "module:function"
    models: tuple[str, ...]  # the model.name values this layout can fill
    source: str             # where such checkpoints are published


FORMATS: dict[str, Format] = {
    "clovaai_aasist": Format("avdf.models.cm.aasist:from_clovaai", ("aasist", "aasist_l"),
                             "clovaai/aasist models/weights/AASIST.pth, AASIST-L.pth; asvspoof-challenge/asvspoof5 "
                             "Baseline-AASIST/models/weights/AASIST/best.pth"),
    "asvspoof2021_rawnet2": Format("avdf.models.cm.rawnet2:from_asvspoof2021", ("rawnet2",),
                                   "asvspoof-challenge/2021 LA/Baseline-RawNet2 and DF/Baseline-RawNet2 (model.py)"),
    "fgi_official": Format("avdf.models.av.fgi:from_official", ("fgi",),
                           "aseuteurideu/FGI released checkpoint (a DataParallel 'module.' state_dict)"),
    "speechbrain_ecapa": Format("avdf.models.asv.ecapa:from_speechbrain", ("ecapa_tdnn",),
                                "speechbrain/spkrec-ecapa-voxceleb embedding_model.ckpt"),
    "ssl_antispoofing": Format("avdf.models.cm.ssl_aasist:from_ssl_antispoofing", ("ssl_aasist",),
                               "TakHemlata/SSL_Anti-spoofing LA/DF checkpoints (fairseq XLS-R front-end keys + AASIST back-end)"),
}


class CheckpointFormatError(ValueError):
    """A checkpoint does not have the layout its format names."""


def get_converter(name: str) -> tuple[Format, Callable]:
    if name not in FORMATS:
        raise CheckpointFormatError(f"unknown checkpoint format {name!r}; known formats: {', '.join(sorted(FORMATS))}")
    fmt = FORMATS[name]
    module, fn = fmt.converter.split(":")
    return fmt, getattr(importlib.import_module(module), fn)
