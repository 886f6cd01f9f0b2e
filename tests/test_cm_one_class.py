"""The one-class CM head with OC-softmax: loss values, config errors, and a short training
of a one-class RawNet2 on tones through the trainer and inference."""
from __future__ import annotations

import math

import pytest
import torch

from avdf.bin import infer_cm
from avdf.data.datadir import read_kv
from avdf.losses.oc_softmax import OCSoftmax, one_class_loss
from avdf.models import build_model
from avdf.tasks import build_task
from avdf.tasks.cm import CMTask
from avdf.train.trainer import Trainer
from tests.test_cm_task import _wav_dir

RAWNET2 = {"name": "rawnet2", "first_conv": 64, "filts": [8, [8, 8], [8, 16], [16, 16]], "gru_node": 16,
           "nb_gru_layer": 1, "nb_fc_node": 16, "nb_classes": 8}


def test_one_class_loss_values():
    s = torch.tensor([0.9, 0.2, 1.0, -1.0])
    bona = torch.tensor([True, False, True, False])
    per = one_class_loss(s, bona, m_real=0.9, m_fake=0.2, alpha=20.0)
    torch.testing.assert_close(per[:2], torch.full((2,), math.log(2.0)))   # on the margins: softplus(0)
    assert per[2] < 0.2 and per[3] < 1e-6                                   # well inside: near zero
    assert one_class_loss(torch.tensor([0.2]), torch.tensor([True]))[0] > 10  # a bona fide far below m_real
    # the ASV-style head (class 0 = bona fide) gives the same loss through the shared function
    head = OCSoftmax(4)
    emb = torch.randn(6, 4)
    labels = torch.tensor([0, 1, 0, 1, 1, 0])
    loss, _ = head(emb, labels)
    torch.testing.assert_close(loss, one_class_loss(head.score(emb), labels == 0).mean())


def test_task_weights_the_one_class_loss_and_checks_the_config():
    task = CMTask({"task": "cm", "loss": {"name": "ocsoftmax", "m_real": 0.8, "class_weights": [0.25, 0.75]}})
    cos = torch.tensor([0.5, 0.1, 0.95])
    y = torch.tensor([1, 0, 0])
    per = one_class_loss(cos, y == 1, m_real=0.8)
    torch.testing.assert_close(task.loss(cos, y), (per * torch.tensor([0.75, 0.25, 0.25])).sum() / 1.25)
    assert task.acc_threshold == pytest.approx(0.5)
    with pytest.raises(ValueError, match="returns cosines"):
        task.loss(torch.zeros(3, 2), y)
    with pytest.raises(ValueError, match="knows ocsoftmax"):
        CMTask({"task": "cm", "loss": {"name": "focal"}})
    with pytest.raises(ValueError, match="add loss.name: ocsoftmax"):
        CMTask({"task": "cm", "loss": {"m_real": 0.9}})


def test_one_class_model_gives_cosines_and_names_a_size_mismatch():
    model = build_model({"name": "one_class", "emb_dim": 8, "backbone": RAWNET2})
    cos = model(torch.randn(3, 4000))
    assert cos.shape == (3,) and bool((cos.abs() <= 1 + 1e-6).all())
    bad = build_model({"name": "one_class", "emb_dim": 6, "backbone": RAWNET2})
    with pytest.raises(ValueError, match=r"gives \(3, 8\).*expects \(B, 6\)"):
        bad(torch.randn(3, 4000))
    with pytest.raises(ValueError, match="model.backbone"):
        build_model({"name": "one_class", "emb_dim": 8, "backbone": "rawnet2"})


def test_one_class_rawnet2_learns_tones_and_scores(tmp_path):
    torch.set_num_threads(1)
    _wav_dir(tmp_path / "train", n=32, seed=1)
    lab = _wav_dir(tmp_path / "dev", n=16, seed=2)
    cfg = {"task": "cm", "seed": 3, "model": {"name": "one_class", "emb_dim": 8, "backbone": RAWNET2},
           "data": {"input": "wav", "crop": 4000, "eval_crop": 8000, "batch_size": 8, "valid_batch_size": 8},
           "loss": {"name": "ocsoftmax"}, "optim": {"name": "adam", "lr": 3e-3}, "train": {"epochs": 4}}
    task = build_task(cfg, {"train": str(tmp_path / "train"), "valid": str(tmp_path / "dev")})
    exp = tmp_path / "exp"
    Trainer(task, exp, use_cuda=False).fit()
    hist = [r.split("\t") for r in (exp / "train_history.tsv").read_text().splitlines()]
    i = hist[0].index("valid_eer")
    assert min(float(r[i]) for r in hist[1:]) < 0.2, hist   # tones are easy: the head must learn them
    out = tmp_path / "dev.txt"
    assert infer_cm.main(["--exp_dir", str(exp), "--data", str(tmp_path / "dev"), "--out", str(out), "--cpu"]) == 0
    scores = {u: float(s) for u, s in read_kv(out).items()}
    assert sorted(scores) == sorted(lab) and all(-1 - 1e-6 <= s <= 1 + 1e-6 for s in scores.values())
