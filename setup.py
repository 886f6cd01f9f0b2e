"""avdf: recipes for audio anti-spoofing, speaker verification and audio-visual deepfake detection."""
from setuptools import find_packages, setup

setup(
    name="avdf",
    version="0.1.0",
    description="Kaldi/ESPnet-style recipes for deepfake detection and speaker verification",
    packages=find_packages(include=["avdf", "avdf.*", "bench", "bench.*"]),
    python_requires=">=3.10",
    # Pinned versions live in tools/requirements.txt; these are the imports avdf needs.
    install_requires=[
        "torch", "torchaudio", "torchvision", "speechbrain", "kaldiio", "av",
        "opencv-python-headless<5", "numpy", "scipy", "scikit-learn", "pandas",
        "soundfile", "pyyaml", "tqdm", "matplotlib", "tensorboard",
    ],
    entry_points={"console_scripts": ["avdf = avdf.cli:main"]},
)
