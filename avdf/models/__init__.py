"""The one model registry: a config's ``model.name`` maps to a class here.

Entries are ``"module:Class"`` strings imported on first use, so that importing avdf
stays cheap and free of side effects. Add a model by adding one line to ``MODELS``.
"""
from __future__ import annotations

import importlib
from typing import Any

MODELS: dict[str, str] = {
    "linear_probe": "avdf.models.av.probe:LinearProbe",
    "gaussian_probe": "avdf.models.av.probe:GaussianProbe",
    "xvector_tdnn": "avdf.models.asv.tdnn:XVectorTDNN",
    "ecapa_tdnn": "avdf.models.asv.ecapa:ECAPATDNN",
    "lfcc_gmm": "avdf.models.cm.gmm_cm:GmmCM",
    "gmm": "avdf.models.cm.gmm_cm:GmmCM",  # the same front-end agnostic class (CQCC-GMM configs)
    "lfcc_lcnn": "avdf.models.cm.lcnn:LCNN",
    "rawnet2": "avdf.models.cm.rawnet2:RawNet2",
    "aasist": "avdf.models.cm.aasist:AASIST",
    "aasist_l": "avdf.models.cm.aasist:AASISTL",
    "ssl_aasist": "avdf.models.cm.ssl_aasist:SSLAASIST",
    "one_class": "avdf.models.cm.one_class:OneClassCM",
    "fgi": "avdf.models.av.fgi:FineGrainedAV",
    "joint_av": "avdf.models.av.joint_av:JointAV",
}


class UnknownModelError(KeyError):
    """A config names a model that is not registered."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0])


def get_model_class(name: str) -> type:
    """The class registered under ``name``; an unknown name lists the known ones."""
    if name not in MODELS:
        known = ", ".join(sorted(MODELS)) or "(none)"
        raise UnknownModelError(f"unknown model {name!r}; known models: {known}")
    module, cls = MODELS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def build_model(conf: dict[str, Any]):
    """Instantiate ``conf['name']`` with the remaining keys of ``conf`` as keyword arguments."""
    if "name" not in conf:
        raise UnknownModelError("model section has no 'name' key; known models: "
                                + (", ".join(sorted(MODELS)) or "(none)"))
    kwargs = {k: v for k, v in conf.items() if k != "name"}
    return get_model_class(conf["name"])(**kwargs)
