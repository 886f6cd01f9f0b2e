"""avdf's RawNet2 computes what the official ASVspoof 2021 baseline computes, and imports its
checkpoints (``avdf.bin.import_model --format asvspoof2021_rawnet2``).

The official checkpoints (about 70 MB) are not shipped. Instead :func:`official_state` makes
a state dict with the official key names and shapes for a small configuration (``SMALL``),
deterministically from numpy's default generator, with plausible magnitudes (BatchNorm
variances positive, the first BatchNorm's statistics of the size of the sinc magnitudes of
the test waveforms). ``REFERENCE`` holds what the official model gives with those tensors.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from avdf.bin import import_model, infer_cm
from avdf.data.datadir import read_kv
from avdf.models import build_model
from avdf.models.cm.rawnet2 import asvspoof2021_key, from_asvspoof2021
from avdf.tasks import build_task
from avdf.tasks.cm import repeat_to
from avdf.train.trainer import load_trained_model
from tests.fidelity_inputs import CASES, signal, write_wav

CONF = Path(__file__).resolve().parents[1] / "egs" / "asvspoof2019_la" / "cm1" / "conf"

#: a small RawNet2 that the official class accepts through its d_args (first_conv 128 is
#: made odd, 129 taps, by both implementations)
SMALL = {"first_conv": 128, "filts": [20, [20, 20], [20, 32], [32, 32]], "gru_node": 32,
         "nb_gru_layer": 2, "nb_fc_node": 32}
SEED = 2021
EVAL_SAMPLES = 64600   # the official evaluation: the first 64,600 samples, repeated if shorter

#: utt -> (log P(spoof), log P(bona fide)), the official model's output for the waveform
#: ``signal(seed, n)`` of ``tests/fidelity_inputs.py`` (utt ``case<seed>_<n>``). Made on
#: 2026-12-04 by running the official ``RawNet`` class of asvspoof-challenge/2021
#: ``LA/Baseline-RawNet2/model.py`` (``DF/Baseline-RawNet2/model.py`` is the same file) at
#: commit 9b33f5eca887bd3bf629e3fb79428cd9bb7ac972 (2023-04-13; model.py last changed
#: 2021-06-01), outside this project: ``d_args`` = SMALL plus ``in_channels: 1, nb_classes:
#: 2``, ``load_state_dict(official_state(SMALL), strict=True)``, eval mode, CPU, float32
#: (torch 2.11.0, numpy 2.4.6), one batch of the six waveforms, each padded by the official
#: ``data_utils.pad`` to 64,600 samples (librosa, which ``pad`` does not use, stubbed out).
#: The official ``main.py`` writes column 1 (log P(bona fide)) as the score.
REFERENCE = {
    "case1_16000": (-0.539605, -0.874618),  # bona fide - spoof -0.335013
    "case2_24000": (-0.054418, -2.938141),  # -2.883723
    "case3_40000": (-0.702223, -0.684153),  # 0.018069
    "case4_64600": (-0.419584, -1.070958),  # -0.651374
    "case5_70000": (-0.536950, -0.878340),  # -0.341390
    "case6_96000": (-0.533764, -0.882841),  # -0.349077
}


def official_shapes(cfg: dict, nb_classes: int = 2) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the official RawNet2 state dict for a config in its d_args form."""
    f0 = int(cfg["filts"][0])
    (a1, b1), (a2, b2) = cfg["filts"][1], cfg["filts"][2]
    hidden, layers, fc = int(cfg["gru_node"]), int(cfg["nb_gru_layer"]), int(cfg["nb_fc_node"])
    shapes: dict[str, tuple[int, ...]] = {}

    def bn(name: str, c: int) -> None:
        for leaf in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{name}.{leaf}"] = (c,)
        shapes[f"{name}.num_batches_tracked"] = ()

    def lin(name: str, out: int, *inp: int) -> None:
        shapes[f"{name}.weight"] = (out, *inp)
        shapes[f"{name}.bias"] = (out,)

    bn("first_bn", f0)
    # block0 and block1 are filts[1], block2 filts[2], blocks 3-5 filts[2] with its input
    # channels set to its output channels; each block sits in a one-element Sequential
    for i, (cin, cout) in enumerate([(a1, b1), (a1, b1), (a2, b2), (b2, b2), (b2, b2), (b2, b2)]):
        p = f"block{i}.0"
        if i:
            bn(f"{p}.bn1", cin)
        lin(f"{p}.conv1", cout, cin, 3)
        bn(f"{p}.bn2", cout)
        lin(f"{p}.conv2", cout, cout, 3)
        if cin != cout:
            lin(f"{p}.conv_downsample", cout, cin, 1)
        lin(f"fc_attention{i}.0", cout, cout)
    bn("bn_before_gru", b2)
    for layer in range(layers):
        shapes[f"gru.weight_ih_l{layer}"] = (3 * hidden, b2 if layer == 0 else hidden)
        shapes[f"gru.weight_hh_l{layer}"] = (3 * hidden, hidden)
        shapes[f"gru.bias_ih_l{layer}"] = (3 * hidden,)
        shapes[f"gru.bias_hh_l{layer}"] = (3 * hidden,)
    lin("fc1_gru", fc, hidden)
    lin("fc2_gru", nb_classes, fc)
    return shapes


def official_state(cfg: dict, seed: int = SEED) -> dict[str, torch.Tensor]:
    """Deterministic tensors in the official layout: key number i (in sorted order) from
    ``np.random.default_rng([seed, i]).random(shape)``, scaled by the kind of tensor."""
    state = {}
    for i, (key, shape) in enumerate(sorted(official_shapes(cfg).items())):
        module, leaf = key.rsplit(".", 1)
        if leaf == "num_batches_tracked":
            state[key] = torch.tensor(1000, dtype=torch.int64)
            continue
        u = np.random.default_rng([seed, i]).random(shape)
        if module.split(".")[-1] in ("first_bn", "bn1", "bn2", "bn_before_gru"):
            first = module == "first_bn"   # sees max-pooled sinc magnitudes, about 0.01-0.03
            v = {"weight": 0.8 + 0.4 * u, "bias": 0.2 * (u - 0.5),
                 "running_mean": (0.02 * (0.5 + u)) if first else 0.2 * (u - 0.5),
                 "running_var": (2e-4 * (0.5 + u)) if first else 0.5 + u}[leaf]
        elif leaf.startswith("weight"):
            # unit-variance-preserving uniform; the two classifier layers 3 x larger, so
            # that the scores of the six waveforms spread over about one unit
            fan_in = int(np.prod(shape[1:]))
            v = (2 * u - 1) * math.sqrt(3.0 / fan_in) * (3.0 if module in ("fc1_gru", "fc2_gru") else 1.0)
        else:
            v = 0.1 * (2 * u - 1)
        state[key] = torch.tensor(v, dtype=torch.float32)
    return state


def utt_id(seed: int, n: int) -> str:
    return f"case{seed}_{n}"


def _conf(path: Path, model: dict) -> Path:
    cfg = {"task": "cm", "seed": 1234, "model": {"name": "rawnet2", **model},
           "data": {"input": "wav", "sample_rate": 16000, "crop": EVAL_SAMPLES, "eval_crop": EVAL_SAMPLES,
                    "batch_size": len(CASES), "valid_batch_size": len(CASES), "num_workers": 0}}
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _data_dir(path: Path) -> Path:
    path.mkdir()
    wav, lab = [], []
    for seed, n in CASES:
        utt = utt_id(seed, n)
        write_wav(path / f"{utt}.wav", seed, n)
        wav.append(f"{utt} {path / f'{utt}.wav'}\n")
        lab.append(f"{utt} {'bonafide' if seed % 2 else 'spoof'}\n")
    (path / "wav.scp").write_text("".join(wav))
    (path / "utt2label").write_text("".join(lab))
    return path


def _import(tmp_path: Path, state: dict, conf: Path, out: Path) -> int:
    ckpt = tmp_path / "official.pth"
    torch.save(state, ckpt)
    return import_model.main(["--format", "asvspoof2021_rawnet2", "--checkpoint", str(ckpt),
                              "--config", str(conf), "--out", str(out)])


def test_reference_covers_the_cases():
    assert sorted(REFERENCE) == sorted(utt_id(s, n) for s, n in CASES)


def test_official_checkpoint_scores_as_the_official_model(tmp_path):
    exp = tmp_path / "exp" / "rawnet2_official"
    assert _import(tmp_path, official_state(SMALL), _conf(tmp_path / "rawnet2_small.yaml", SMALL), exp) == 0
    data = _data_dir(tmp_path / "eval")
    scores = tmp_path / "scores.txt"
    assert infer_cm.main(["--exp_dir", str(exp), "--data", str(data), "--out", str(scores), "--cpu",
                          "--amp", "none", "--data.eval_crop", str(EVAL_SAMPLES)]) == 0
    got = {utt: float(s) for utt, s in read_kv(scores).items()}
    assert sorted(got) == sorted(REFERENCE)
    for utt, (spoof, bona) in REFERENCE.items():
        # avdf's score is bona fide minus spoof; the official main.py writes log P(bona fide)
        assert got[utt] == pytest.approx(bona - spoof, abs=1e-3), utt
        assert -math.log1p(math.exp(-got[utt])) == pytest.approx(bona, abs=1e-3), utt

    # the imported model's own output is the official one: both log-probabilities
    cfg = yaml.safe_load((exp / "config.yaml").read_text())
    model = load_trained_model(exp, build_task(cfg, {}))
    x = torch.stack([torch.from_numpy(repeat_to(signal(s, n), EVAL_SAMPLES)) for s, n in CASES])
    with torch.no_grad():
        out = model(x)
    want = torch.tensor([REFERENCE[utt_id(s, n)] for s, n in CASES])
    torch.testing.assert_close(out, want, atol=1e-3, rtol=0)


def test_preact_blocks_is_not_the_official_computation():
    """The switch changes the numbers (so the reference test would catch the old default)."""
    state = from_asvspoof2021(official_state(SMALL))
    x = torch.stack([torch.from_numpy(repeat_to(signal(s, n), EVAL_SAMPLES)) for s, n in CASES[:2]])
    outs = []
    for preact in (False, True):
        model = build_model({"name": "rawnet2", **SMALL, "preact_blocks": preact}).eval()
        model.load_state_dict(state, strict=True)
        with torch.no_grad():
            outs.append(model(x))
    assert (outs[0] - outs[1]).abs().max() > 1e-2


def test_paper_config_has_the_official_parameter_count_and_layout():
    """conf/rawnet2.yaml has the official model's 17,621,410 parameters (the official RawNet
    class built from its model_config_RawNet.yaml, counted by its main.py's formula), and the
    official key layout of that configuration fills it key by key and shape by shape."""
    cfg = yaml.safe_load((CONF / "rawnet2.yaml").read_text())["model"]
    model = build_model(cfg)
    assert sum(p.numel() for p in model.parameters()) == 17_621_410
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    shapes = {k: tuple(s) for k, s in official_shapes(cfg).items()}
    assert {asvspoof2021_key(k): s for k, s in shapes.items()} == expected


@pytest.mark.parametrize("damage", ["missing", "misshaped", "unexpected"])
def test_a_checkpoint_that_does_not_fit_is_refused(tmp_path, damage, capsys):
    state = official_state(SMALL)
    if damage == "missing":
        del state["block3.0.conv2.weight"]
    elif damage == "misshaped":
        state["fc_attention2.0.weight"] = torch.zeros(16, 32)
    else:   # a learnable sinc layer (SincNet's), which the 2021 baseline does not have
        state["Sinc_conv.low_hz_"] = torch.zeros(20, 1)
    out = tmp_path / "exp" / "bad"
    assert _import(tmp_path, state, _conf(tmp_path / "rawnet2_small.yaml", SMALL), out) == 1
    err = capsys.readouterr().err
    assert {"missing": "1 missing keys (blocks.3.conv2.weight)",
            "misshaped": "blocks.2.fms.weight: checkpoint (16, 32), model (32, 32)",
            "unexpected": "1 unexpected keys (Sinc_conv.low_hz_)"}[damage] in err
    assert not out.exists()
    assert not (tmp_path / "exp").exists() or not any((tmp_path / "exp").iterdir())
