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


def test_improving_epochs():
    h = [{"epoch": 1, "valid_err": 0.3}, {"epoch": 2, "valid_err": 0.4}, {"epoch": 3, "valid_err": 0.3},
         {"epoch": 4}, {"epoch": 5, "valid_err": 0.1}, {"epoch": 6, "valid_err": 0.2}]
    assert ckpt.improving_epochs(h, "err", "min") == [1, 3, 5]  # ties count, as AASIST's `>=`
    assert ckpt.improving_epochs(h, "err", "max") == [1, 2]


def test_swa_of_improving_epochs_with_bn_update(tmp_path):
    """``average: improving`` averages exactly the running-best epochs; ``swa_bn_update``
    then replaces the BatchNorm statistics by those of one pass over the training data."""
    out = _fit(tmp_path / "s", epochs=5, average="improving", swa_bn_update=True)
    hist = ckpt.load(tmp_path / "s" / "checkpoints" / "epoch_5.pt")["history"]
    want = ckpt.improving_epochs(hist, "err", "min")
    assert sorted(out["averaged_epochs"]) == want
    states = [ckpt.load(tmp_path / "s" / "checkpoints" / f"epoch_{e}.pt")["model"] for e in want]
    k = "net.0.weight"
    assert torch.allclose(out["model"][k], sum(s[k] for s in states) / len(states), atol=1e-6)
    # the statistics are the training data's under the averaged weights, not an average of the epochs'
    from tests.toy_task import ToyNet, _Blobs
    net = ToyNet()
    net.load_state_dict(out["model"])
    feats = torch.from_numpy(_Blobs(96, 0).x)
    h = net.net[0](feats)
    assert torch.allclose(out["model"]["net.1.running_mean"], h.mean(0).detach(), atol=0.05)
    avg_stats = sum(s["net.1.running_mean"] for s in states) / len(states)
    assert not torch.allclose(out["model"]["net.1.running_mean"], avg_stats, atol=1e-4)


def test_another_config_in_a_trained_dir_stops_with_the_difference(tmp_path):
    """Re-training into a dir whose checkpoints came from another config stops before
    touching config.yaml; more epochs (a resume) are fine; a stage that loads the model
    refuses a config.yaml whose model section is not the one model.pt was trained with."""
    from avdf.train.trainer import load_trained_model
    from avdf.utils.config import ConfigError
    exp = tmp_path / "e"
    _fit(exp, epochs=2)
    before = (exp / "config.yaml").read_text()
    cfg = {**CFG, "model": {**CFG["model"], "hidden": 32}, "train": {**CFG["train"], "epochs": 2}}
    with pytest.raises(ConfigError, match=r"model.hidden: 16 -> 32"):
        Trainer(build_task(cfg), exp, use_cuda=False).fit()
    assert (exp / "config.yaml").read_text() == before
    _fit(exp, epochs=3)  # resuming for one more epoch is the same experiment
    assert ckpt.load(exp / "checkpoints" / "epoch_3.pt")["config"]["train"]["epochs"] == 3
    # an inference-time override of a model key (as --model.infer_by) leaves config.yaml as it is: allowed
    load_trained_model(exp, build_task({**CFG, "model": {**CFG["model"], "dropout": 0.0}}))
    (exp / "config.yaml").write_text(before.replace("hidden: 16", "hidden: 32"))
    with pytest.raises(ckpt.CheckpointError, match="another model config"):
        load_trained_model(exp, build_task(cfg))
