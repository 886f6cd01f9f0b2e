"""A tiny classification task for testing the generic trainer (not a recipe)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from avdf.tasks import Task


class _Blobs(Dataset):
    def __init__(self, n: int, seed: int):
        rng = np.random.default_rng(seed)
        self.y = rng.integers(0, 2, n)
        self.x = (rng.normal(size=(n, 8)) + self.y[:, None] * 1.5).astype(np.float32)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        # np.random is seeded per worker/epoch by the trainer: this noise is reproducible
        noise = np.random.normal(scale=0.1, size=8).astype(np.float32)
        return f"utt{i:04d}", torch.from_numpy(self.x[i] + noise), int(self.y[i])


class ToyNet(nn.Module):
    def __init__(self, hidden: int = 16, dropout: float = 0.2):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                                 nn.Dropout(dropout), nn.Linear(hidden, 2))

    def forward(self, x):
        return self.net(x)


class ToyTask(Task):
    select_metric = "err"
    select_mode = "min"

    def build_model(self):
        return ToyNet(**{k: v for k, v in self.cfg["model"].items() if k != "name"})

    def train_dataset(self):
        return _Blobs(int(self.cfg["data"].get("n_train", 96)), 0)

    def valid_dataset(self):
        return _Blobs(40, 1)

    def training_step(self, model, batch, device):
        _, x, y = batch
        logits = model(x.to(device))
        loss = nn.functional.cross_entropy(logits, y.to(device))
        return loss, {"acc": (logits.argmax(1).cpu() == y).float().mean()}

    def validation_outputs(self, model, batch, device):
        keys, x, y = batch
        s = model(x.to(device)).float()
        score = (s[:, 1] - s[:, 0]).cpu().tolist()
        return list(zip(keys, score, y.tolist()))

    def validation_metrics(self, outputs):
        keys = [o[0] for o in outputs]
        assert len(keys) == len(set(keys)), "validation item seen twice"
        err = np.mean([(s > 0) != (y == 1) for _, s, y in outputs])
        return {"err": float(err), "n": float(len(outputs))}
