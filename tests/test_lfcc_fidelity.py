"""avdf's LFCC, as the recipe configs set it, against the two official ASVspoof 2021 LA
baselines' front-ends run on the same waveforms.

Reference figures: repository asvspoof-challenge/2021 (GitHub), commit
9b33f5eca887bd3bf629e3fb79428cd9bb7ac972 (2023-04-13), computed on 2026-12-04 outside this
project, on ``fidelity_inputs.signal(seed, n)`` for (seed, n) = (1, 16000) and (6, 96000):

* LFCC-LCNN: ``LA/Baseline-LFCC-LCNN/sandbox/util_frontend.py`` ``LFCC`` built with the
  arguments of ``project/baseline_LA/model.py`` (``LFCC(320, 160, 1024, 16000, 20,
  with_energy=True, max_freq=0.5)``), applied in float32 to the waveform ``(1, n)`` with
  torch 2.11; shims for the torch 1.x calls it makes (``torch.rfft`` by ``torch.fft``,
  ``torch.stft`` without ``return_complex`` as a real view).
* LFCC-GMM (Python): ``LA/Baseline-LFCC-GMM/python/gmm.py`` ``extract_lfcc`` (which calls
  ``LFCC_pipeline.lfcc`` and ``Deltas``) on the waveform written as 16-bit WAV, with spafe
  0.1.2 (the spafe release current when the baseline was published, 2021-06), in float64;
  the feature matrix transposed to (frames, 60).

Stored: the matrix shape, its mean and standard deviation over all values, and ten
(frame, coefficient) values: first and last frames, statics (0..19, c0 included), deltas
(20..39) and delta-deltas (40..59). avdf computes in float32 (the GMM baseline in float64):
its values agree to a few 1e-6 (LCNN) and 1e-5 (GMM) in absolute terms, hence the
tolerance ``rtol=atol=1e-4``.
"""
from __future__ import annotations

from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch

from avdf.bin import compute_features as cf
from avdf.data.datadir import write_kv
from avdf.features import build_frontend
from avdf.utils.config import load_config
from tests.fidelity_inputs import signal, write_wav

CONF = Path(__file__).resolve().parents[1] / "egs" / "asvspoof2019_la" / "cm1" / "conf"
TOL = {"rtol": 1e-4, "atol": 1e-4}

# (seed, samples) -> (shape, mean, std, {(frame, coefficient): value})
REFERENCE = {
    "lcnn": {
        (1, 16000): ((101, 60), -0.003666872, 0.4047687,
                     {(0, 0): -1.894242, (0, 20): 0.2515777, (0, 40): 0.09815967, (1, 5): -0.3971469,
                      (33, 1): 2.067892, (50, 19): -0.1032285, (50, 33): 0.1334549,
                      (67, 47): -0.5554379, (100, 0): -1.874561, (100, 59): -0.2129595}),
        (6, 96000): ((601, 60), -0.003422172, 0.4090875,
                     {(0, 0): -1.917508, (0, 20): 0.2191981, (0, 40): 0.1648488, (1, 5): 0.04544388,
                      (200, 1): 1.470568, (300, 19): -0.1606674, (300, 33): 0.2950083,
                      (400, 47): 0.1572588, (600, 0): -1.968659, (600, 59): -0.02531958}),
    },
    "gmm": {
        (1, 16000): ((65, 60), 0.1200806248, 1.290582105,
                     {(0, 0): -0.5917745307, (0, 20): 1.203297832, (0, 40): 1.533239377,
                      (1, 5): -1.133833045, (21, 1): 8.994777371, (32, 19): 0.1959803383,
                      (32, 33): 0.4991676057, (43, 47): -0.9321300776, (64, 0): -0.4622203504,
                      (64, 59): -0.009223261631}),
        (6, 96000): ((399, 60), 0.1384193353, 1.262606854,
                     {(0, 0): -0.01407596617, (0, 20): 0.7985391364, (0, 40): 0.7536690733,
                      (1, 5): -0.609291723, (133, 1): 8.547285214, (199, 19): -0.007347771668,
                      (199, 33): 0.7584225055, (266, 47): 0.3296676254, (398, 0): 0.3051001064,
                      (398, 59): -0.07921673171}),
    },
}
CONFIGS = {"lcnn": ("lfcc_lcnn.yaml", "lfcc_lcnn_mini.yaml"), "gmm": ("lfcc_gmm.yaml", "lfcc_gmm_mini.yaml")}


def check(feats: np.ndarray, ref) -> None:
    shape, mean, std, values = ref
    assert feats.shape == shape
    got = np.array([feats[t, c] for t, c in values], dtype=np.float64)
    np.testing.assert_allclose(got, list(values.values()), **TOL)
    np.testing.assert_allclose([feats.mean(dtype=np.float64), feats.std(dtype=np.float64)], [mean, std], **TOL)


@pytest.mark.parametrize("baseline", ["lcnn", "gmm"])
@pytest.mark.parametrize("case", [(1, 16000), (6, 96000)])
def test_config_frontend_matches_official(baseline, case):
    """The recipe's path: ``build_frontend`` on the config's ``frontend:`` section."""
    for name in CONFIGS[baseline]:
        frontend = build_frontend(load_config(CONF / name)["frontend"]).eval()
        with torch.no_grad():
            feats = frontend(torch.from_numpy(signal(*case))[None])[0].numpy()
        check(feats, REFERENCE[baseline][case])


def test_mini_configs_share_the_full_front_ends():
    for full, mini in CONFIGS.values():
        assert load_config(CONF / full)["frontend"] == load_config(CONF / mini)["frontend"]


def test_compute_features_writes_the_official_numbers(tmp_path):
    """From WAV files through ``compute_features`` (read, front-end, ark/scp) as stage 2 does."""
    data = tmp_path / "data"
    wav = {}
    for case in REFERENCE["lcnn"]:
        path = tmp_path / f"s{case[0]}.wav"
        write_wav(path, *case)
        wav[f"utt{case[0]}"] = str(path)
    write_kv(data / "wav.scp", wav)
    for baseline, (conf, _) in CONFIGS.items():
        out = tmp_path / f"dump_{baseline}"
        assert cf.main(["--config", str(CONF / conf), "--data", str(data), "--out_dir", str(out)]) == 0
        feats = dict(kaldiio.load_scp_sequential(str(out / "feats.1.scp")))
        for case, ref in REFERENCE[baseline].items():
            check(np.asarray(feats[f"utt{case[0]}"]), ref)
