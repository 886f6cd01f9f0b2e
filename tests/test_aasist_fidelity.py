"""AASIST / AASIST-L with the official weights give the official scores.

The published checkpoints (``pretrained/sources/``, MIT) go through ``avdf.bin.import_model``
and ``avdf.bin.infer_cm`` on the waveforms of ``tests/fidelity_inputs.py`` and on three
LibriVox recordings (public domain, installed with Debian's pocketsphinx-testdata by
``tools/install_debian.sh``).

Reference figures: the official ``models/AASIST.py`` of clovaai/aasist (commit a04c986,
``Model(config["model_config"])``, the shipped ``.pth`` loaded, ``model.eval()``) and of
asvspoof-challenge/asvspoof5 ``Baseline-AASIST`` (commit fe23d30), run on CPU with torch
2.11 on 2026-12-04, each input read with soundfile and cut / repeat-padded to 64,600
samples by the official ``data_utils.pad``. Columns: spoof logit, bona fide logit, and
their difference (the score avdf writes; the official ``main.py`` writes the bona fide
logit alone).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from avdf.bin import import_model, infer_cm
from avdf.models.cm.aasist import AASIST
from tests.fidelity_inputs import CASES, write_wav

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "pretrained" / "sources"
CONF = ROOT / "egs" / "asvspoof2019_la" / "cm1" / "conf"
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")

# (seed, samples, spoof logit, bona fide logit, bona fide - spoof)
REF_SYNTH = {
    "AASIST": [(1, 16000, 2.509499, -3.076585, -5.586084), (2, 24000, 4.859877, -5.260537, -10.120414),
               (3, 40000, 1.961723, -2.702963, -4.664686), (4, 64600, 4.865349, -5.248176, -10.113525),
               (5, 70000, 1.900241, -2.661298, -4.561539), (6, 96000, 2.003606, -2.756898, -4.760504)],
    "AASIST-L": [(1, 16000, 5.793678, -5.123992, -10.917670), (2, 24000, 4.384658, -3.879530, -8.264188),
                 (3, 40000, 3.657541, -3.495513, -7.153055), (4, 64600, 6.994598, -6.045056, -13.039655),
                 (5, 70000, 5.428188, -4.857829, -10.286017), (6, 96000, 5.584911, -4.831306, -10.416217)],
    "ASVspoof5": [(1, 16000, -0.154271, 0.151235, 0.305507), (2, 24000, -0.755773, 0.752628, 1.508402),
                  (3, 40000, 4.035197, -4.013539, -8.048736), (4, 64600, 0.051495, -0.027400, -0.078895),
                  (5, 70000, 3.336974, -3.302926, -6.639900), (6, 96000, 1.624017, -1.572130, -3.196148)],
}
# sense_and_sensibility_01_austen_64kb-<id>.wav: (id, spoof logit, bona fide logit, difference)
REF_REAL = {
    "AASIST": [("0870", -2.904710, 1.642725, 4.547435), ("0880", -4.414409, 2.733679, 7.148088),
               ("0930", -2.576857, 1.469621, 4.046478)],
    "AASIST-L": [("0870", -0.436147, 0.779699, 1.215845), ("0880", -3.077302, 3.799044, 6.876345),
                 ("0930", -1.167016, 1.585025, 2.752041)],
    "ASVspoof5": [("0870", -6.861874, 6.712329, 13.574203), ("0880", -5.075895, 5.005174, 10.081069),
                  ("0930", -5.585243, 5.546808, 11.132051)],
}
MODELS = {  # name: (checkpoint, config)
    "AASIST": (SOURCES / "clovaai_aasist" / "AASIST.pth", CONF / "aasist.yaml"),
    "AASIST-L": (SOURCES / "clovaai_aasist" / "AASIST-L.pth", CONF / "aasist_l.yaml"),
    "ASVspoof5": (SOURCES / "asvspoof5_aasist" / "best.pth", CONF / "aasist.yaml"),
}


def _data_dir(d: Path) -> None:
    """The synthetic waveforms, and the LibriVox recordings where they are installed."""
    d.mkdir(parents=True)
    lines = []
    for seed, n in CASES:
        write_wav(d / f"s{seed}.wav", seed, n)
        lines.append(f"s{seed} {d / f's{seed}.wav'}")
    if LIBRIVOX.is_dir():
        for rid, *_ in REF_REAL["AASIST"]:
            lines.append(f"lv{rid} {LIBRIVOX / f'sense_and_sensibility_01_austen_64kb-{rid}.wav'}")
    (d / "wav.scp").write_text("\n".join(lines) + "\n")
    (d / "utt2label").write_text("".join(f"{ln.split()[0]} bonafide\n" for ln in lines))


def _import_and_score(name: str, tmp_path: Path, *overrides: str) -> dict[str, float]:
    ckpt, conf = MODELS[name]
    exp = tmp_path / "exp"
    assert import_model.main(["--format", "clovaai_aasist", "--checkpoint", str(ckpt), "--config", str(conf),
                              "--out", str(exp), *overrides]) == 0
    data = tmp_path / "data"
    _data_dir(data)
    out = tmp_path / "scores.txt"
    assert infer_cm.main(["--exp_dir", str(exp), "--data", str(data), "--out", str(out), "--cpu",
                          "--data.num_workers", "0"]) == 0
    return {u: float(s) for u, s in (ln.split() for ln in out.read_text().splitlines())}


@pytest.mark.parametrize("name", list(MODELS))
def test_official_weights_give_official_scores(name, tmp_path):
    scores = _import_and_score(name, tmp_path)
    for seed, _, _, _, ref in REF_SYNTH[name]:
        assert scores[f"s{seed}"] == pytest.approx(ref, abs=1e-3), (name, seed)
    if not LIBRIVOX.is_dir():
        pytest.skip("pocketsphinx-testdata not installed (tools/install_debian.sh): real speech not scored")
    for rid, _, _, ref in REF_REAL[name]:
        assert scores[f"lv{rid}"] == pytest.approx(ref, abs=1e-3), (name, rid)
        assert scores[f"lv{rid}"] > 0  # real speech: bona fide


def test_logits_match_not_only_their_difference():
    ckpt, _ = MODELS["AASIST"]
    from avdf.models.cm.aasist import from_clovaai
    model = AASIST().eval()
    model.load_state_dict(from_clovaai(torch.load(ckpt, map_location="cpu", weights_only=True)))
    from tests.fidelity_inputs import signal
    from avdf.tasks.cm import repeat_to
    x = torch.from_numpy(np.stack([repeat_to(signal(s, n), 64600) for s, n in CASES]))
    with torch.no_grad():
        out = model(x).numpy()
    ref = np.array([r[2:4] for r in REF_SYNTH["AASIST"]])
    np.testing.assert_allclose(out, ref, atol=1e-3)


def test_preact_variant_is_another_network():
    """The switch changes the computation (so the default really is the official block)."""
    ckpt, _ = MODELS["AASIST"]
    from avdf.models.cm.aasist import from_clovaai
    state = from_clovaai(torch.load(ckpt, map_location="cpu", weights_only=True))
    a, b = AASIST().eval(), AASIST(preact_blocks=True).eval()
    a.load_state_dict(state)
    b.load_state_dict(state)
    from tests.fidelity_inputs import signal
    x = torch.from_numpy(signal(3, 64600))[None]
    with torch.no_grad():
        assert (a(x) - b(x)).abs().max() > 0.05


def test_shipped_pretrained_dirs_are_the_imported_sources():
    for name, d in (("AASIST", "aasist_clovaai"), ("AASIST-L", "aasist_l_clovaai"), ("ASVspoof5", "aasist_asvspoof5")):
        from avdf.models.cm.aasist import from_clovaai
        shipped = torch.load(ROOT / "pretrained" / d / "model.pt", map_location="cpu", weights_only=True)["model"]
        source = from_clovaai(torch.load(MODELS[name][0], map_location="cpu", weights_only=True))
        assert shipped.keys() == source.keys()
        for k in shipped:
            assert torch.equal(shipped[k], source[k]), (d, k)
        assert (ROOT / "pretrained" / d / "LICENSE").is_file()
