"""avdf.bin.average_model: the trainer's average again, other numbers, and its errors."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from avdf.bin import average_model
from avdf.tasks import build_task
from avdf.train import checkpoint as ckpt
from avdf.train.trainer import load_trained_model
from tests.test_trainer import CFG, _fit


@pytest.fixture(scope="module")
def exp(tmp_path_factory):
    d = tmp_path_factory.mktemp("avg") / "toy"
    _fit(d, epochs=4, average=2)
    return d


def _weights(path):
    return ckpt.load(path)["model"]


def test_best_two_is_the_trainers_model(exp, tmp_path):
    out = tmp_path / "toy_avg2"
    assert average_model.main(["--exp_dir", str(exp), "--num", "2", "--out_dir", str(out)]) == 0
    trained, again = ckpt.load(exp / "model.pt"), ckpt.load(out / "model.pt")
    assert again["averaged_epochs"] == trained["averaged_epochs"]
    for k, v in trained["model"].items():
        assert torch.equal(v, again["model"][k]), k
    sel = json.loads((out / "selection.json").read_text())
    assert sel["select_metric"] == "err" and sel["averaged_epochs"] == trained["averaged_epochs"]


def test_last_three_default_dir_and_loading(exp):
    assert average_model.main(["--exp_dir", str(exp), "--num", "3", "--by", "last"]) == 0
    out = exp.with_name("toy_last3")
    got = _weights(out / "model.pt")
    parts = [_weights(exp / "checkpoints" / f"epoch_{e}.pt") for e in (2, 3, 4)]
    k = "net.0.weight"
    assert torch.allclose(got[k], sum(p[k] for p in parts) / 3, atol=1e-6)
    assert not torch.equal(got[k], _weights(exp / "model.pt")[k])
    assert (out / "config.yaml").read_text() == (exp / "config.yaml").read_text()
    load_trained_model(out, build_task(CFG))          # a scoring tool reads it as a trained exp dir


def test_errors(exp, tmp_path, capsys):
    assert average_model.main(["--exp_dir", str(exp), "--num", "5", "--out_dir", str(tmp_path / "a")]) == 1
    assert "4 usable epoch checkpoints, --num 5" in capsys.readouterr().err
    before = _weights(exp / "model.pt")
    assert average_model.main(["--exp_dir", str(exp), "--num", "1", "--out_dir", str(exp)]) == 1
    assert "would be replaced" in capsys.readouterr().err
    assert all(torch.equal(v, _weights(exp / "model.pt")[k]) for k, v in before.items())
    unfinished = tmp_path / "unfinished"
    shutil.copytree(exp, unfinished)
    (unfinished / "selection.json").unlink()
    assert average_model.main(["--exp_dir", str(unfinished), "--num", "1"]) == 1
    assert "selection.json: missing" in capsys.readouterr().err
    assert average_model.main(["--exp_dir", str(unfinished), "--num", "1", "--by", "last"]) == 0
    assert ckpt.load(tmp_path / "unfinished_last1" / "model.pt")["averaged_epochs"] == [4]
