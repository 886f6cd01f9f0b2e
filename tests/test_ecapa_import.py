"""speechbrain's pretrained VoxCeleb ECAPA-TDNN (speechbrain/spkrec-ecapa-voxceleb) through
``avdf.bin.import_model --format speechbrain_ecapa`` and ``egs/voxceleb/v3/conf/ecapa_speechbrain.yaml``.

A speechbrain ``ECAPA_TDNN`` with the pretrained model's hyperparameters is seeded, its
batch-norm statistics randomised, and its ``state_dict()`` saved with ``torch.save``: the
layout of the published ``embedding_model.ckpt``. After the import, avdf's embeddings of the
deterministic waveforms of ``tests/fidelity_inputs.py`` (``extract_embeddings`` on a data dir,
from wav.scp and from the feats.scp of ``compute_features``) are compared with speechbrain's
own computation on the same waveforms: its ``Fbank``, ``InputNormalization(norm_type='sentence',
std_norm=False)`` and the speechbrain module, as its ``EncoderClassifier.encode_batch`` chains them.
"""
from __future__ import annotations

import json
import shutil

import kaldiio
import numpy as np
import pytest
import torch
from speechbrain.lobes.features import Fbank
from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN
from speechbrain.processing.features import InputNormalization

from avdf.bin import compute_features, extract_embeddings, import_model
from avdf.tasks import build_task
from avdf.tasks.asv import FeatureReader
from avdf.utils.config import load_config
from tests.conftest import ROOT
from tests.fidelity_inputs import CASES, signal, write_wav

CONFIG = ROOT / "egs/voxceleb/v3/conf/ecapa_speechbrain.yaml"
PARAMS = 20_767_552  # speechbrain/spkrec-ecapa-voxceleb embedding_model


def speechbrain_model() -> ECAPA_TDNN:
    """The pretrained model's module (its hyperparams.yaml), seeded, with non-trivial batch-norm
    statistics so that the buffers' mapping matters too."""
    torch.manual_seed(0)
    model = ECAPA_TDNN(80, channels=[1024, 1024, 1024, 1024, 3072], kernel_sizes=[5, 3, 3, 3, 1],
                       dilations=[1, 2, 3, 4, 1], attention_channels=128, lin_neurons=192)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("running_mean") or name.endswith("norm.bias"):
                t.copy_(0.1 * torch.randn(t.shape, generator=g))
            elif name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=g))
            elif name.endswith("norm.weight"):
                t.copy_(1 + 0.1 * torch.randn(t.shape, generator=g))
            elif name.endswith("num_batches_tracked"):
                t.fill_(1000)
    return model.eval()


@pytest.fixture(scope="module")
def sb_model():
    return speechbrain_model()


@pytest.fixture(scope="module")
def imported(tmp_path_factory, sb_model):
    base = tmp_path_factory.mktemp("ecapa_sb")
    ckpt = base / "embedding_model.ckpt"
    torch.save(sb_model.state_dict(), ckpt)
    out = base / "exp" / "ecapa_speechbrain"
    rc = import_model.main(["--format", "speechbrain_ecapa", "--checkpoint", str(ckpt), "--config", str(CONFIG),
                            "--out", str(out), "--source", "speechbrain/spkrec-ecapa-voxceleb embedding_model.ckpt",
                            "--trained_on", "test: seeded, not trained"])
    assert rc == 0
    return base, ckpt, out


@pytest.fixture(scope="module")
def datadir(tmp_path_factory):
    d = tmp_path_factory.mktemp("sb_data")
    wav = d / "wav"
    wav.mkdir()
    lines, spk = [], []
    for seed, n in CASES:
        utt = f"spk{seed}-utt{seed}"
        write_wav(wav / f"{utt}.wav", seed, n)
        lines.append(f"{utt} {wav / f'{utt}.wav'}\n")
        spk.append(f"{utt} spk{seed}\n")
    (d / "wav.scp").write_text("".join(lines))
    (d / "utt2spk").write_text("".join(spk))
    return d


def speechbrain_reference(model: ECAPA_TDNN) -> dict[str, np.ndarray]:
    """speechbrain's embeddings: Fbank(n_mels=80) -> sentence mean normalisation -> ECAPA_TDNN."""
    fbank = Fbank(n_mels=80)
    norm = InputNormalization(norm_type="sentence", std_norm=False)
    out = {}
    with torch.no_grad():
        for seed, n in CASES:
            wav = torch.from_numpy(signal(seed, n))[None]
            lens = torch.ones(1)
            feats = norm(fbank(wav), lens)
            out[f"spk{seed}-utt{seed}"] = model(feats, lens)[0, 0].numpy()
    return out


@pytest.fixture(scope="module")
def reference(sb_model):
    return speechbrain_reference(sb_model)


def _compare(ours: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> tuple[float, float]:
    """(worst cosine, largest absolute difference) over the utterances."""
    assert set(ours) == set(ref)
    worst_cos, worst_diff = 1.0, 0.0
    for utt, r in ref.items():
        a = np.asarray(ours[utt], dtype=np.float64)
        b = r.astype(np.float64)
        assert a.shape == b.shape == (192,)
        cos = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
        worst_cos, worst_diff = min(worst_cos, cos), max(worst_diff, float(np.abs(a - b).max()))
    return worst_cos, worst_diff


def test_reference_embeddings_differ(reference):
    """The tolerance below is far tighter than how much the seeded model's embeddings of
    different waveforms differ (cosine 0.93-0.99 between them)."""
    e = np.stack(list(reference.values())).astype(np.float64)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    sim = e @ e.T
    assert sim[~np.eye(len(e), dtype=bool)].max() < 0.999


def test_config_is_the_pretrained_model(capsys):
    from avdf.bin import model_summary
    sb = ECAPA_TDNN(80, channels=[1024, 1024, 1024, 1024, 3072], kernel_sizes=[5, 3, 3, 3, 1],
                    dilations=[1, 2, 3, 4, 1], attention_channels=128, lin_neurons=192)
    assert model_summary.main([str(CONFIG)]) == 0
    n = int(capsys.readouterr().out.strip().splitlines()[-1].split("params:")[1])
    assert n == PARAMS == sum(p.numel() for p in sb.parameters())


def test_task_without_training_data_is_the_extractor():
    model = build_task(load_config(CONFIG), {}).build_model()
    assert model.loss is None
    assert all(k.startswith("embedding.net.") for k in model.state_dict())
    assert sum(p.numel() for p in model.parameters()) == PARAMS
    with pytest.raises(RuntimeError, match="embedding extractor only"):
        model(torch.zeros(1, 50, 80), torch.zeros(1, dtype=torch.long))


def test_import_writes_the_experiment(imported, sb_model):
    _, ckpt, out = imported
    for name in ("config.yaml", "model.pt", "import.json", "MODEL.md", ".done"):
        assert (out / name).is_file(), name
    info = json.loads((out / "import.json").read_text())
    assert info["format"] == "speechbrain_ecapa" and info["params"] == PARAMS
    state = torch.load(out / "model.pt", weights_only=True)["model"]
    sb = sb_model.state_dict()
    assert set(state) == {f"embedding.net.{k}" for k in sb}
    assert all(torch.equal(state[f"embedding.net.{k}"], v) for k, v in sb.items())


def test_features_are_speechbrains(datadir):
    reader = FeatureReader(datadir, load_config(CONFIG))
    fbank = Fbank(n_mels=80)
    norm = InputNormalization(norm_type="sentence", std_norm=False)
    for seed, n in CASES:
        ours = reader.read(f"spk{seed}-utt{seed}")
        with torch.no_grad():
            ref = norm(fbank(torch.from_numpy(signal(seed, n))[None]), torch.ones(1))[0].numpy()
        assert ours.shape == ref.shape == (n // 160 + 1, 80)
        assert np.abs(ours - ref).max() < 1e-4  # measured: 1.3e-05 on values of tens of dB


def _embeddings(out_dir) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in kaldiio.load_scp(str(out_dir / "xvector.scp")).items()}


def test_embeddings_match_speechbrain(imported, datadir, reference):
    _, _, exp = imported
    out = exp / "embeddings" / "wav"
    assert extract_embeddings.main(["--exp_dir", str(exp), "--data", str(datadir), "--out_dir", str(out), "--cpu"]) == 0
    assert extract_embeddings.main(["--merge", "--exp_dir", str(exp), "--out_dir", str(out)]) == 0
    cos, diff = _compare(_embeddings(out), reference)
    print(f"wav.scp: worst cosine {cos:.8f}, max abs diff {diff:.2e}")
    assert cos > 0.9999 and diff < 1e-4  # measured (2026-12-04, CPU): 1.00000000, 9.0e-07; |values| <= 1.34


def test_embeddings_from_feats_scp_match_speechbrain(imported, datadir, reference, tmp_path):
    """The recipe's path: features stage (compute_features with the config), then ``--input feats``."""
    _, _, exp = imported
    data = tmp_path / "data"
    shutil.copytree(datadir, data)
    dump = str(tmp_path / "dump")
    assert compute_features.main(["--config", str(CONFIG), "--data", str(data), "--out_dir", dump]) == 0
    assert compute_features.main(["--merge", "--data", str(data), "--out_dir", dump]) == 0
    out = tmp_path / "emb"
    assert extract_embeddings.main(["--exp_dir", str(exp), "--data", str(data), "--input", "feats",
                                    "--out_dir", str(out), "--cpu"]) == 0
    assert extract_embeddings.main(["--merge", "--exp_dir", str(exp), "--out_dir", str(out)]) == 0
    cos, diff = _compare(_embeddings(out), reference)
    print(f"feats.scp: worst cosine {cos:.8f}, max abs diff {diff:.2e}")
    assert cos > 0.9999 and diff < 1e-4


def test_wrong_shape_is_refused_and_nothing_written(imported, sb_model, capsys):
    base, _, _ = imported
    state = dict(sb_model.state_dict())
    state["fc.conv.weight"] = state["fc.conv.weight"][:191]
    bad = base / "bad.ckpt"
    torch.save(state, bad)
    out = base / "exp" / "bad"
    before = sorted(p.name for p in out.parent.iterdir())
    rc = import_model.main(["--format", "speechbrain_ecapa", "--checkpoint", str(bad), "--config", str(CONFIG),
                            "--out", str(out)])
    assert rc == 1
    err = capsys.readouterr().err
    assert "mis-shaped" in err and "embedding.net.fc.conv.weight" in err
    assert not out.exists() and sorted(p.name for p in out.parent.iterdir()) == before


def test_foreign_keys_are_named(imported, sb_model, capsys):
    """A key of another module (speechbrain's classifier.ckpt has ``weight``) is reported as is."""
    base, _, _ = imported
    state = dict(sb_model.state_dict())
    state["weight"] = torch.zeros(7205, 192)
    bad = base / "extra.ckpt"
    torch.save(state, bad)
    rc = import_model.main(["--format", "speechbrain_ecapa", "--checkpoint", str(bad), "--config", str(CONFIG),
                            "--out", str(base / "exp" / "extra")])
    assert rc == 1
    assert "1 unexpected keys (weight)" in capsys.readouterr().err
    assert not (base / "exp" / "extra").exists()
