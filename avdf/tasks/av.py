"""The audio-visual deepfake-detection task (``task: av``) for the generic trainer.

Data: a preprocessed data dir (avdf.bin.preprocess_av): ``faces.scp`` (or ``lips.scp``,
``data.visual``), ``audio.scp``, ``utt2num_frames``, ``utt2fps``, ``utt2label`` and, where
present, ``utt2label_video`` / ``utt2label_audio``. An item is a chunk of
``data.chunk_frames`` frames (1 s: 30 frames at 30 fps) with the ``data.audio_samples``
samples that play with it (starting at the same instant). Training takes
``data.chunks_per_video`` random chunks of every video per epoch (or, with
``data.real_fraction``, draws real and fake videos in that proportion), or, with
``data.train_chunks: every`` (the FGI authors' training set), every consecutive whole chunk
of every video once per epoch (chunks_per_video is then not used), then

- temporally-local pseudo-fakes (``data.pseudo_fake``, avdf.data.pseudo_fakes; prob 0 =
  off) of real clips (``apply_to: real``, the default) or of every clip, real or fake
  (``apply_to: all``: the FGI authors' code, where a fake clip stays fake). The other clip
  is any training chunk (``source: any``, the paper) or a chunk of the same video at least
  half a chunk away (``source: same_video``: the same face and voice saying something else,
  so that only audio-visual synchrony tells the pseudo-fake apart, not a change of
  identity),
- re-vocoded audio fakes (``data.audio_fakes``: ``prob``, ``vocoders``; avdf.data.vocoders),
  which make the audio fake and leave the video label as it was (joint_av's audio head),
- self-blended video segments of real clips (``data.self_blend``: ``prob`` and the settings
  of avdf.data.self_blend): a region of the frames blended with a lower-resolution,
  colour-changed copy of itself over a segment, optionally re-aligned with a sub-pixel
  shift in every frame (``jitter``), labelled video fake (face-swap traces without a
  change of identity or of lip motion).

``data.audio_rms: R`` scales the audio of every video to an RMS of ``R`` (over the whole
file, 0.05 is about -26 dBFS) before its chunks are cut, in training, validation, inference
and explanations alike, so that how loud a recording is does not reach the distance map;
null (the default) leaves the audio as stored.

``data.audio_norm: minmax`` scales every chunk's audio by its own minimum and maximum to
[-1, 1] (2 (a - min) / (max - min) - 1), in training (before any pseudo-fake is made, as the
FGI authors' data loader does), validation, inference and explanations alike; a silent chunk
becomes all -1, as there. null (the default) leaves it as stored.

``data.augment`` (avdf.data.av_augment: ``flip``, ``brightness``, ``contrast``, ``gain_db``)
changes every training chunk, real or fake, after its fakes are made, in ways that keep its
label: a mirror image, one brightness and contrast change for all its frames, one audio gain.

``data.sync_warmup: N`` keeps the first N epochs to real videos and their pseudo-fakes (the
synchrony task alone); the fake videos and the other training-time fakes join after.

Labels are 1 = fake: ``label`` (any fake), ``label_video`` and ``label_audio`` (from the
per-modality files when the data dir has them; otherwise the video label is the overall
one and the audio is taken as real). A model returns ``logit`` (fake) and, for several
heads, ``heads`` = {name: logit}; the loss is the BCE of ``logit``, or the weighted sum
over heads (``loss.head_weights``; head ``video``/``audio`` use their modality's label,
any other the overall one).

Validation: up to ``data.valid_max_chunks`` consecutive chunks per video; ``loss`` is the
chunk-level loss and ``auc`` the video-level AUC of the mean chunk score (1 - p(fake)).
Model selection: ``train.select_metric`` (``auc`` by default, or ``loss``; the FGI authors'
code has no validation set and keeps the epoch of lowest mean training loss).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from avdf.data.av_augment import ClipAugment
from avdf.data.datadir import DataDirError, read_kv
from avdf.data.pseudo_fakes import PseudoFaker
from avdf.data.self_blend import SelfBlend
from avdf.data.video import load_frames
from avdf.metrics import auc
from avdf.tasks import Task

logger = logging.getLogger(__name__)

DATA_DEFAULTS: dict[str, Any] = {
    "visual": "faces", "chunk_frames": 30, "audio_samples": 48000, "chunks_per_video": 1,
    "valid_max_chunks": 10, "pseudo_fake": {"prob": 0.0}, "audio_fakes": {"prob": 0.0}, "self_blend": {"prob": 0.0},
    "sync_warmup": 0,
    "real_fraction": None, "audio_rms": None, "audio_norm": None, "train_chunks": "random",
    "augment": {"flip": 0.0, "brightness": 0.0, "contrast": 0.0, "gain_db": 0.0},
}


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """``x`` cut or zero-padded to ``n`` samples."""
    return x[:n] if len(x) >= n else np.pad(x, (0, n - len(x)))


def audio_start(start: int, chunk_frames: int, audio_samples: int) -> int:
    """The audio sample playing with frame ``start`` (``audio_samples`` per ``chunk_frames``)."""
    return int(round(start * audio_samples / chunk_frames))


def cut_chunk(video: np.ndarray, audio: np.ndarray, start: int, chunk_frames: int,
              audio_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """The chunk of whole arrays from frame ``start`` (audio from :func:`audio_start`); the
    last frame is repeated and the audio zero-padded where the video ends early."""
    v = video[start:start + chunk_frames]
    if v.shape[0] < chunk_frames:
        v = np.concatenate([v, np.repeat(v[-1:], chunk_frames - v.shape[0], axis=0)])
    a0 = audio_start(start, chunk_frames, audio_samples)
    return v, fit_length(audio[a0:a0 + audio_samples].astype(np.float32, copy=False), audio_samples)


AUDIO_NORMS = (None, "minmax")


def minmax_audio(audio: np.ndarray) -> np.ndarray:
    """A chunk's audio scaled by its own range to [-1, 1]: 2 (a - min) / (max - min + e) - 1,
    computed in float64 and returned as float32, with e = 1e-8 / 32768 (the FGI authors add
    1e-8 to a range counted in 16-bit steps), so that a silent chunk becomes all -1 as in
    their loader."""
    a = np.asarray(audio, dtype=np.float64)
    if a.size == 0:
        return a.astype(np.float32)
    lo, hi = a.min(), a.max()
    x = ((a - lo) / (hi - lo + 1e-8 / 32768)).astype(np.float32)
    return (x - np.float32(0.5)) / np.float32(0.5)


def chunk_starts(num_frames: int, chunk: int, max_chunks: int | None = None, hop: int | None = None) -> list[int]:
    """First frames of the chunks of a video, ``hop`` frames apart (default ``chunk``:
    consecutive, non-overlapping; one chunk, padded, when the video is shorter);
    ``max_chunks`` keeps that many, evenly spread."""
    hop = chunk if hop is None else hop
    if hop < 1:
        raise ValueError(f"chunk hop must be >= 1 frame, got {hop}")
    starts = list(range(0, max(1, num_frames - chunk + 1), hop))
    if max_chunks and len(starts) > max_chunks:
        starts = [starts[i] for i in np.linspace(0, len(starts) - 1, max_chunks).round().astype(int)]
    return starts


def complete_chunk_starts(num_frames: int, num_samples: int, chunk: int, audio_samples: int) -> list[int]:
    """The first frames of every consecutive whole chunk whose audio is whole too (the FGI
    authors' 1 s chunks: their pre-processing cuts ``chunk`` frames at a time and leaves out
    the last part that is shorter, and their loader drops a chunk whose audio has fewer than
    ``audio_samples`` samples); empty when the video has none."""
    return [s for s in range(0, num_frames - chunk + 1, chunk)
            if audio_start(s, chunk, audio_samples) + audio_samples <= num_samples]


def _fake(label: str) -> float:
    return 1.0 if label == "spoof" else 0.0


class AVData:
    """Random access to the chunks of a preprocessed data dir."""

    def __init__(self, path: str | Path, visual: str = "faces", chunk_frames: int = 30,
                 audio_samples: int = 48000, audio_rms: float | None = None, audio_norm: str | None = None):
        self.path = Path(path)
        if audio_rms is not None and not float(audio_rms) > 0:
            raise ValueError(f"data.audio_rms must be a positive RMS or null, got {audio_rms}")
        if audio_norm not in AUDIO_NORMS:
            raise ValueError(f"data.audio_norm must be minmax or null, got {audio_norm!r}")
        self.audio_norm = audio_norm
        self.audio_rms = None if audio_rms is None else float(audio_rms)
        self._gain: dict[str, float] = {}
        scp = self.path / f"{visual}.scp"
        for name in (scp.name, "audio.scp", "utt2num_frames", "utt2fps", "utt2label"):
            if not (self.path / name).is_file():
                raise DataDirError(f"{self.path / name}: missing; run stage 2 (avdf.bin.preprocess_av) first")
        self.visual = read_kv(scp)
        self.audio = read_kv(self.path / "audio.scp")
        self.frames = {u: int(v) for u, v in read_kv(self.path / "utt2num_frames").items()}
        self.fps = {u: float(v) for u, v in read_kv(self.path / "utt2fps").items()}
        label = read_kv(self.path / "utt2label")
        self.utts = list(self.visual)
        missing = [u for u in self.utts if u not in self.audio or u not in label or u not in self.frames]
        if missing:
            raise DataDirError(f"{self.path}: {len(missing)} utterances of {scp.name} lack audio.scp, utt2label "
                               f"or utt2num_frames entries (e.g. {missing[0]}); run utils/fix_data_dir.sh")
        video_label = read_kv(self.path / "utt2label_video") if (self.path / "utt2label_video").is_file() else label
        audio_label = read_kv(self.path / "utt2label_audio") if (self.path / "utt2label_audio").is_file() else {}
        self.labels = {u: (_fake(label[u]), _fake(video_label.get(u, label[u])),
                           _fake(audio_label.get(u, "bonafide"))) for u in self.utts}
        self.chunk_frames, self.audio_samples = int(chunk_frames), int(audio_samples)
        self._check_rates()

    def _check_rates(self) -> None:
        """The audio of every video must play at ``audio_samples`` per ``chunk_frames`` frames:
        otherwise chunks would pair frames with the wrong audio."""
        from avdf.data.video import num_frames_of
        for utt in self.utts:
            seconds = self.frames[utt] / self.fps[utt]
            samples = num_frames_of(self.audio[utt])
            rate = samples / seconds if seconds > 0 else 0
            want = self.audio_samples * self.fps[utt] / self.chunk_frames
            if samples > self.audio_samples and abs(rate / want - 1) > 0.05:
                raise DataDirError(
                    f"{self.path}: {utt}: {self.frames[utt]} frames at {self.fps[utt]:g} fps with audio at "
                    f"{rate:.0f} Hz, but data.chunk_frames={self.chunk_frames} / data.audio_samples="
                    f"{self.audio_samples} need {want:.0f} Hz: set preprocess.fps and preprocess.sample_rate to match")

    def __len__(self) -> int:
        return len(self.utts)

    def chunk(self, utt: str, start: int) -> tuple[np.ndarray, np.ndarray]:
        """(video T x H x W x 3 uint8, audio float32) of the chunk from frame ``start``; the
        last frame is repeated and the audio zero-padded where the video ends early."""
        f, n = self.chunk_frames, self.audio_samples
        video = load_frames(self.visual[utt], start, start + f)
        if video.shape[0] == 0:
            raise DataDirError(f"{self.path}: {utt} has no frame at {start}")
        a0 = audio_start(start, f, n)
        audio = load_frames(self.audio[utt], a0, a0 + n).astype(np.float32)
        if self.audio_rms is not None:
            audio *= self.gain(utt)
        return self.finish(*cut_chunk(video, audio, 0, f, n))

    def cut(self, video: np.ndarray, audio: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
        """The chunk from frame ``start`` of whole arrays (those of :meth:`whole`), as
        :meth:`chunk` gives it."""
        return self.finish(*cut_chunk(video, audio, start, self.chunk_frames, self.audio_samples))

    def finish(self, video: np.ndarray, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A cut chunk with its audio scaled as ``data.audio_norm`` says."""
        if self.audio_norm == "minmax":
            audio = minmax_audio(audio)
        return video, audio

    def num_samples(self, utt: str) -> int:
        """The length of the audio of ``utt`` (from its header)."""
        from avdf.data.video import num_frames_of
        return num_frames_of(self.audio[utt])

    def whole(self, utt: str) -> tuple[np.ndarray, np.ndarray]:
        """(all frames, all audio float32) of ``utt``, the audio brought to ``audio_rms`` as
        :meth:`chunk` brings it (``audio_norm`` is per chunk: :meth:`cut` applies it)."""
        video = load_frames(self.visual[utt])
        audio = load_frames(self.audio[utt]).astype(np.float32)
        if self.audio_rms is not None:
            audio *= self.gain(utt, audio)     # the file is in memory: no second read for the gain
        return video, audio

    def gain(self, utt: str, whole: np.ndarray | None = None) -> float:
        """The factor that brings the whole audio of ``utt`` (read unless given as ``whole``)
        to ``audio_rms`` (1 for silence)."""
        if utt not in self._gain:
            if whole is None:
                whole = load_frames(self.audio[utt])
            whole = whole.astype(np.float64)
            rms = float(np.sqrt(np.mean(whole ** 2))) if whole.size else 0.0
            self._gain[utt] = self.audio_rms / rms if rms > 1e-8 else 1.0
        return self._gain[utt]

    def random_start(self, utt: str, rng: np.random.Generator) -> int:
        return int(rng.integers(0, max(1, self.frames[utt] - self.chunk_frames + 1)))

    def shifted_start(self, utt: str, start: int, rng: np.random.Generator) -> int | None:
        """A random chunk start of the same video at least half a chunk away from ``start``
        (None when the video is too short to have one)."""
        last = self.frames[utt] - self.chunk_frames
        gap = max(2, self.chunk_frames // 2)
        choices = [s for s in range(0, last + 1) if abs(s - start) >= gap]
        return int(choices[int(rng.integers(len(choices)))]) if choices else None


def _item(key: str, video: np.ndarray, audio: np.ndarray, labels: tuple[float, float, float]) -> dict:
    return {"key": key, "video": torch.from_numpy(np.ascontiguousarray(video)),
            "audio": torch.from_numpy(np.ascontiguousarray(audio)),
            "label": torch.tensor(labels[0]), "label_video": torch.tensor(labels[1]),
            "label_audio": torch.tensor(labels[2])}


class TrainChunks(Dataset):
    """``chunks_per_video`` random chunks per video and epoch, with the training-time fakes.

    ``real_fraction`` (optional) draws each item from a real video with that probability
    and from a fake one otherwise (class-balanced sampling of unbalanced sets such as
    DFDC's training parts), instead of going through every video.

    ``sync_warmup``: during the first that many epochs (:meth:`set_epoch`, called by the
    trainer) every item comes from a real video and the only fakes are the pseudo-fakes:
    audio-visual synchrony alone is learnt first, before the fake videos, audio fakes and
    self-blends offer the easier artefact cues.

    ``train_chunks="every"``: an epoch is every consecutive whole chunk of every video (with
    whole audio, :func:`complete_chunk_starts`; a video with none gives its first chunk,
    padded), each once, as the FGI authors train; a pseudo-fake's other clip (``source:
    any``) is then another of those chunks, as in their loader; not with ``real_fraction``
    or ``sync_warmup``.
    """

    def __init__(self, data: AVData, chunks_per_video: int = 1, pseudo_fake: Mapping | None = None,
                 audio_fakes: Mapping | None = None, sample_rate: int = 16000, real_fraction: float | None = None,
                 self_blend: Mapping | None = None, sync_warmup: int = 0, augment: Mapping | None = None,
                 train_chunks: str = "random"):
        self.data, self.per_video = data, int(chunks_per_video)
        if train_chunks not in ("random", "every"):
            raise ValueError(f"data.train_chunks must be random or every, got {train_chunks!r}")
        self.items: list[tuple[str, int]] | None = None
        if train_chunks == "every":
            if real_fraction is not None or int(sync_warmup):
                raise ValueError("data.train_chunks: every goes through every chunk once: "
                                 "not with data.real_fraction or data.sync_warmup")
            self.items = [(u, s) for u in data.utts
                          for s in (complete_chunk_starts(data.frames[u], data.num_samples(u), data.chunk_frames,
                                                          data.audio_samples) or [0])]
        self.augment = ClipAugment.from_config(augment)
        self.sync_warmup, self.epoch = int(sync_warmup), 1
        if self.sync_warmup < 0:
            raise ValueError(f"data.sync_warmup must be a number of epochs >= 0, got {sync_warmup}")
        self.real_fraction = None if real_fraction is None else float(real_fraction)
        self.by_class = {c: [u for u in data.utts if data.labels[u][0] == c] for c in (0.0, 1.0)}
        if self.real_fraction is not None and not (self.by_class[0.0] and self.by_class[1.0]):
            raise DataDirError(f"{data.path}: data.real_fraction needs real and fake videos")
        pf = dict(pseudo_fake or {})
        self.pf_source = pf.pop("source", "any")
        if self.pf_source not in ("any", "same_video"):
            raise ValueError(f"data.pseudo_fake.source must be any or same_video, got {self.pf_source!r}")
        self.pf_apply_to = pf.pop("apply_to", "real")
        if self.pf_apply_to not in ("real", "all"):
            raise ValueError(f"data.pseudo_fake.apply_to must be real or all, got {self.pf_apply_to!r}")
        self.faker = PseudoFaker(**pf) if float(pf.get("prob", 0)) > 0 else None
        if self.sync_warmup and (self.faker is None or not self.by_class[0.0]):
            raise ValueError("data.sync_warmup needs pseudo-fakes (data.pseudo_fake.prob > 0) and real videos")
        af = dict(audio_fakes or {})
        self.audio_fake_prob = float(af.get("prob", 0))
        self.vocoders = list(af.get("vocoders", ["griffin_lim", "world"]))
        self.vocoder_params = dict(af.get("params", {}))
        self.sample_rate = int(sample_rate)
        self.blender = SelfBlend(**dict(self_blend or {})) if float((self_blend or {}).get("prob", 0)) > 0 else None
        if self.audio_fake_prob > 0:
            from avdf.data.vocoders import get_vocoder
            for name in self.vocoders:
                get_vocoder(name)

    def __len__(self) -> int:
        return len(self.items) if self.items is not None else len(self.data) * self.per_video

    def set_epoch(self, epoch: int) -> None:
        """The epoch (from 1) about to be drawn: ``sync_warmup`` depends on it."""
        self.epoch = int(epoch)

    def __getitem__(self, i: int) -> dict:
        # numpy's global state is seeded per epoch and per loader worker by the trainer
        rng = np.random.default_rng(np.random.randint(0, 2 ** 31 - 1))
        warmup = self.epoch <= self.sync_warmup
        if self.items is not None:
            utt, start = self.items[i]
        else:
            if warmup:
                pool = self.by_class[0.0]
                utt = pool[int(rng.integers(len(pool)))]
            elif self.real_fraction is None:
                utt = self.data.utts[i % len(self.data)]
            else:
                pool = self.by_class[0.0 if rng.random() < self.real_fraction else 1.0]
                utt = pool[int(rng.integers(len(pool)))]
            start = self.data.random_start(utt, rng)
        video, audio = self.data.chunk(utt, start)
        label, lv, la = self.data.labels[utt]
        # pseudo-fakes are made from real clips, or (apply_to: all) from every clip, a fake one staying fake
        if self.faker is not None and (label == 0 or self.pf_apply_to == "all"):
            def other():
                if self.pf_source == "same_video":
                    shifted = self.data.shifted_start(utt, start, rng)
                    if shifted is not None:
                        return self.data.chunk(utt, shifted)
                if self.items is not None and len(self.items) > 1:
                    # train_chunks every: another of the epoch's chunks, as the authors' loader draws one
                    k = int(rng.integers(len(self.items) - 1))
                    j, s = self.items[k + (k >= i)]
                    return self.data.chunk(j, s)
                j = self.data.utts[int(rng.integers(len(self.data)))]
                return self.data.chunk(j, self.data.random_start(j, rng))
            video, audio, info = self.faker(video, audio, other, rng)
            if info is not None:
                label = 1.0
                lv = 1.0 if info.modality in ("video", "both") else lv
                la = 1.0 if info.modality in ("audio", "both") else la
        if warmup:
            return self._finish(utt, video, audio, (label, lv, la), rng)
        if self.blender is not None and lv == 0:
            video, blended = self.blender(video, rng)
            if blended is not None:
                label, lv = 1.0, 1.0
        if self.audio_fake_prob > 0 and la == 0 and rng.random() < self.audio_fake_prob:
            from avdf.data.vocoders import get_vocoder
            name = self.vocoders[int(rng.integers(len(self.vocoders)))]
            audio = get_vocoder(name)(audio, self.sample_rate, rng, **self.vocoder_params.get(name, {}))
            audio = fit_length(audio.astype(np.float32), self.data.audio_samples)
            label, la = 1.0, 1.0
        return self._finish(utt, video, audio, (label, lv, la), rng)

    def _finish(self, utt: str, video: np.ndarray, audio: np.ndarray, labels: tuple[float, float, float],
                rng: np.random.Generator) -> dict:
        """The item of a chunk whose fakes are made, augmented (``data.augment``) when asked."""
        if self.augment is not None:
            video, audio = self.augment(video, audio, rng)
        return _item(utt, video, audio, labels)


class EvalChunks(Dataset):
    """Consecutive chunks of every video (at most ``max_chunks``, evenly spread); the key
    is ``<utt>@<start frame>``."""

    def __init__(self, data: AVData, max_chunks: int | None = None):
        self.data = data
        self.items = [(u, s) for u in data.utts
                      for s in chunk_starts(data.frames[u], data.chunk_frames, max_chunks)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        utt, start = self.items[i]
        video, audio = self.data.chunk(utt, start)
        return _item(f"{utt}@{start}", video, audio, self.data.labels[utt])


def head_label(name: str, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The target of a head: the modality's label for ``video``/``audio``, else the overall one."""
    return batch[f"label_{name}"] if name in ("video", "audio") else batch["label"]


def av_loss(out: Mapping[str, Any], batch: Mapping[str, torch.Tensor], device: torch.device,
            head_weights: Mapping[str, float] | None = None, reduction: str = "mean") -> torch.Tensor:
    """BCE of ``out['logit']`` against the overall label, or the weighted sum over ``out['heads']``."""
    heads = out.get("heads")
    if not heads:
        return F.binary_cross_entropy_with_logits(out["logit"].float(), batch["label"].to(device).float(),
                                                  reduction=reduction)
    weights = head_weights or {}
    total = 0.0
    for name, logit in heads.items():
        target = head_label(name, batch).to(device).float()
        total = total + float(weights.get(name, 1.0)) * F.binary_cross_entropy_with_logits(
            logit.float(), target, reduction=reduction)
    return total


def video_scores(chunk_outputs: Iterable[tuple[str, float]]) -> dict[str, float]:
    """Mean chunk score per video from ``(<utt>@<start>, score)`` pairs."""
    sums: dict[str, list[float]] = {}
    for key, score in chunk_outputs:
        sums.setdefault(key.rsplit("@", 1)[0], []).append(score)
    return {u: float(np.mean(s)) for u, s in sums.items()}


class AVTask(Task):
    """See the module docstring."""

    data_defaults = DATA_DEFAULTS
    select_metric = "auc"
    select_mode = "max"

    def __init__(self, cfg: dict[str, Any], data: Mapping[str, str] | None = None):
        super().__init__(cfg, data)
        self.dcfg = {**DATA_DEFAULTS, **(cfg.get("data") or {})}
        metric = (cfg.get("train") or {}).get("select_metric", "auc")
        if metric not in ("auc", "loss"):
            raise ValueError(f"train.select_metric {metric!r}: the av task gives auc and loss")
        self.select_metric, self.select_mode = metric, ("min" if metric == "loss" else "max")
        self.head_weights = (cfg.get("loss") or {}).get("head_weights")
        model = cfg.get("model") or {}
        for key, dkey in (("num_frames", "chunk_frames"), ("audio_samples", "audio_samples")):
            if key in model and int(model[key]) != int(self.dcfg[dkey]):
                raise ValueError(f"model.{key} = {model[key]} but data.{dkey} = {self.dcfg[dkey]}: they must agree")

    def _data(self, role: str) -> AVData:
        if role not in self.data:
            raise ValueError(f"no {role} data dir given (--{role}_data)")
        return self.av_data(self.data[role])

    def av_data(self, path: str | Path) -> AVData:
        """The chunks of the data dir ``path`` as the config's ``data:`` section reads them."""
        d = self.dcfg
        return AVData(path, d["visual"], d["chunk_frames"], d["audio_samples"], d["audio_rms"], d["audio_norm"])

    def train_dataset(self) -> Dataset:
        sample_rate = int((self.cfg.get("preprocess") or {}).get("sample_rate", 16000))
        return TrainChunks(self._data("train"), self.dcfg["chunks_per_video"], self.dcfg["pseudo_fake"],
                           self.dcfg["audio_fakes"], sample_rate, self.dcfg["real_fraction"], self.dcfg["self_blend"],
                           self.dcfg["sync_warmup"], self.dcfg["augment"], self.dcfg["train_chunks"])

    def valid_dataset(self) -> Dataset | None:
        return EvalChunks(self._data("valid"), self.dcfg["valid_max_chunks"]) if "valid" in self.data else None

    def training_step(self, model, batch, device):
        out = model(batch["video"].to(device, non_blocking=True), batch["audio"].to(device, non_blocking=True))
        loss = av_loss(out, batch, device, self.head_weights)
        with torch.no_grad():
            acc = ((out["logit"].float() > 0).float().cpu() == batch["label"]).float().mean()
        return loss, {"acc": acc}

    def validation_outputs(self, model, batch, device):
        out = model(batch["video"].to(device), batch["audio"].to(device))
        losses = av_loss(out, batch, device, self.head_weights, reduction="none").float().cpu().tolist()
        scores = (1 - torch.sigmoid(out["logit"].float())).cpu().tolist()
        return list(zip(batch["key"], scores, batch["label"].tolist(), losses))

    def validation_metrics(self, outputs: list[tuple]) -> dict[str, float]:
        loss = float(np.mean([o[3] for o in outputs]))
        scores = video_scores((o[0], o[1]) for o in outputs)
        labels = {o[0].rsplit("@", 1)[0]: o[2] for o in outputs}
        real = np.array([s for u, s in scores.items() if labels[u] == 0])
        fake = np.array([s for u, s in scores.items() if labels[u] == 1])
        if len(real) == 0 or len(fake) == 0:
            logger.warning("validation set has only one class: AUC set to 0.5")
            value = 0.5
        else:
            value = auc(real, fake)
        return {"loss": loss, "auc": float(value), "videos": float(len(scores))}
