"""The cm task: datasets (crops, padding, labels), losses, validation EER, training and split inference."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from avdf.bin import infer_cm
from avdf.data.audio import AudioError
from avdf.data.datadir import DataDirError, read_kv, write_kv
from avdf.tasks import build_task
from avdf.tasks.cm import CMDataset, CMTask, collate_repeat, random_crop, repeat_to, scores_from_output
from avdf.train.trainer import Trainer

SR = 16000


def _wav_dir(d: Path, n: int = 16, seed: int = 0, sr: int = SR) -> dict[str, str]:
    """Bona fide: a low tone; spoof: a high tone; lengths 0.3..0.7 s, with noise."""
    rng = np.random.default_rng(seed)
    d.mkdir(parents=True)
    wav, lab = {}, {}
    for i in range(n):
        bona = i % 2 == 0
        length = int(sr * rng.uniform(0.3, 0.7))
        t = np.arange(length) / sr
        f = rng.uniform(200, 400) if bona else rng.uniform(2500, 3500)
        x = 0.3 * np.sin(2 * np.pi * f * t) + 0.02 * rng.standard_normal(length)
        utt = f"utt{seed}_{i:03d}"
        sf.write(d / f"{utt}.flac", x.astype(np.float32), sr)
        wav[utt], lab[utt] = str(d / f"{utt}.flac"), "bonafide" if bona else "spoof"
    write_kv(d / "wav.scp", wav)
    write_kv(d / "utt2label", lab)
    return lab


def test_repeat_and_crop():
    x = np.arange(5)
    np.testing.assert_array_equal(repeat_to(x, 12), [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1])
    np.testing.assert_array_equal(repeat_to(x, 3), [0, 1, 2])
    rng = np.random.default_rng(0)
    crops = {tuple(random_crop(np.arange(10), 4, rng)) for _ in range(50)}
    assert all(len(c) == 4 and np.all(np.diff(c) == 1) for c in crops) and len(crops) > 3
    feats = np.arange(12).reshape(3, 4)
    assert repeat_to(feats, 7).shape == (7, 4)


def test_dataset_modes_and_collate(tmp_path):
    lab = _wav_dir(tmp_path / "d")
    train = CMDataset(tmp_path / "d", crop=4000)
    utt, x, y = train[0]
    assert x.shape == (4000,) and y == (1 if lab[utt] == "bonafide" else 0)
    fixed = CMDataset(tmp_path / "d", fixed=20000)
    assert fixed[1][1].shape == (20000,)  # longer than any utterance: repeated
    full = CMDataset(tmp_path / "d")
    items = [full[i] for i in range(3)]
    utts, batch, labels = collate_repeat(items)
    assert batch.shape == (3, max(it[1].shape[0] for it in items)) and labels.tolist() == [it[2] for it in items]
    # repeat padding keeps the short item's start
    torch.testing.assert_close(batch[0, : items[0][1].shape[0]], items[0][1])
    boosted = CMDataset(tmp_path / "d", crop=4000, rawboost={"algo": 3})
    assert boosted[0][1].shape == (4000,)


def test_dataset_errors(tmp_path):
    _wav_dir(tmp_path / "d")
    lines = (tmp_path / "d" / "utt2label").read_text().splitlines()
    (tmp_path / "d" / "utt2label").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(DataDirError, match="no label"):
        CMDataset(tmp_path / "d")
    (tmp_path / "d" / "utt2label").write_text("\n".join(lines[:-1] + [lines[-1].split()[0] + " fake"]) + "\n")
    with pytest.raises(DataDirError, match=r"utt2label:16: label 'fake'"):
        CMDataset(tmp_path / "d")
    _wav_dir(tmp_path / "e", sr=8000)
    with pytest.raises(AudioError, match="wav.scp:1: .*8000 Hz, expected 16000"):
        CMDataset(tmp_path / "e")[0]
    with pytest.raises(DataDirError, match="feats.scp: missing"):
        CMDataset(tmp_path / "e", input="feats")


def test_losses_and_scores():
    task = CMTask({"task": "cm", "loss": {"class_weights": [0.1, 0.9]}})
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.3], [-1.0, 1.0]])
    y = torch.tensor([0, 1, 1])
    manual = -(0.1 * torch.log_softmax(logits, 1)[0, 0] + 0.9 * torch.log_softmax(logits, 1)[1, 1]
               + 0.9 * torch.log_softmax(logits, 1)[2, 1]) / (0.1 + 0.9 + 0.9)
    torch.testing.assert_close(task.loss(logits, y), manual)
    torch.testing.assert_close(scores_from_output(logits), torch.tensor([-3.0, -0.2, 2.0]))
    score = torch.tensor([[1.0], [-2.0], [0.0]])
    bce = torch.nn.functional.binary_cross_entropy_with_logits(score[:, 0], y.float(), reduction="none")
    torch.testing.assert_close(task.loss(score, y), (bce * torch.tensor([0.1, 0.9, 0.9])).sum() / 1.9)
    with pytest.raises(ValueError):
        scores_from_output(torch.zeros(2, 3))
    metrics = task.validation_metrics([("a", 1.0, 1), ("b", 0.5, 1), ("c", 0.7, 0), ("d", -1.0, 0)])
    assert metrics["eer"] == pytest.approx(0.5)


def _cfg(epochs: int = 4) -> dict:
    return {"task": "cm", "seed": 3,
            "model": {"name": "aasist", "first_conv": 32, "filts": [12, [1, 4], [4, 4], [4, 8], [8, 8]],
                      "gat_dims": [8, 8]},
            "data": {"input": "wav", "crop": 4000, "eval_crop": 8000, "batch_size": 8, "valid_batch_size": 4},
            "loss": {"class_weights": [0.5, 0.5]}, "optim": {"name": "adam", "lr": 3e-3},
            "train": {"epochs": epochs, "average": 2}}


def test_train_selects_on_dev_eer_and_scores_in_jobs(tmp_path):
    torch.set_num_threads(1)
    _wav_dir(tmp_path / "train", n=32, seed=1)
    lab = _wav_dir(tmp_path / "dev", n=16, seed=2)
    cfg = _cfg()
    task = build_task(cfg, {"train": str(tmp_path / "train"), "valid": str(tmp_path / "dev")})
    exp = tmp_path / "exp"
    Trainer(task, exp, use_cuda=False).fit()
    hist = (exp / "train_history.tsv").read_text().splitlines()
    assert hist[0].split("\t")[:5] == ["epoch", "lr", "train_loss", "train_acc", "valid_eer"]
    best = min(float(r.split("\t")[4]) for r in hist[1:])
    assert best < 0.2, hist  # tones are easy: the model must learn them
    # two jobs + merge give the same scores as one job
    one, two = tmp_path / "one.txt", tmp_path / "two.txt"
    assert infer_cm.main(["--exp_dir", str(exp), "--data", str(tmp_path / "dev"), "--out", str(one), "--cpu"]) == 0
    for j in (1, 2):
        assert infer_cm.main(["--exp_dir", str(exp), "--data", str(tmp_path / "dev"), "--out", str(two), "--cpu",
                              "--nj", "2", "--job", str(j)]) == 0
    assert not two.exists()
    assert infer_cm.main(["--merge", "--data", str(tmp_path / "dev"), "--out", str(two), "--nj", "2"]) == 0
    # several data dirs with one model load
    both = [tmp_path / "dev_again.txt", tmp_path / "train.txt"]
    assert infer_cm.main(["--exp_dir", str(exp), "--data", str(tmp_path / "dev"), str(tmp_path / "train"), "--out",
                          *map(str, both), "--cpu"]) == 0
    assert read_kv(both[0]) == read_kv(one) and len(read_kv(both[1])) == 32
    a, b = read_kv(one), read_kv(two)
    assert list(a) == list(b) == sorted(lab)
    np.testing.assert_allclose([float(a[k]) for k in a], [float(b[k]) for k in a], atol=1e-5)
    # a missing job is an error naming the part
    (tmp_path / "split2" / "two.txt.2").unlink()
    assert infer_cm.main(["--merge", "--out", str(two), "--nj", "2"]) == 1


def test_resume_gives_the_same_model(tmp_path):
    """Random crops and RawBoost draw from the trainer's per-epoch seeds: 2 epochs in one go
    and 1 epoch + resume give the same weights."""
    torch.set_num_threads(1)
    _wav_dir(tmp_path / "train", n=8, seed=1)
    _wav_dir(tmp_path / "dev", n=4, seed=2)
    cfg = _cfg(epochs=2)
    cfg["data"].update(eval_crop=4000, rawboost={"algo": 4})
    data = {"train": str(tmp_path / "train"), "valid": str(tmp_path / "dev")}
    Trainer(build_task(cfg, data), tmp_path / "straight", use_cuda=False).fit()
    Trainer(build_task({**cfg, "train": {**cfg["train"], "epochs": 1}}, data), tmp_path / "resumed",
            use_cuda=False).fit()
    Trainer(build_task(cfg, data), tmp_path / "resumed", use_cuda=False).fit()
    a = torch.load(tmp_path / "straight" / "checkpoints" / "epoch_2.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "resumed" / "checkpoints" / "epoch_2.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_crop_mode_first_takes_the_first_samples(tmp_path):
    """``data.crop_mode: first`` (RawNet2's 2021 baseline training): the first ``crop``
    samples, repeated when shorter; ``random`` draws windows that start elsewhere."""
    d = tmp_path / "d"
    d.mkdir()
    x = (np.arange(3000) % 200 / 400).astype(np.float32)
    sf.write(str(d / "a.wav"), x, 16000, subtype="FLOAT")
    sf.write(str(d / "b.wav"), x[:700], 16000, subtype="FLOAT")
    (d / "wav.scp").write_text(f"a {d / 'a.wav'}\nb {d / 'b.wav'}\n")
    (d / "utt2label").write_text("a bonafide\nb spoof\n")
    first = CMDataset(d, crop=1000, crop_mode="first")
    np.testing.assert_array_equal(first[0][1].numpy(), x[:1000])
    np.testing.assert_array_equal(first[1][1].numpy(), np.concatenate([x[:700], x[:300]]))
    np.random.seed(3)
    rand = CMDataset(d, crop=1000)
    assert any(not np.array_equal(rand[0][1].numpy(), x[:1000]) for _ in range(5))
    with pytest.raises(ValueError, match="crop_mode"):
        CMDataset(d, crop=1000, crop_mode="last")
