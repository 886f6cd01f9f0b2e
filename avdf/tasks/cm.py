"""The countermeasure (CM) task: bona fide vs spoof from a data dir, for the generic trainer.

Config sections it reads::

    task: cm
    data:
      input: wav            # wav: wav.scp (raw-waveform models); feats: feats.scp (LFCC, spectrogram ...)
      sample_rate: 16000    # wav input: audio at another rate is an error
      crop: 64600           # training crop, samples (wav) or frames (feats); shorter items are repeated
      crop_mode: random     # random: a random window each time; first: the first `crop` (RawNet2's 2021 baseline)
      eval_crop: 64600      # validation/inference: the first eval_crop samples/frames (repeated if short),
                            # or null for the whole utterance (a batch is repeat-padded to its longest)
      batch_size: 24
      valid_batch_size: 24
      num_workers: 2
      rawboost: {algo: 5}   # optional, training only (avdf.data.rawboost)
    loss:
      class_weights: [0.1, 0.9]   # (spoof, bona fide): AASIST's weighted cross-entropy
      name: ocsoftmax             # optional: the one-class loss, for a one_class model
      m_real: 0.9                 #   (its margins and scale, the paper's defaults)
      m_fake: 0.2
      alpha: 20

Labels come from ``utt2label`` (bona fide = 1, spoof = 0). A model returns two logits
``(spoof, bona fide)`` (weighted cross-entropy; score = logit difference) or one score
(weighted binary cross-entropy with logits; score = the output); higher = bona fide. With
``loss.name: ocsoftmax`` the model (avdf.models.cm.one_class) returns the cosine to its bona
fide direction and the loss is OC-softmax's (avdf.losses.oc_softmax), weighted alike.
Validation computes the dev EER (avdf.metrics) for model selection.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from avdf.data.audio import WavScp
from avdf.data.datadir import DataDirError, read_kv
from avdf.tasks import Task

LABELS = {"spoof": 0, "bonafide": 1}


def repeat_to(x: np.ndarray, length: int) -> np.ndarray:
    """Tile ``x`` along its first axis until it is ``length`` long, then cut (AASIST's padding)."""
    if x.shape[0] >= length:
        return x[:length]
    reps = -(-length // x.shape[0])
    return np.concatenate([x] * reps, axis=0)[:length]


def random_crop(x: np.ndarray, length: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """A random ``length``-long window of ``x`` (repeat-padded when ``x`` is shorter)."""
    if x.shape[0] <= length:
        return repeat_to(x, length)
    start = (rng.integers(0, x.shape[0] - length + 1) if rng is not None
             else np.random.randint(0, x.shape[0] - length + 1))
    return x[start:start + length]


def read_labels(data_dir: str | os.PathLike, keys: Iterable[str] | None = None) -> dict[str, int]:
    """``utt2label`` as ``{utt: 0|1}``; errors name the file, line and value."""
    path = Path(data_dir) / "utt2label"
    kv = read_kv(path)
    out = {}
    for n, (utt, lab) in enumerate(kv.items(), 1):
        if lab not in LABELS:
            raise DataDirError(f"{path}:{n}: label {lab!r} of {utt!r} is not bonafide|spoof")
        out[utt] = LABELS[lab]
    if keys is not None:
        missing = [k for k in keys if k not in out]
        if missing:
            raise DataDirError(f"{path}: no label for {missing[0]!r} ({len(missing)} utterances without a label)")
    return out


class CMDataset(Dataset):
    """Items ``(utt, tensor, label)`` from a data dir; ``label`` is -1 without ``utt2label``.

    ``input='wav'``: ``(samples,)`` float32 from wav.scp; ``input='feats'``: ``(frames, dim)``
    from feats.scp. ``crop``: a random window (training); ``fixed``: the first ``fixed``
    samples/frames (evaluation); neither: the whole utterance. ``rawboost`` (training)
    augments the waveform before cropping.
    """

    def __init__(self, data_dir: str | os.PathLike, input: str = "wav", sample_rate: int = 16000,
                 crop: int | None = None, fixed: int | None = None, rawboost: dict | None = None,
                 labelled: bool = True, crop_mode: str = "random"):
        self.data_dir = Path(data_dir)
        if input not in ("wav", "feats"):
            raise ValueError(f"data.input must be wav or feats, got {input!r}")
        self.input = input
        if input == "wav":
            self.wav = WavScp(self.data_dir / "wav.scp", expected_sr=sample_rate)
            self.utts = self.wav.keys()
        else:
            import kaldiio
            scp = self.data_dir / "feats.scp"
            if not scp.is_file():
                raise DataDirError(f"{scp}: missing: run the feature stage first (data.input is feats)")
            self.feats = kaldiio.load_scp(str(scp))
            self.utts = list(read_kv(scp))
        self.labels = read_labels(self.data_dir, self.utts) if labelled else {}
        self.crop, self.fixed = crop, fixed
        if crop_mode not in ("random", "first"):
            raise ValueError(f"data.crop_mode must be random or first, got {crop_mode!r}")
        self.crop_mode = crop_mode
        self.rawboost = None
        if rawboost:
            from avdf.data.rawboost import RawBoost
            self.rawboost = RawBoost(rawboost)

    def __len__(self) -> int:
        return len(self.utts)

    def load(self, utt: str) -> np.ndarray:
        if self.input == "wav":
            return self.wav.read(utt)[0]
        x = np.array(self.feats[utt], dtype=np.float32)  # a writable copy (kaldiio may map the ark)
        if x.ndim != 2 or x.shape[0] == 0:
            raise DataDirError(f"{self.data_dir / 'feats.scp'}: features of {utt!r} have shape {x.shape}")
        return x

    def __getitem__(self, i: int):
        utt = self.utts[i]
        x = self.load(utt)
        if self.crop:
            if self.rawboost is not None:
                if self.crop_mode == "random":
                    # augment no more than needed: a generous window around the crop
                    x = random_crop(x, min(x.shape[0], 2 * self.crop))
                x = self.rawboost(x)  # crop_mode first: the whole utterance, as the official code
            x = random_crop(x, self.crop) if self.crop_mode == "random" else repeat_to(x, self.crop)
        elif self.fixed:
            x = repeat_to(x, self.fixed)
        return utt, torch.from_numpy(np.ascontiguousarray(x)), self.labels.get(utt, -1)


def collate_repeat(batch: Sequence[tuple[str, torch.Tensor, int]]):
    """Stack items, repeat-padding each to the batch's longest (AASIST's padding)."""
    longest = max(x.shape[0] for _, x, _ in batch)
    xs = [x if x.shape[0] == longest else torch.from_numpy(repeat_to(x.numpy(), longest)) for _, x, _ in batch]
    return [u for u, _, _ in batch], torch.stack(xs), torch.tensor([y for _, _, y in batch])


def scores_from_output(out: torch.Tensor) -> torch.Tensor:
    """``(B, 2)`` logits -> bona fide minus spoof logit; ``(B,)`` or ``(B, 1)`` -> the score."""
    out = out.float()
    if out.ndim == 2 and out.shape[1] == 2:
        return out[:, 1] - out[:, 0]
    if out.ndim == 2 and out.shape[1] == 1:
        return out[:, 0]
    if out.ndim == 1:
        return out
    raise ValueError(f"a CM model must return (B, 2) logits or (B,)/(B, 1) scores, got {tuple(out.shape)}")


class CMTask(Task):
    """Binary bona fide / spoof detection; model selection on the dev EER."""

    select_metric = "eer"
    select_mode = "min"

    def __init__(self, cfg: dict[str, Any], data=None):
        super().__init__(cfg, data)
        self.dcfg = dict(cfg.get("data") or {})
        weights = (cfg.get("loss") or {}).get("class_weights", [0.5, 0.5])
        if len(weights) != 2:
            raise ValueError(f"loss.class_weights must be [spoof, bonafide], got {weights}")
        self.class_weights = torch.tensor([float(w) for w in weights])
        lcfg = dict(cfg.get("loss") or {})
        self.one_class = lcfg.get("name") == "ocsoftmax"
        if lcfg.get("name") not in (None, "ocsoftmax"):
            raise ValueError(f"loss.name {lcfg['name']!r}: the cm task knows ocsoftmax (or no name: cross-entropy)")
        self.oc_args = {k: float(lcfg[k]) for k in ("m_real", "m_fake", "alpha") if k in lcfg}
        if self.oc_args and not self.one_class:
            raise ValueError(f"loss.{next(iter(self.oc_args))} is an ocsoftmax setting: add loss.name: ocsoftmax")
        # accuracy threshold on the score: halfway between the margins for OC-softmax's cosine
        self.acc_threshold = (0.5 * (self.oc_args.get("m_real", 0.9) + self.oc_args.get("m_fake", 0.2))
                              if self.one_class else 0.0)

    def _dataset(self, data_dir, train: bool, labelled: bool = True) -> CMDataset:
        d = self.dcfg
        kind = d.get("input", "wav")
        return CMDataset(data_dir, input=kind, sample_rate=int(d.get("sample_rate", 16000)),
                         crop=int(d["crop"]) if train and d.get("crop") else None,
                         fixed=None if train or not d.get("eval_crop") else int(d["eval_crop"]),
                         rawboost=d.get("rawboost") if train else None, labelled=labelled,
                         crop_mode=str(d.get("crop_mode", "random")))

    def train_dataset(self) -> Dataset:
        if "train" not in self.data:
            raise ValueError("the cm task needs --train_data")
        return self._dataset(self.data["train"], train=True)

    def valid_dataset(self) -> Dataset | None:
        return self._dataset(self.data["valid"], train=False) if "valid" in self.data else None

    def test_dataset(self, data_dir: str | os.PathLike) -> Dataset:
        """Inference over a data dir (``utt2label`` optional)."""
        return self._dataset(data_dir, train=False, labelled=(Path(data_dir) / "utt2label").is_file())

    def collate_fn(self, train: bool):
        return collate_repeat

    def loss(self, out: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        w = self.class_weights.to(out.device)
        if self.one_class:
            if out.ndim != 1:
                raise ValueError(f"loss ocsoftmax needs a model that returns cosines (B,), such as "
                                 f"one_class; got {tuple(out.shape)}")
            from avdf.losses.oc_softmax import one_class_loss
            per = one_class_loss(out.float(), labels == 1, **self.oc_args)
            sw = w[labels]
            return (per * sw).sum() / sw.sum()
        if out.ndim == 2 and out.shape[1] == 2:
            return nn.functional.cross_entropy(out.float(), labels, weight=w)
        score = scores_from_output(out)
        per = nn.functional.binary_cross_entropy_with_logits(score, labels.float(), reduction="none")
        sw = w[labels]
        return (per * sw).sum() / sw.sum()

    def training_step(self, model: nn.Module, batch, device: torch.device):
        _, x, y = batch
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        out = model(x)
        loss = self.loss(out, y)
        acc = ((scores_from_output(out.detach()) > self.acc_threshold).long() == y).float().mean()
        return loss, {"acc": acc}

    def validation_outputs(self, model: nn.Module, batch, device: torch.device):
        utts, x, y = batch
        scores = scores_from_output(model(x.to(device, non_blocking=True))).cpu().tolist()
        return list(zip(utts, scores, y.tolist()))

    def validation_metrics(self, outputs: list[tuple]) -> dict[str, float]:
        from avdf.metrics import eer
        bona = np.array([s for _, s, y in outputs if y == 1])
        spoof = np.array([s for _, s, y in outputs if y == 0])
        if bona.size == 0 or spoof.size == 0:
            raise ValueError(f"validation set needs both classes; got {bona.size} bona fide, {spoof.size} spoof")
        value, _ = eer(bona, spoof)
        return {"eer": value, "n": float(len(outputs))}
