"""The generic trainer: resume gives the same result, averaging, selection, DDP on CPU."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from avdf.tasks import build_task
from avdf.train import checkpoint as ckpt
from avdf.train.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
CFG = {
    "task": "tests.toy_task:ToyTask", "seed": 7,
    "model": {"name": "toy", "hidden": 16, "dropout": 0.2},
    "optim": {"name": "adam", "lr": 0.01, "grad_clip": 5.0},
    "scheduler": {"name": "cosine", "warmup_steps": 2},
    "data": {"batch_size": 8, "num_workers": 0, "n_train": 96},
    "train": {"epochs": 4, "average": 2, "log_interval": 0},
}


def _fit(exp: Path, **train) -> dict:
    cfg = {**CFG, "train": {**CFG["train"], **train}}
    Trainer(build_task(cfg), exp, use_cuda=False).fit()
    return ckpt.load(exp / "model.pt")


def test_resume_gives_the_same_model(tmp_path):
    full = _fit(tmp_path / "full")
    # a run killed during epoch 3: only epochs 1-2 were checkpointed, no model.pt
    import shutil
    shutil.copytree(tmp_path / "full", tmp_path / "resumed")
    for name in ("checkpoints/epoch_3.pt", "checkpoints/epoch_4.pt", "model.pt"):
        (tmp_path / "resumed" / name).unlink()
    resumed = _fit(tmp_path / "resumed")
    for k, v in full["model"].items():
        assert torch.equal(v, resumed["model"][k]), k
    assert full["averaged_epochs"] == resumed["averaged_epochs"]


def test_selection_and_average(tmp_path):
    out = _fit(tmp_path / "e", epochs=3, average=2)
    assert len(out["averaged_epochs"]) == 2
    hist = ckpt.load(tmp_path / "e" / "checkpoints" / "epoch_3.pt")["history"]
    errs = {r["epoch"]: r["valid_err"] for r in hist}
    best = min(errs.values())
    assert errs[out["averaged_epochs"][0]] == best
    for p in ("config.yaml", "seed", "versions.txt", "train_history.tsv", "selection.json"):
        assert (tmp_path / "e" / p).is_file(), p
    a, b = (ckpt.load(tmp_path / "e" / "checkpoints" / f"epoch_{e}.pt")["model"] for e in out["averaged_epochs"])
    k = "net.0.weight"
    assert torch.allclose(out["model"][k], (a[k] + b[k]) / 2, atol=1e-6)
    assert torch.equal(out["model"]["net.1.num_batches_tracked"], b["net.1.num_batches_tracked"])


def test_keep_prunes_checkpoints(tmp_path):
    _fit(tmp_path / "k", epochs=4, keep=1, average=1)
    left = ckpt.epoch_checkpoints(tmp_path / "k" / "checkpoints")
    assert 4 in left and len(left) <= 2


def test_ddp_two_cpu_processes(tmp_path):
    cfg = {**CFG, "train": {**CFG["train"], "epochs": 2}}
    conf = tmp_path / "toy.yaml"
    conf.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    r = subprocess.run([str(ROOT / "egs/TEMPLATE/launch.sh"), "--nproc", "2", "--", "avdf.bin.train",
                        "--config", str(conf), "--exp_dir", str(tmp_path / "ddp")],
                       cwd=ROOT, env={**env, "PATH": f"{Path(sys.executable).parent}:{env['PATH']}"},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    out = ckpt.load(tmp_path / "ddp" / "model.pt")
    hist = out["best"]
    assert hist["valid_n"] == 40.0  # every validation item once, gathered over both ranks


def test_the_training_set_is_told_each_epoch(tmp_path, monkeypatch):
    from tests import toy_task
    seen = []
    monkeypatch.setattr(toy_task._Blobs, "set_epoch", lambda self, epoch: seen.append(epoch), raising=False)
    _fit(tmp_path / "e", epochs=3)
    assert seen == [1, 2, 3]
