"""The ``probe`` task: a probe (avdf.models.av.probe) on precomputed frame features.

Data dirs hold ``feats.scp`` (``T x D`` float per video, from ``python -m avdf.bin.extract_ssl``)
and ``utt2label``. The trainer selects on the validation loss (with ``train.patience``
for early stopping, as the linear-probe protocol wants); validation also reports AUC
and EER. Config::

    task: probe
    model: {name: linear_probe, in_dim: null, lse_r: 1.0}   # in_dim null: read from the data
    data: {batch_size: 16, max_frames: 500}                 # random crop of long videos in training
    loss: {balanced: true}                                  # weight real and fake equally
    optim: {name: adam, lr: 1.0e-3}
    train: {epochs: 50, patience: 5, select_metric: loss}
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import kaldiio
import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from avdf.data.datadir import DataDirError, read_kv
from avdf.metrics import auc, eer
from avdf.tasks import Task

logger = logging.getLogger(__name__)


class FeatsDataset(Dataset):
    """``(utt, feats (T, D) float tensor, is_fake)`` per video of a data dir with feats.scp."""

    def __init__(self, data: str | Path, max_frames: int | None = None, crop: bool = False):
        data = Path(data)
        self.feats = read_kv(data / "feats.scp")
        labels = read_kv(data / "utt2label")
        missing = [u for u in self.feats if u not in labels]
        if missing:
            raise DataDirError(f"{data}/utt2label: no label for {missing[0]!r} of feats.scp ({len(missing)} in all)")
        self.utts = list(self.feats)
        self.fake = [int(labels[u] == "spoof") for u in self.utts]
        self.max_frames, self.crop = max_frames, crop

    def __len__(self) -> int:
        return len(self.utts)

    def load(self, utt: str) -> np.ndarray:
        return np.array(kaldiio.load_mat(self.feats[utt]), dtype=np.float32)  # a writable copy

    def __getitem__(self, i: int):
        x = self.load(self.utts[i])
        if self.max_frames and x.shape[0] > self.max_frames:
            start = np.random.randint(0, x.shape[0] - self.max_frames + 1) if self.crop else 0
            x = x[start:start + self.max_frames]
        return self.utts[i], torch.from_numpy(x), self.fake[i]


def pad_collate(batch):
    """``(utts, feats (B, T, D) zero-padded, lengths (B,), is_fake (B,) float)``."""
    utts, xs, ys = zip(*batch)
    lengths = torch.tensor([x.shape[0] for x in xs])
    feats = nn.utils.rnn.pad_sequence(list(xs), batch_first=True)
    return list(utts), feats, lengths, torch.tensor(ys, dtype=torch.float32)


def feature_stats(ds: FeatsDataset, max_videos: int = 2000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and standard deviation over the frames of (up to ``max_videos``) videos."""
    idx = np.random.default_rng(seed).permutation(len(ds))[:max_videos]
    s = s2 = None
    n = 0
    for i in idx:
        x = ds.load(ds.utts[i]).astype(np.float64)
        s = x.sum(0) if s is None else s + x.sum(0)
        s2 = (x * x).sum(0) if s2 is None else s2 + (x * x).sum(0)
        n += x.shape[0]
    mean = s / n
    std = np.sqrt(np.maximum(s2 / n - mean * mean, 0.0))
    return torch.from_numpy(mean).float(), torch.from_numpy(std).float()


class ProbeTask(Task):
    select_metric = "loss"
    select_mode = "min"

    def __init__(self, cfg: dict[str, Any], data: Mapping[str, str] | None = None):
        super().__init__(cfg, data)
        model = self.cfg.setdefault("model", {"name": "linear_probe"})
        if not model.get("in_dim"):
            first = next((self.data[r] for r in ("train", "valid", "test") if r in self.data), None)
            if first is None:
                raise ValueError("model.in_dim is not set and no data dir is given to read it from")
            ds = FeatsDataset(first)
            model["in_dim"] = int(ds.load(ds.utts[0]).shape[1])
        self._train = None

    def _dcfg(self) -> dict[str, Any]:
        return self.cfg.get("data") or {}

    def build_model(self) -> nn.Module:
        model = super().build_model()
        if "train" in self.data:
            mean, std = feature_stats(self.train_dataset(), seed=int(self.cfg.get("seed", 0)))
            model.norm.set_stats(mean, std)
        return model

    def train_dataset(self) -> FeatsDataset:
        if self._train is None:
            self._train = FeatsDataset(self.data["train"], self._dcfg().get("max_frames"), crop=True)
            if len(set(self._train.fake)) < 2:
                raise DataDirError(f"{self.data['train']}: the training set needs real and fake videos")
            fake = float(np.mean(self._train.fake))
            balanced = bool((self.cfg.get("loss") or {}).get("balanced", True))
            # weights making both classes count equally (1 for each when already balanced)
            self.class_weight = (0.5 / (1 - fake), 0.5 / fake) if balanced else (1.0, 1.0)
        return self._train

    def valid_dataset(self) -> FeatsDataset | None:
        if "valid" not in self.data:
            return None
        return FeatsDataset(self.data["valid"], self._dcfg().get("max_frames"), crop=False)

    def dataset(self, role: str) -> FeatsDataset:
        """Every frame of every video of data dir ``role`` (scoring, fitting)."""
        if role not in self.data:
            raise ValueError(f"no {role!r} data dir given")
        return FeatsDataset(self.data[role])

    def collate_fn(self, train: bool):
        return pad_collate

    def _loss(self, score: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        if self._train is None:
            self.train_dataset()
        w = torch.where(fake > 0.5, self.class_weight[1], self.class_weight[0]).to(score.dtype)
        return (w * nn.functional.binary_cross_entropy_with_logits(-score, fake, reduction="none")).mean()

    def training_step(self, model, batch, device):
        _, feats, lengths, fake = batch
        score, _ = model(feats.to(device), lengths.to(device))
        fake = fake.to(device)
        loss = self._loss(score.float(), fake)
        acc = ((score < 0).float() == fake).float().mean()
        return loss, {"acc": acc}

    def validation_outputs(self, model, batch, device):
        utts, feats, lengths, fake = batch
        score, _ = model(feats.to(device), lengths.to(device))
        return list(zip(utts, score.float().cpu().tolist(), fake.tolist()))

    def validation_metrics(self, outputs):
        score = torch.tensor([o[1] for o in outputs], dtype=torch.float64)
        fake = torch.tensor([o[2] for o in outputs], dtype=torch.float64)
        out = {"loss": float(self._loss(score, fake))}
        real_s, fake_s = score[fake < 0.5].numpy(), score[fake > 0.5].numpy()
        if len(real_s) and len(fake_s):
            out["auc"] = auc(real_s, fake_s)
            out["eer"] = eer(real_s, fake_s)[0]
        return out
