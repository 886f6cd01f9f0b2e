"""avdf: Kaldi/ESPnet-style recipes for audio countermeasures, speaker verification and
audio-visual deepfake detection. Importing the package has no side effects and imports
no torch: ``avdf.load`` (``avdf.api``, scoring your own files) is imported on first use."""

__version__ = "0.1.0"

#: names re-exported from avdf.api, imported only when first used (avdf.api imports torch)
_LAZY = {"load": "avdf.api", "CMModel": "avdf.api", "ASVModel": "avdf.api", "ModelDirError": "avdf.api"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'avdf' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])
