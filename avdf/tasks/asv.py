"""Speaker-embedding training (x-vector, ECAPA-TDNN, ...) for the generic trainer.

Data (``data:`` section):

- ``input: feats`` reads ``feats.scp``; ``input: wav`` reads ``wav.scp`` and computes the
  config's ``frontend:`` on each chunk, after augmentation (``augment:`` section; MUSAN /
  RIRS_NOISES paths come as ``--data musan=DIR --data rirs=DIR``).
- ``vad: true`` keeps voiced frames only, selected after CMN as Kaldi's
  ``select-voiced-frames`` is: the decisions of ``vad.scp`` for feats input, or computed
  on the chunk's raw features (``vad:`` section options) for wav input.
- ``cmn``: ``sliding`` (``cmn_window`` frames, Kaldi's x-vector), ``utterance`` (WeSpeaker)
  or ``none``.
- Each epoch draws ``chunks_per_utt`` random chunks of every training utterance; a batch
  is cut to one random length in ``chunk_frames: [min, max]`` (Kaldi's 200-400 frame egs,
  WeSpeaker's fixed 200). Shorter utterances are repeated to length.
- Speaker labels come from ``utt2spk``; classes are the sorted training speakers.
- ``preload_audio: true`` (wav input) decodes every utterance once into memory, shared by
  the loader workers: for small corpora whose audio is an ffmpeg pipe (VoxCeleb2 m4a),
  which would otherwise run once per chunk.

Validation (model selection): the ``--valid_data`` dir if given, else ``valid_per_spk``
utterances held out of every training speaker that has more than that (chosen with the
seed; 0 disables validation). Each validation utterance gives one deterministic chunk
of ``valid_frames`` frames from its middle; the metrics are the cross-entropy of the
classifier's logits without margin (``loss``: comparable across epochs while a margin
schedule changes the training criterion), the classification accuracy and the EER of
cosine scores over all pairs of validation utterances (``eer``, when there are
same-speaker pairs). Selection is on ``loss`` unless ``train.select_metric`` says otherwise.

Model: a :class:`SpeakerNet` (the config's ``model:`` as embedding extractor, ``head:`` and
``loss:``). A task given no ``train`` data has no speakers to classify: its model is the
embedding extractor alone (state dict ``embedding.*``): what ``avdf.bin.import_model``
fills from a published embedding-only checkpoint, whose ``embedding.*`` weights
``avdf.bin.extract_embeddings`` then reads as it reads a trained model's.
"""
from __future__ import annotations

import logging
import math
import os
from typing import Any, Mapping

import kaldiio
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from tqdm import tqdm

from avdf.data.audio import WavScp
from avdf.data.datadir import DataDir, DataDirError
from avdf.features import build_frontend
from avdf.features.cmvn import apply_cmn
from avdf.features.vad import compute_vad, select_voiced, vad_options
from avdf.models import build_model
from avdf.models.asv.speaker_net import SpeakerNet
from avdf.tasks import Task

logger = logging.getLogger(__name__)

DATA_DEFAULTS: dict[str, Any] = {
    "input": "feats", "cmn": "utterance", "cmn_window": 300, "vad": False, "chunk_frames": [200, 200],
    "chunks_per_utt": 1, "valid_per_spk": 2, "valid_frames": 400, "preload_audio": False,
}


def data_options(cfg: Mapping) -> dict[str, Any]:
    d = {**DATA_DEFAULTS, **(cfg.get("data") or {})}
    if d["input"] not in ("feats", "wav"):
        raise ValueError(f"data.input must be feats or wav, got {d['input']!r}")
    lo, hi = (d["chunk_frames"], d["chunk_frames"]) if isinstance(d["chunk_frames"], int) else d["chunk_frames"]
    if not 0 < int(lo) <= int(hi):
        raise ValueError(f"data.chunk_frames must be [min, max] with 0 < min <= max, got {d['chunk_frames']}")
    d["chunk_frames"] = [int(lo), int(hi)]
    return d


class FeatureReader:
    """Full-utterance features of a data dir, as the model sees them: from feats.scp (+VAD)
    or computed from wav.scp by the front-end; CMN applied. Used for training chunks and
    for embedding extraction alike."""

    def __init__(self, data_dir: str | os.PathLike, cfg: Mapping, frontend: torch.nn.Module | None = None):
        self.opts = data_options(cfg)
        self.dir = DataDir(data_dir)
        self.frontend = frontend
        self.vad_opts = vad_options(cfg) if self.opts["vad"] else None
        if self.opts["input"] == "feats":
            if not self.dir.has("feats.scp"):
                raise DataDirError(f"{self.dir.path}/feats.scp: missing (data.input is feats: run the features stage)")
            self.feats = self.dir.read("feats.scp")
            self.vad = None
            if self.opts["vad"]:
                if not self.dir.has("vad.scp"):
                    raise DataDirError(f"{self.dir.path}/vad.scp: missing (data.vad is true: run compute_vad)")
                self.vad = self.dir.read("vad.scp")
        else:
            if self.frontend is None:
                self.frontend = build_frontend(cfg["frontend"]).eval()
            self.wav = WavScp(self.dir.path / "wav.scp", expected_sr=int(self.frontend.sample_rate))
            self.cache: dict[str, np.ndarray] = {}
            if self.opts["preload_audio"]:
                for utt in tqdm(self.wav.keys(), desc=f"loading {self.dir.path}", mininterval=10, disable=None):
                    self.cache[utt] = self.wav.read(utt)[0]

    def wave(self, utt: str) -> np.ndarray:
        return self.cache[utt] if utt in self.cache else self.wav.read(utt)[0]

    def utts(self) -> list[str]:
        return list(self.feats if self.opts["input"] == "feats" else self.wav.keys())

    def postprocess(self, feats: np.ndarray, utt: str) -> np.ndarray:
        """CMN, then the voiced frames when ``data.vad``: from vad.scp for feats input, else
        decided on these (raw) features, column 0 being the log energy."""
        vad = None
        if self.vad_opts is not None:
            if self.opts["input"] == "wav":
                vad = compute_vad(feats, **self.vad_opts)
            elif utt not in self.vad:
                raise DataDirError(f"{self.dir.path}/vad.scp: no entry for {utt!r}")
            else:
                vad = kaldiio.load_mat(self.vad[utt])
        feats = apply_cmn(feats, self.opts["cmn"], int(self.opts["cmn_window"]))
        return feats if vad is None else select_voiced(feats, vad, where=f"{self.dir.path} {utt}")

    @torch.no_grad()
    def wave_to_feats(self, wave: np.ndarray) -> np.ndarray:
        return self.frontend(torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))[None])[0].numpy()

    def read(self, utt: str) -> np.ndarray:
        """(frames, dim) float32 of the whole utterance."""
        if self.opts["input"] == "feats":
            x = np.asarray(kaldiio.load_mat(self.feats[utt]), dtype=np.float32)
        else:
            x = self.wave_to_feats(self.wave(utt))
        return self.postprocess(x, utt).astype(np.float32, copy=False)


def _framing(frontend: torch.nn.Module) -> tuple[int, int]:
    """(frame shift, frame length) in samples of a Kaldi-style front-end (10 / 25 ms unless it says)."""
    kw = getattr(frontend, "kwargs", {})
    sr = int(frontend.sample_rate)
    return (int(round(sr * float(kw.get("frame_shift", 10.0)) / 1000)),
            int(round(sr * float(kw.get("frame_length", 25.0)) / 1000)))


def _tile(x: np.ndarray, n: int) -> np.ndarray:
    return x if len(x) >= n else np.concatenate([x] * math.ceil(n / max(1, len(x))))[:n]


class SpeakerChunks(Dataset):
    """``(utt, chunk (frames, dim), speaker index)`` items; see the module docstring."""

    def __init__(self, reader: FeatureReader, utts: list[str], labels: list[int], frames: int,
                 repeats: int = 1, train: bool = True, augmenter=None):
        self.reader, self.utts, self.labels = reader, utts, labels
        self.frames, self.repeats, self.train, self.augmenter = frames, repeats, train, augmenter

    def __len__(self) -> int:
        return len(self.utts) * self.repeats

    def _wav_chunk(self, utt: str, rng: np.random.Generator) -> np.ndarray:
        shift, win = _framing(self.reader.frontend)
        need = self.frames * shift + win
        wave = _tile(self.reader.wave(utt), need)
        start = int(rng.integers(0, len(wave) - need + 1)) if self.train else (len(wave) - need) // 2
        wave = wave[start:start + need]
        if self.augmenter is not None and self.train:
            wave = self.augmenter(wave, rng)
        feats = self.reader.postprocess(self.reader.wave_to_feats(wave), utt)
        return _tile(feats, self.frames)[: self.frames]

    def __getitem__(self, i: int):
        utt = self.utts[i % len(self.utts)]
        rng = np.random.default_rng(np.random.randint(0, 2 ** 31 - 1) if self.train else 0)
        if self.reader.opts["input"] == "wav":
            x = self._wav_chunk(utt, rng)
        else:
            full = _tile(self.reader.read(utt), self.frames)
            start = int(rng.integers(0, len(full) - self.frames + 1)) if self.train else (len(full) - self.frames) // 2
            x = full[start:start + self.frames]
        return utt, torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), self.labels[i % len(self.utts)]


class ChunkCollate:
    """Stack items; for training, cut the batch to one random length in [min, max] frames."""

    def __init__(self, lengths: tuple[int, int] | None):
        self.lengths = lengths

    def __call__(self, items):
        keys = [it[0] for it in items]
        x = torch.stack([it[1] for it in items])
        y = torch.tensor([it[2] for it in items], dtype=torch.long)
        if self.lengths is not None and self.lengths[0] < self.lengths[1]:
            n = int(np.random.randint(self.lengths[0], self.lengths[1] + 1))
            x = x[:, :n]
        return keys, x, y


class ASVTask(Task):
    data_defaults = DATA_DEFAULTS
    select_metric = "loss"
    select_mode = "min"

    def __init__(self, cfg: dict[str, Any], data: Mapping[str, str] | None = None):
        super().__init__(cfg, data)
        self.opts = data_options(cfg)
        self._split: tuple | None = None

    # -- data -------------------------------------------------------------------------------
    def _frontend(self):
        return build_frontend(self.cfg["frontend"]).eval() if self.opts["input"] == "wav" else None

    def _splits(self):
        """(reader, train utts, train labels, valid reader, valid utts, valid labels, speakers)."""
        if self._split is not None:
            return self._split
        if "train" not in self.data:
            raise ValueError("the asv task needs --train_data")
        reader = FeatureReader(self.data["train"], self.cfg, self._frontend())
        utt2spk = reader.dir.read("utt2spk")
        utts = [u for u in reader.utts() if u in utt2spk]
        if len(utts) < len(reader.utts()):
            logger.warning("%s: %d utterances without utt2spk entry ignored", reader.dir.path,
                           len(reader.utts()) - len(utts))
        valid_utts: list[str] = []
        vreader = None
        if "valid" in self.data:
            vreader = FeatureReader(self.data["valid"], self.cfg, reader.frontend)
            valid_utts = vreader.utts()
            vspk = vreader.dir.read("utt2spk")
        elif int(self.opts["valid_per_spk"]) > 0:
            k = int(self.opts["valid_per_spk"])
            rng = np.random.default_rng(int(self.cfg.get("seed", 1234)))
            by_spk: dict[str, list[str]] = {}
            for u in utts:
                by_spk.setdefault(utt2spk[u], []).append(u)
            held = set()
            for spk in sorted(by_spk):
                if len(by_spk[spk]) > k:
                    held.update(rng.choice(by_spk[spk], size=k, replace=False).tolist())
            valid_utts = [u for u in utts if u in held]
            utts = [u for u in utts if u not in held]
            vreader, vspk = reader, utt2spk
        speakers = sorted({utt2spk[u] for u in utts})
        spk2id = {s: i for i, s in enumerate(speakers)}
        labels = [spk2id[utt2spk[u]] for u in utts]
        vlabels = [spk2id.get(vspk[u], -1) for u in valid_utts] if valid_utts else []
        logger.info("asv task: %d training utterances of %d speakers, %d validation utterances",
                    len(utts), len(speakers), len(valid_utts))
        self._split = (reader, utts, labels, vreader, valid_utts, vlabels, speakers)
        return self._split

    def _augmenter(self):
        conf = dict(self.cfg.get("augment") or {})
        if not conf or float(conf.get("prob", 0)) <= 0:
            return None
        if self.opts["input"] != "wav":
            raise ValueError("augment: needs data.input wav (augmentation works on waveforms)")
        musan, rirs = self.data.get("musan"), self.data.get("rirs")
        if musan is None and rirs is None:
            logger.warning("augment: configured but no --data musan=DIR / rirs=DIR given: training without it")
            return None
        from avdf.data.augment import Augmenter
        return Augmenter(musan, rirs, sample_rate=int(self._splits()[0].frontend.sample_rate), **conf)

    def train_dataset(self) -> Dataset:
        reader, utts, labels, *_ = self._splits()
        return SpeakerChunks(reader, utts, labels, self.opts["chunk_frames"][1], int(self.opts["chunks_per_utt"]),
                             train=True, augmenter=self._augmenter())

    def valid_dataset(self) -> Dataset | None:
        _, _, _, vreader, vutts, vlabels, _ = self._splits()
        if not vutts:
            return None
        return SpeakerChunks(vreader, vutts, vlabels, int(self.opts["valid_frames"]), 1, train=False)

    def collate_fn(self, train: bool):
        return ChunkCollate(tuple(self.opts["chunk_frames"]) if train else None)

    # -- model ------------------------------------------------------------------------------
    def num_speakers(self) -> int:
        return len(self._splits()[-1])

    def build_model(self) -> SpeakerNet:
        if "train" not in self.data:  # no speakers: the embedding extractor alone (see the module docstring)
            return SpeakerNet(build_model(self.cfg["model"]), 0, None)
        batch = int((self.cfg.get("data") or {}).get("batch_size", 16))
        world = int(os.environ.get("WORLD_SIZE", "1"))
        reader, utts, *_ = self._splits()
        steps = max(1, len(utts) * int(self.opts["chunks_per_utt"]) // world // batch)
        return SpeakerNet(build_model(self.cfg["model"]), self.num_speakers(), self.cfg.get("loss") or {"name": "softmax"},
                          hidden=(self.cfg.get("head") or {}).get("hidden", []), steps_per_epoch=steps)

    # -- steps ------------------------------------------------------------------------------
    def training_step(self, model, batch, device):
        _, x, y = batch
        y = y.to(device)
        loss, logits = model(x.to(device), y)
        return loss, {"acc": (logits.detach().argmax(1) == y).float().mean()}

    def validation_outputs(self, model, batch, device):
        keys, x, y = batch
        x, y = x.to(device), y.to(device)
        emb = model.embed(x)
        known = y >= 0
        yk = torch.where(known, y, torch.zeros_like(y))
        logits = model.loss.logits(model.head(emb))  # no margin: comparable while a margin ramps up
        loss = F.cross_entropy(logits.float(), yk, reduction="none")
        correct = logits.argmax(1) == yk
        emb = F.normalize(emb.float(), dim=1).cpu().tolist()
        return [(k, int(l), float(ls) if kn else float("nan"), bool(c) if kn else None, e)
                for k, l, ls, c, kn, e in zip(keys, y.tolist(), loss.tolist(), correct.tolist(), known.tolist(), emb)]

    def validation_metrics(self, outputs: list[tuple]) -> dict[str, float]:
        from avdf.metrics import eer
        known = [o for o in outputs if o[3] is not None]
        out: dict[str, float] = {"n": float(len(outputs))}
        if known:
            out["loss"] = float(np.mean([o[2] for o in known]))
            out["acc"] = float(np.mean([o[3] for o in known]))
        emb = np.asarray([o[4] for o in outputs])
        lab = np.asarray([o[1] if o[1] >= 0 else -2 - i for i, o in enumerate(outputs)])
        sim = emb @ emb.T
        iu = np.triu_indices(len(outputs), 1)
        same = (lab[:, None] == lab[None, :])[iu]
        if same.any() and (~same).any():
            out["eer"] = float(eer(sim[iu][same], sim[iu][~same])[0])
        return out
