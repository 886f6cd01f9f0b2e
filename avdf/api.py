"""Use a trained or imported model on your own files, outside any recipe.

    import avdf
    m = avdf.load("pretrained/aasist_clovaai")        # an experiment dir: config.yaml + model.pt
    m.score("a.wav")                                   # CM: float, higher = bona fide
    m.score(x, sample_rate=16000)                      # a numpy array (samples,) or (samples, channels)
    m.score_many(["a.wav", "b.flac", "c.m4a"])         # [float, ...]

    e = avdf.load("exp/ecapa_speechbrain")             # ASV: an ECAPA / x-vector experiment dir
    e.embed("a.wav")                                   # np.ndarray (embedding_dim,)
    e.verify("enroll.wav", "test.wav")                 # cosine of the two embeddings

``load`` reads ``config.yaml`` and returns a :class:`CMModel` (``task: cm``) or an
:class:`ASVModel` (``task: asv``). What they compute is what the recipe stages compute for
the same audio in a data dir:

- CM: the score ``avdf.bin.infer_cm`` writes: the config's ``data.eval_crop`` (the first N
  samples, or frames for feature-input models, repeated when shorter), the model's output
  turned into a score by the task (``avdf.tasks.cm.scores_from_output``: bona fide minus
  spoof logit), the config's ``infer.amp`` (else bf16 autocast on a GPU, fp32 on CPU). Models
  with ``data.input: feats`` (LFCC-LCNN, LFCC-/CQCC-GMM) get their features from the
  config's ``frontend:`` as ``avdf.bin.compute_features`` computes them. With
  ``data.eval_crop: null`` each file is scored whole, alone (``infer_cm`` with a batch
  size above 1 repeat-pads a batch to its longest item, so there a file's score depends on
  its neighbours).
- ASV: the embedding ``avdf.bin.extract_embeddings`` writes (the config's front-end, CMN and
  VAD, the whole utterance, chunked beyond ``extract.max_frames``); ``verify`` is the plain
  cosine of two embeddings (no back-end: no mean subtraction, PLDA or score normalisation).

Audio: any file that ``avdf.data.audio.read_audio`` reads (WAV/FLAC through soundfile, other
containers, video included, through PyAV), never run as a command (``allow_pipe=False``).
Several channels are averaged; another sample rate is resampled to the model's
(``avdf.data.audio.resample``, what ``read_audio(resample_to=...)`` does), with one log
warning per rate and model. An array needs its ``sample_rate``.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Iterable, Iterator, Sequence, Union

import numpy as np
import torch

from avdf.data.audio import AudioError, read_audio, resample
from avdf.utils.config import load_config

logger = logging.getLogger("avdf.api")

#: what ``score`` / ``embed`` take: a file path, an array with ``sample_rate=``, an
#: ``(array, rate)`` pair, or a callable returning one (how the CLI hands over wav.scp entries)
AudioInput = Union[str, os.PathLike, np.ndarray, tuple, Callable[[], tuple]]


class ModelDirError(FileNotFoundError):
    """A directory that is not a usable experiment dir; the message names it and what is missing."""

    def __str__(self) -> str:
        return str(self.args[0])


class DeviceError(ValueError):
    """A device that this machine does not have."""


class UnsupportedModelError(NotImplementedError):
    """An experiment dir of a kind that the API does not score (yet)."""


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto``: the GPU when there is one, else the CPU; ``cuda`` without a GPU is an error."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device {device!r}: torch sees no CUDA device here (use auto or cpu)")
    return dev


def _check_dir(exp_dir: Path) -> dict:
    if not exp_dir.exists():
        raise ModelDirError(f"{exp_dir}: no such directory (an experiment dir: config.yaml and model.pt)")
    if not exp_dir.is_dir():
        raise ModelDirError(f"{exp_dir}: not a directory (an experiment dir: config.yaml and model.pt)")
    missing = [n for n in ("config.yaml",) if not (exp_dir / n).is_file()]
    if not (exp_dir / "model.pt").is_file() and not (exp_dir / "extractor.pt").is_file():
        missing.append("model.pt")
    if missing:
        raise ModelDirError(f"{exp_dir}: not an avdf experiment dir: no {' and no '.join(missing)} "
                            "(written by avdf.bin.train, train_gmm or import_model)")
    return load_config(exp_dir / "config.yaml")


def load(exp_dir: str | os.PathLike, device: str | torch.device = "auto") -> "CMModel | ASVModel":
    """The model of an experiment dir, by its config's ``task:`` (``cm`` or ``asv``)."""
    exp_dir = Path(exp_dir)
    cfg = _check_dir(exp_dir)
    task = cfg.get("task")
    dev = resolve_device(device)
    if task == "cm":
        return CMModel(exp_dir, cfg, dev)
    if task == "asv":
        return ASVModel(exp_dir, cfg, dev)
    if task is None:
        raise ModelDirError(f"{exp_dir / 'config.yaml'}: no task: key (cm or asv)")
    raise UnsupportedModelError(f"{exp_dir}: task {task!r}: avdf.load scores cm and asv models only "
                              "(audio-visual models: python -m avdf.bin.infer_av on a data dir)")


class _AudioModel:
    """Reading any input as mono float32 at ``self.sample_rate``."""

    sample_rate: int
    exp_dir: Path

    def __init__(self) -> None:
        self._resample_said: set[int] = set()

    def read(self, audio: AudioInput, sample_rate: int | None = None, name: str | None = None) -> np.ndarray:
        """Mono float32 samples at the model's rate; :class:`AudioError` naming the input."""
        if callable(audio):
            audio = audio()
        if isinstance(audio, (str, os.PathLike)):
            name = name or os.fspath(audio)
            x, sr = read_audio(os.fspath(audio), allow_pipe=False)
        else:
            if isinstance(audio, tuple):
                audio, sample_rate = audio
            if sample_rate is None:
                raise ValueError("an array needs its sample_rate (score(x, sample_rate=16000))")
            name = name or "array"
            x, sr = _mono(audio, name), int(sample_rate)
        if sr != self.sample_rate:
            if sr not in self._resample_said:
                self._resample_said.add(sr)
                logger.warning("%s: %d Hz audio resampled to the model's %d Hz (said once per rate)",
                               name, sr, self.sample_rate)
            x = resample(x, sr, self.sample_rate)
        return np.ascontiguousarray(x, dtype=np.float32)


def _mono(x: Any, name: str) -> np.ndarray:
    """(samples,) or (samples, channels) (or (channels, samples) with few channels) -> mono
    float32; integer PCM is scaled as soundfile scales it (int16 / 32768)."""
    x = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x)
    if x.dtype.kind in "iu":
        full = float(2 ** (8 * x.dtype.itemsize - 1))
        x = x.astype(np.float64) / full - (1.0 if x.dtype.kind == "u" else 0.0)
    elif x.dtype.kind != "f":
        raise AudioError(f"{name}: an array of {x.dtype} is not audio")
    if x.ndim == 2:
        ch_axis = 0 if x.shape[0] < x.shape[1] and x.shape[0] <= 16 else 1
        x = x.mean(axis=ch_axis)
    if x.ndim != 1:
        raise AudioError(f"{name}: audio must be (samples,) or (samples, channels), got shape {x.shape}")
    if x.shape[0] == 0:
        raise AudioError(f"{name}: no samples")
    return x.astype(np.float32, copy=False)


class CMModel(_AudioModel):
    """A countermeasure: ``score`` is what ``avdf.bin.infer_cm`` writes for the same audio."""

    task = "cm"

    def __init__(self, exp_dir: Path, cfg: dict, device: torch.device):
        super().__init__()
        from avdf.tasks import build_task
        from avdf.train.trainer import load_trained_model

        self.exp_dir, self.cfg, self.device = exp_dir, cfg, device
        if not (exp_dir / "model.pt").is_file():
            raise ModelDirError(f"{exp_dir}: not an avdf experiment dir: no model.pt")
        d = cfg.get("data") or {}
        self.input = str(d.get("input", "wav"))
        self.frontend = None
        if self.input == "feats":
            if not isinstance(cfg.get("frontend"), dict):
                raise UnsupportedModelError(
                    f"{exp_dir / 'config.yaml'}: data.input is feats but there is no frontend: section, so "
                    "the features cannot be computed from audio (score a feats.scp with avdf.bin.infer_cm)")
            from avdf.features import build_frontend
            self.frontend = build_frontend(cfg["frontend"]).eval()
            self.sample_rate = int(getattr(self.frontend, "sample_rate", 16000))
        elif self.input == "wav":
            self.sample_rate = int(d.get("sample_rate", 16000))
        else:
            raise UnsupportedModelError(f"{exp_dir / 'config.yaml'}: data.input must be wav or feats, got {self.input!r}")
        self.eval_crop = int(d["eval_crop"]) if d.get("eval_crop") else None
        # infer_cm's loader batch size; a whole-utterance model scores one file at a time
        self.batch_size = int(d.get("valid_batch_size", d.get("batch_size", 1))) if self.eval_crop else 1
        amp = str((cfg.get("infer") or {}).get("amp", "auto")).lower()
        self.dtype = torch.bfloat16 if (amp == "bf16" or (amp == "auto" and device.type == "cuda")) else None
        self.cm_task = build_task(cfg, {})
        self.model = load_trained_model(exp_dir, self.cm_task, device)

    def __repr__(self) -> str:
        return (f"CMModel({str(self.exp_dir)!r}, model={(self.cfg.get('model') or {}).get('name')}, "
                f"input={self.input}, {self.sample_rate} Hz, eval_crop={self.eval_crop}, device={self.device})")

    # -- one item as CMDataset makes it -------------------------------------------------------
    @torch.no_grad()
    def _item(self, wave: np.ndarray, name: str) -> torch.Tensor:
        from avdf.tasks.cm import repeat_to

        x = wave
        if self.frontend is not None:  # as avdf.bin.compute_features, then as CMDataset reads feats.scp
            x = self.frontend(torch.from_numpy(wave)[None])[0].float().numpy()
            if not np.isfinite(x).all():
                raise AudioError(f"{name}: features contain NaN or inf")
            x = np.array(x, dtype=np.float32)
            if x.ndim != 2 or x.shape[0] == 0:
                raise AudioError(f"{name}: features have shape {x.shape}")
        if self.eval_crop:
            x = repeat_to(x, self.eval_crop)
        return torch.from_numpy(np.ascontiguousarray(x))

    @torch.no_grad()
    def _forward(self, keys: list[str], items: list[torch.Tensor]) -> list[float]:
        from avdf.tasks.cm import collate_repeat

        batch = collate_repeat([(k, x, -1) for k, x in zip(keys, items)])
        dtype = self.dtype
        with torch.autocast(self.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            out = self.cm_task.validation_outputs(self.model, batch, self.device)
        return [float(o[1]) for o in out]

    # -- public ---------------------------------------------------------------------------------
    def iter_scores(self, inputs: Iterable[AudioInput], sample_rate: int | None = None,
                    names: Sequence[str] | None = None,
                    batch_size: int | None = None) -> Iterator[tuple[int, float | Exception]]:
        """``(index, score)`` for each input in order, or ``(index, error)`` for one that cannot be
        read (an :class:`AudioError` naming it) or that the model fails on; the others go on.
        ``names``: what errors call each input (default: the path, or ``input I``)."""
        # whole utterances (eval_crop null) one at a time: a batch would repeat-pad them to its longest
        bs = max(1, int(batch_size or self.batch_size)) if self.eval_crop else 1
        pending: list[tuple[int, str, torch.Tensor]] = []

        def why(e: Exception) -> str:
            return (str(e).splitlines() or [type(e).__name__])[0]

        def flush():
            if not pending:
                return
            idx, keys, items = [p[0] for p in pending], [p[1] for p in pending], [p[2] for p in pending]
            pending.clear()
            try:
                yield from zip(idx, self._forward(keys, items))
            except (RuntimeError, ValueError) as e:
                if len(idx) == 1:
                    yield idx[0], AudioError(f"{keys[0]}: the model fails on it: {why(e)}")
                    return
                for i, k, x in zip(idx, keys, items):  # find the one it fails on
                    try:
                        yield i, self._forward([k], [x])[0]
                    except (RuntimeError, ValueError) as e1:
                        yield i, AudioError(f"{k}: the model fails on it: {why(e1)}")

        for i, audio in enumerate(inputs):
            name = names[i] if names is not None else (os.fspath(audio) if isinstance(audio, (str, os.PathLike))
                                                       else f"input {i}")
            try:
                item = self._item(self.read(audio, sample_rate, name), name)
            except AudioError as e:
                # errors before scoring keep their place in the order: flush what is pending first
                yield from flush()
                yield i, e
                continue
            pending.append((i, name, item))
            if len(pending) >= bs:
                yield from flush()
        yield from flush()

    def score_many(self, inputs: Sequence[AudioInput], sample_rate: int | None = None,
                   batch_size: int | None = None) -> list[float]:
        """Scores of several inputs, in order; the first one that cannot be read raises its error."""
        out = []
        for _, s in self.iter_scores(inputs, sample_rate, batch_size=batch_size):
            if isinstance(s, Exception):
                raise s
            out.append(s)
        return out

    def score(self, audio: AudioInput, sample_rate: int | None = None) -> float:
        """The score of one file or array: higher = bona fide (0 is not a calibrated threshold)."""
        return self.score_many([audio], sample_rate)[0]


class _WaveFeatures:
    """``avdf.tasks.asv.FeatureReader``'s front-end and post-processing (CMN, VAD), on a
    waveform instead of a data dir's utterance: the same methods, bound to this object."""

    def __init__(self, cfg: dict, frontend: torch.nn.Module, where: str):
        from avdf.features.vad import vad_options
        from avdf.tasks.asv import data_options

        # VAD is decided on the raw features of this waveform, as compute_vad decides it on
        # feats.scp for a model trained on feats (the same front-end, the same vad: options)
        self.opts = {**data_options(cfg), "input": "wav"}
        self.frontend = frontend
        self.vad_opts = vad_options(cfg) if self.opts["vad"] else None
        self.dir = SimpleNamespace(path=where)

    def __call__(self, wave: np.ndarray, name: str) -> np.ndarray:
        from avdf.tasks.asv import FeatureReader

        x = FeatureReader.wave_to_feats(self, wave)
        return FeatureReader.postprocess(self, x, name).astype(np.float32, copy=False)


class ASVModel(_AudioModel):
    """A speaker-embedding extractor: ``embed`` is what ``avdf.bin.extract_embeddings`` writes."""

    task = "asv"

    def __init__(self, exp_dir: Path, cfg: dict, device: torch.device):
        super().__init__()
        from avdf.bin.extract_embeddings import IVectorEmbedder, NetworkEmbedder, kind_of
        from avdf.features import build_frontend

        self.exp_dir, self.cfg, self.device = exp_dir, cfg, device
        if not isinstance(cfg.get("frontend"), dict):
            raise UnsupportedModelError(f"{exp_dir / 'config.yaml'}: no frontend: section, so features cannot be "
                                      "computed from audio (extract from a feats.scp with avdf.bin.extract_embeddings)")
        self.kind = kind_of(exp_dir)
        self.embedder = (IVectorEmbedder if self.kind == "ivector" else NetworkEmbedder)(exp_dir, cfg, device)
        self.frontend = build_frontend(cfg["frontend"]).eval()
        self.sample_rate = int(self.frontend.sample_rate)
        self.features = _WaveFeatures(cfg, self.frontend, str(exp_dir))

    def __repr__(self) -> str:
        return (f"ASVModel({str(self.exp_dir)!r}, {self.kind}, model={(self.cfg.get('model') or {}).get('name')}, "
                f"{self.sample_rate} Hz, device={self.device})")

    def embed(self, audio: AudioInput, sample_rate: int | None = None, name: str | None = None) -> np.ndarray:
        """The float32 embedding of one file or array."""
        name = name or (os.fspath(audio) if isinstance(audio, (str, os.PathLike)) else "array")
        feats = self.features(self.read(audio, sample_rate, name), name)
        if len(feats) == 0:
            raise AudioError(f"{name}: no frames")
        return np.asarray(self.embedder(feats), dtype=np.float32)

    def verify(self, enroll: AudioInput, test: AudioInput, sample_rate: int | None = None) -> float:
        """Cosine of the two embeddings (higher = more likely the same speaker)."""
        return cosine(self.embed(enroll, sample_rate), self.embed(test, sample_rate))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
