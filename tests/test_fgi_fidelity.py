"""FGI (avdf.models.av.fgi, egs/dfdc/av1/conf/fgi.yaml) against the official code.

The released checkpoint is not available here, so :func:`official_state` makes a state dict
with the official key names and shapes (``module.``-prefixed, as the official DataParallel
training saves it) and plausible magnitudes, deterministically from a seed. The official
model was run on those tensors and on the inputs below; its outputs are the figures in
``REFERENCE`` (how: see the comment there). The tests import the state dict with
``avdf.bin.import_model --format fgi_official`` and check avdf's forward pass, and the
video score of ``avdf.bin.infer_av``, against them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

FRAMES, SIZE, SAMPLES = 30, 224, 48000      # one official 1 s chunk: 30 frames of 224 x 224, 48 kHz audio
SEEDS = (11, 12)                              # the two clips


# ---------------------------------------------------------------------------------------------
# deterministic inputs (numpy only: the reference script imports these functions)

def video_clip(seed: int) -> np.ndarray:
    """30 x 224 x 224 x 3 uint8 RGB: a bright ellipse ("face") on a shaded background, a dark
    "mouth" whose opening follows a random rhythm, a drifting texture, and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(FRAMES, dtype=np.float64)[:, None, None]
    y = np.arange(SIZE, dtype=np.float64)[None, :, None] / SIZE
    x = np.arange(SIZE, dtype=np.float64)[None, None, :] / SIZE
    cy, cx = 0.5 + 0.05 * rng.standard_normal(2)
    face = ((y - cy) / 0.38) ** 2 + ((x - cx) / 0.3) ** 2 < 1
    opening = 0.02 + 0.05 * np.abs(np.sin(2 * np.pi * (2 + 3 * rng.random()) * t / FRAMES + rng.random() * 6))
    mouth = ((y - cy - 0.18) / opening) ** 2 + ((x - cx) / 0.1) ** 2 < 1
    texture = np.sin(2 * np.pi * (6 * x + 4 * y + 0.05 * t + rng.random()))
    base = 60 + 40 * y + 20 * x + 10 * texture
    grey = np.where(face, 170 + 25 * texture, base)
    grey = np.where(mouth, 50.0, grey)
    tint = np.array([1.0, 0.85, 0.75]) * (0.9 + 0.2 * rng.random(3))
    img = grey[..., None] * tint + rng.normal(0, 6, (FRAMES, SIZE, SIZE, 3))
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def audio_clip(seed: int, n: int = SAMPLES, rate: int = 48000) -> np.ndarray:
    """``n`` int16 samples: a gliding harmonic series with syllable-rate amplitude
    modulation, plus noise, at a random level."""
    rng = np.random.default_rng(seed + 1000)
    t = np.arange(n) / rate
    f0 = 90 + 90 * rng.random() + 25 * np.sin(2 * np.pi * (0.5 + rng.random()) * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    x = sum(np.sin(k * phase + 6.28 * rng.random()) / k for k in range(1, 16))
    x = x * (0.2 + np.sin(2 * np.pi * (3 + 2 * rng.random()) * t) ** 2) + 0.05 * rng.standard_normal(n)
    x = x / np.abs(x).max() * (0.2 + 0.6 * rng.random())
    return np.round(x * 32767).astype(np.int16)


def _official_shapes() -> list[tuple[str, tuple[int, ...], str]]:
    """(key, shape, kind) of every tensor of the official state dict (without ``module.``);
    kind: conv, bias, bn_w, bn_b, mean, var, count, fc, emb."""
    out: list[tuple[str, tuple[int, ...], str]] = []

    def conv(key, shape, bias=True):
        out.append((f"{key}.weight", shape, "conv"))
        if bias:
            out.append((f"{key}.bias", shape[:1], "bias"))

    def bn(key, c, running=True):
        out.extend([(f"{key}.weight", (c,), "bn_w"), (f"{key}.bias", (c,), "bn_b")])
        if running:
            out.extend([(f"{key}.running_mean", (c,), "mean"), (f"{key}.running_var", (c,), "var"),
                        (f"{key}.num_batches_tracked", (), "count")])

    conv("netcnnaud.netcnnaud_layer1.0", (128, 1, 80))
    bn("netcnnaud.netcnnaud_layer1.1", 128)
    conv("netcnnaud.netcnnaud_layer2.1", (192, 128, 3))
    bn("netcnnaud.netcnnaud_layer2.2", 192)
    conv("netcnnaud.netcnnaud_layer2.4", (192, 192, 3))
    bn("netcnnaud.netcnnaud_layer2.5", 192)
    conv("netcnnaud_to_vis.0", (64, 192, 111))
    bn("netcnnaud_to_vis.1", 64)
    conv("netcnnaud_to_vis.3", (128, 64, 3))
    conv("netcnnlip.conv1", (64, 3, 1, 7, 7), bias=False)
    bn("netcnnlip.bn1", 64, running=False)
    for layer, cin, c in ((1, 64, 64), (2, 64, 128)):
        for b in range(2):
            conv(f"netcnnlip.layer{layer}.{b}.conv1", (c, cin if b == 0 else c, 3, 3, 3), bias=False)
            bn(f"netcnnlip.layer{layer}.{b}.bn1", c, running=False)
            conv(f"netcnnlip.layer{layer}.{b}.conv2", (c, c, 3, 3, 3), bias=False)
            bn(f"netcnnlip.layer{layer}.{b}.bn2", c, running=False)
            if layer == 2 and b == 0:
                conv("netcnnlip.layer2.0.downsample.0", (128, 64, 1, 1, 1), bias=False)
                bn("netcnnlip.layer2.0.downsample.1", 128, running=False)
    out.extend([("final_fc.0.weight", (1, 784), "fc"), ("final_fc.0.bias", (1,), "bias")])
    out.extend([("img_emb_layer.weight", (32, 128, 1, 1, 1), "emb"), ("img_emb_layer.bias", (32,), "bias"),
                ("aud_emb_layer.weight", (32, 128, 1), "emb"), ("aud_emb_layer.bias", (32,), "bias")])
    return out


def official_state(seed: int = 2024) -> dict[str, torch.Tensor]:
    """A state dict in the official layout, ``module.``-prefixed: He-scaled convolutions,
    BatchNorm affine parameters near (1, 0), audio running statistics near the activations'
    scale, embedding layers large enough for a non-uniform attention map."""
    rng = np.random.default_rng(seed)
    state = {}
    for key, shape, kind in _official_shapes():
        if kind == "conv":
            v = rng.standard_normal(shape) * np.sqrt(2.0 / np.prod(shape[1:]))
        elif kind == "bias":
            v = 0.05 * rng.standard_normal(shape)
        elif kind == "bn_w":
            v = 1.0 + 0.1 * rng.standard_normal(shape)
        elif kind in ("bn_b", "mean"):
            v = 0.1 * rng.standard_normal(shape)
        elif kind == "var":
            v = rng.uniform(0.3, 1.5, shape)
        elif kind == "fc":
            v = 0.15 * rng.standard_normal(shape)
        elif kind == "emb":
            v = 0.2 * rng.standard_normal(shape)
        else:  # count
            state["module." + key] = torch.tensor(5000, dtype=torch.long)
            continue
        state["module." + key] = torch.from_numpy(np.asarray(v, dtype=np.float32))
    return state


# ---------------------------------------------------------------------------------------------
# The official model's outputs on official_state() and the clips above, one clip per forward
# pass in eval mode as my_train.py's test() runs it. Made on 2026-12-04 from aseuteurideu/FGI
# at commit 8c9ea77117878924c29dd87bc5e08a239842ed0f (2025-11-04), by a script outside this
# repository that builds My_Network(with_attention=True, residual_conn=False, spatial_size=28)
# (3,604,177 parameters), wraps it in nn.DataParallel and loads official_state() strictly,
# feeds each clip's frames through their transforms (Scale((224, 224)), ToTensor,
# Normalize(0.5, 0.5)) as a 1 x 1 x 3 x 30 x 224 x 224 tensor and its audio through their
# loader's arithmetic (the int16 samples written and read back as a 48 kHz WAV with
# scipy.io.wavfile, min_max_normalize by int(min), int(max), then (x - 0.5) / 0.5) as
# 1 x 48000, on CPU with torch 2.11.0, and prints: the input of the final sigmoid (logit),
# its output p(fake), the distance map (their product output divided by their attention
# output; their network's second output is the attention-weighted map) as mean / std / min /
# max and at the flat positions IDX (row-major over 28 x 28), the attention map as max / min
# / entropy and at IDX, and the sum of the product map. One clip took 3-5 s on one CPU
# core, in either implementation; the forward-pass test and the infer_av test forward two
# clips each.
IDX = [0, 29, 137, 250, 391, 406, 533, 620, 701, 783]
REFERENCE = {
    11: {"logit": 4.697283, "p_fake": 0.9909624, "prod_sum": 149.48784,
         "dist": [108.79352, 16.036258, 94.296506, 188.57083],
         "dist_at": [112.761, 114.0778, 95.0139, 94.935, 95.8512, 100.3823, 101.9784, 95.6528, 102.3737, 97.2102],
         "att": [0.342589, 1.18385e-06, 3.21678],
         "att_at": [0.00262668, 0.000229287, 0.00022474, 1.5401e-05, 0.000337607, 0.000267554, 0.000199226, 0.000113742, 0.000113875, 0.000689155]},
    12: {"logit": -1.183945, "p_fake": 0.2343435, "prod_sum": 110.01255,
         "dist": [89.850264, 16.952319, 73.882676, 175.75595],
         "dist_at": [102.9181, 95.1987, 76.3309, 75.7537, 74.8069, 82.5456, 78.7797, 75.4199, 78.7888, 75.1527],
         "att": [0.0581813, 7.75756e-06, 5.56581],
         "att_at": [0.00450981, 0.000531363, 0.000585437, 0.000133409, 0.000793258, 0.000635523, 0.000490372, 0.000322857, 0.000461912, 0.00223383]},
}


def _close(got: float, want: float, tol: float = 1e-3) -> bool:
    """Within 1e-3 absolute, or 1e-3 relative for values above 1 in size."""
    return abs(got - want) <= tol * max(1.0, abs(want))


def _check(name: str, got, want) -> list[str]:
    got, want = np.atleast_1d(np.asarray(got, dtype=np.float64)), np.atleast_1d(np.asarray(want, dtype=np.float64))
    return [f"{name}[{i}]: {g:.6g}, official {w:.6g}" for i, (g, w) in enumerate(zip(got, want)) if not _close(g, w)]


CONF = Path(__file__).resolve().parents[1] / "egs" / "dfdc" / "av1" / "conf" / "fgi.yaml"


@pytest.fixture(scope="module")
def exp_dir(tmp_path_factory):
    """official_state() saved as my_train.py saves a checkpoint and imported with
    ``avdf.bin.import_model --format fgi_official --config conf/fgi.yaml``."""
    from avdf.bin import import_model

    d = tmp_path_factory.mktemp("fgi_official")
    ckpt = d / "model_best_epoch99.pth.tar"
    torch.save({"epoch": 99, "net": "resnet18", "state_dict": official_state(), "least_loss": 0.1,
                "iteration": 1000}, ckpt)
    out = d / "exp"
    assert import_model.main(["--format", "fgi_official", "--checkpoint", str(ckpt),
                              "--config", str(CONF), "--out", str(out)]) == 0
    return out


def _normalised_audio(seed: int) -> np.ndarray:
    """The clip's audio as avdf stores it (int16 / 32768, float32), scaled as the paper
    config's data section scales a chunk (data.audio_norm: minmax)."""
    from avdf.tasks.av import minmax_audio

    return minmax_audio(audio_clip(seed).astype(np.float32) / 32768)


@torch.no_grad()
def test_imported_model_computes_the_official_forward_pass(exp_dir):
    """Both clips in one batch: with the official network's per-clip visual BatchNorm
    statistics each clip's outputs are those of its own forward pass."""
    from avdf.tasks import build_task
    from avdf.train.trainer import load_trained_model
    from avdf.utils.config import load_config

    cfg = load_config(exp_dir / "config.yaml")
    model = load_trained_model(exp_dir, build_task(cfg, {}), "cpu")
    assert sum(p.numel() for p in model.parameters()) == 3_604_177
    video = torch.from_numpy(np.stack([video_clip(s) for s in SEEDS]))
    audio = torch.from_numpy(np.stack([_normalised_audio(s) for s in SEEDS]))
    out = model(video, audio)
    bad = []
    for i, seed in enumerate(SEEDS):
        ref = REFERENCE[seed]
        d = out["distance"][i].flatten().double()
        a = out["attention"][i].flatten().double()
        bad += _check(f"{seed} logit", out["logit"][i].item(), ref["logit"])
        bad += _check(f"{seed} p_fake", torch.sigmoid(out["logit"][i]).item(), ref["p_fake"])
        bad += _check(f"{seed} distance stats", [d.mean(), d.std(), d.min(), d.max()], ref["dist"])
        bad += _check(f"{seed} distance", d[IDX], ref["dist_at"])
        bad += _check(f"{seed} attention stats", [a.max(), a.min(), -(a * a.log()).sum()], ref["att"])
        # attention values are ~1e-3: compared as logarithms (1e-3 absolute = 1e-3 relative)
        bad += _check(f"{seed} log attention", a[IDX].log(), np.log(ref["att_at"]))
        bad += _check(f"{seed} product sum", out["product"][i].sum().item(), ref["prod_sum"])
    assert not bad, "avdf differs from the official FGI:\n" + "\n".join(bad)


def test_infer_av_scores_as_the_official_evaluation(exp_dir, tmp_path):
    """avdf.bin.infer_av on the imported experiment (infer.protocol: official): a video's
    score is 1 - the mean official p(fake) over its whole chunks with whole audio. Video
    ``a`` is clip 11 then clip 12 whose audio stops 3,000 samples early (its second chunk
    is left out, as the official loader drops it); video ``b`` is clip 12 then 20 frames of
    clip 11 (a partial chunk, which the official pre-processing does not cut)."""
    import kaldiio

    from avdf.bin import infer_av
    from avdf.data.datadir import read_kv, write_kv

    v11, v12 = video_clip(11), video_clip(12)
    a11, a12 = (audio_clip(s).astype(np.float32) / 32768 for s in (11, 12))
    faces = {"a": np.concatenate([v11, v12]), "b": np.concatenate([v12, v11[:20]])}
    audio = {"a": np.concatenate([a11, a12[:45000]]), "b": np.concatenate([a12, a11[:32000]])}
    data = tmp_path / "test"
    data.mkdir()
    for name, arrays in (("faces", faces), ("audio", audio)):
        kaldiio.save_ark(str(data / f"{name}.ark"), arrays, scp=str(data / f"{name}.scp"), write_function="numpy")
    write_kv(data / "utt2num_frames", {u: len(v) for u, v in faces.items()})
    write_kv(data / "utt2fps", {u: 30 for u in faces})
    write_kv(data / "utt2label", {"a": "spoof", "b": "bonafide"})
    out = tmp_path / "scores" / "test.txt"
    assert infer_av.main(["--exp_dir", str(exp_dir), "--data", str(data), "--out", str(out), "--cpu"]) == 0
    scores = {u: float(s) for u, s in read_kv(out).items()}
    chunks = [line.split() for line in (tmp_path / "scores" / "test.chunks.txt").read_text().splitlines()]
    assert [(u, float(t)) for u, t, _ in chunks] == [("a", 0.0), ("b", 0.0)]
    bad = _check("a", scores["a"], 1 - REFERENCE[11]["p_fake"]) + _check("b", scores["b"], 1 - REFERENCE[12]["p_fake"])
    assert not bad, "infer_av differs from the official evaluation:\n" + "\n".join(bad)


def test_converter_keys():
    """Every official key is renamed (the strict check of import_model then fits them all);
    an unknown key passes through; without attention the unused embedding layers are left out."""
    from avdf.models.av.fgi import from_official

    state = {k[len("module."):]: v for k, v in official_state().items()}
    out = from_official(state, {"attention": True})
    assert len(out) == len(state) and not any(k.startswith(("netcnn", "final_fc", "img_", "aud_")) for k in out)
    assert out["visual.stages.1.0.downsample.1.weight"] is state["netcnnlip.layer2.0.downsample.1.weight"]
    assert out["audio.project.3.bias"] is state["netcnnaud_to_vis.3.bias"]
    assert from_official({"foo.bar": state["final_fc.0.bias"]}, {}) == {"foo.bar": state["final_fc.0.bias"]}
    no_att = from_official(state, {"attention": False})
    assert len(no_att) == len(state) - 4 and not any(k.startswith(("visual_emb", "audio_emb")) for k in no_att)


def test_official_switches():
    """The paper config's network has the official parameter count and no visual running
    statistics, and scores a clip the same alone or in a batch; the model defaults are
    avdf's earlier network (3 x 7 x 7 stem: 18,816 more parameters)."""
    from avdf.models import build_model
    from avdf.utils.config import load_config

    paper = load_config(CONF)["model"]
    count = lambda m: sum(p.numel() for p in m.parameters())          # noqa: E731
    model = build_model(paper)
    assert count(model) == 3_604_177
    assert not [k for k in model.state_dict() if k.startswith("visual.") and "running" in k]
    old = {k: v for k, v in paper.items() if k not in ("stem_time_kernel", "visual_final_relu",
                                                          "visual_running_stats", "distance_eps")}
    assert count(build_model(old)) == 3_622_993
    tiny = {"name": "fgi", "num_frames": 8, "image_size": 32, "audio_samples": 4000, "visual_channels": [8, 16],
            "audio_channels": [8, 16], "stem_time_kernel": 1, "visual_final_relu": False,
            "visual_running_stats": False, "distance_eps": 0.0}
    torch.manual_seed(0)
    model = build_model(tiny).eval()
    video, audio = torch.randint(0, 256, (3, 8, 32, 32, 3), dtype=torch.uint8), torch.randn(3, 4000)
    with torch.no_grad():
        batch = model(video, audio)["logit"]
        alone = torch.cat([model(video[i:i + 1], audio[i:i + 1])["logit"] for i in range(3)])
    assert torch.allclose(batch, alone, atol=1e-5)
    fv = model.visual(torch.randn(2, 3, 8, 32, 32))
    assert (fv < 0).any()                                                 # no ReLU after the last block
