"""avdf: Kaldi/ESPnet-style recipes for audio countermeasures, speaker verification and
audio-visual deepfake detection. Importing the package has no side effects."""

__version__ = "0.1.0"
