"""avdf's CQCC, as conf/cqcc_gmm.yaml sets it, against the official ASVspoof 2021 LA
CQCC-GMM baseline's Python front-end run on the same waveforms.

Reference figures: repository asvspoof-challenge/2021 (GitHub), commit
9b33f5eca887bd3bf629e3fb79428cd9bb7ac972 (2023-04-13), computed on 2026-12-04 outside this
project, on ``fidelity_inputs.signal(seed, n)`` for (seed, n) = (1, 16000) and (6, 96000):
``LA/Baseline-CQCC-GMM/python/gmm.py`` ``extract_cqcc(sig, fs, 62.5, 4000)`` (its defaults
``B=12, cf=19, d=16``; ``fmin``/``fmax`` from the 2021 Matlab baseline script, as the Python
pipeline passes none) with its ``CQCC/CQT_toolbox_2013`` (``cqt``, ``nsgcqwin``,
``nsgtf_real``), on the waveform written as 16-bit WAV and read back with soundfile
(float64), numpy 2.4, scipy 1.17; shims only for what the import of ``gmm.py`` needs and
the extraction does not use (``numpy.infty``, empty ``h5py`` / ``pandas`` modules). Output
``(frames, 60)``: 20 statics (c0 included), then the baseline's ``cqccDeltas`` of them and
of those, which run along the coefficient axis (the test checks that too, on the values).

Stored: the matrix shape, its mean and standard deviation over all values, and ten
(frame, coefficient) values: first and last frames, statics (0..19), deltas (20..39) and
delta-deltas (40..59). avdf computes in float64 and returns float32: the official values
are matched to float32 rounding (relative 6e-8; 3e-12 in float64), hence ``rtol=atol=1e-4``
as for the LFCC references.
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
from avdf.features.lfcc import deltas
from avdf.utils.config import load_config
from tests.fidelity_inputs import signal, write_wav

CONF = Path(__file__).resolve().parents[1] / "egs" / "asvspoof2019_la" / "cm1" / "conf"
CONFIGS = ("cqcc_gmm.yaml", "cqcc_gmm_mini.yaml")
TOL = {"rtol": 1e-4, "atol": 1e-4}

# (seed, samples) -> (shape, mean, std, {(frame, coefficient): value})
REFERENCE = {
    (1, 16000): ((489, 60), -5.478909344, 81.86556954,
                 {(0, 0): -533.5866199, (0, 20): 170.1532331, (0, 40): -14.29307578, (1, 5): 5.805418173,
                  (163, 1): 86.79091952, (244, 19): 3.315161612, (244, 33): 1.552499633,
                  (326, 47): -2.246998711, (488, 0): -539.8435539, (488, 59): 0.9294035872}),
    (6, 96000): ((2933, 60), -5.695233696, 82.85746596,
                 {(0, 0): -561.1986501, (0, 20): 174.0577581, (0, 40): -13.68007807, (1, 5): -1.922271209,
                  (977, 1): 62.09761706, (1466, 19): -10.35287931, (1466, 33): 1.934186502,
                  (1955, 47): 0.05527304881, (2932, 0): -554.7023473, (2932, 59): 0.004554272103}),
}


def check(feats: np.ndarray, ref) -> None:
    shape, mean, std, values = ref
    assert feats.shape == shape
    got = np.array([feats[t, c] for t, c in values], dtype=np.float64)
    np.testing.assert_allclose(got, list(values.values()), **TOL)
    np.testing.assert_allclose([feats.mean(dtype=np.float64), feats.std(dtype=np.float64)], [mean, std], **TOL)


@pytest.mark.parametrize("case", list(REFERENCE))
def test_config_frontend_matches_official(case):
    """The recipe's path: ``build_frontend`` on the configs' ``frontend:`` section."""
    for name in CONFIGS:
        frontend = build_frontend(load_config(CONF / name)["frontend"]).eval()
        with torch.no_grad():
            feats = frontend(torch.from_numpy(signal(*case))[None])[0].numpy()
        check(feats, REFERENCE[case])


def test_deltas_run_along_the_coefficients():
    """What the configs reproduce: the baseline's 'deltas' are differences across coefficients."""
    frontend = build_frontend(load_config(CONF / CONFIGS[0])["frontend"]).eval()
    with torch.no_grad():
        feats = frontend(torch.from_numpy(signal(1, 16000))[None]).double()
    static = feats[..., :20]
    across = deltas(static.transpose(1, 2), 5).transpose(1, 2)
    torch.testing.assert_close(feats[..., 20:40], across, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(feats[..., 40:], deltas(across.transpose(1, 2), 5).transpose(1, 2),
                               rtol=1e-4, atol=1e-3)


def test_mini_config_shares_the_full_front_end():
    assert load_config(CONF / CONFIGS[0])["frontend"] == load_config(CONF / CONFIGS[1])["frontend"]
    for name in CONFIGS:  # run.sh stage 3 sends both to avdf.bin.train_gmm
        assert load_config(CONF / name)["model"]["name"] in ("gmm", "lfcc_gmm")


def test_compute_features_writes_the_official_numbers(tmp_path):
    """From WAV files through ``compute_features`` (read, front-end, ark/scp) as stage 2 does."""
    data = tmp_path / "data"
    wav = {}
    for case in REFERENCE:
        path = tmp_path / f"s{case[0]}.wav"
        write_wav(path, *case)
        wav[f"utt{case[0]}"] = str(path)
    write_kv(data / "wav.scp", wav)
    out = tmp_path / "dump"
    assert cf.main(["--config", str(CONF / CONFIGS[0]), "--data", str(data), "--out_dir", str(out)]) == 0
    feats = dict(kaldiio.load_scp_sequential(str(out / "feats.1.scp")))
    for case, ref in REFERENCE.items():
        check(np.asarray(feats[f"utt{case[0]}"]), ref)


def test_toolbox_bins_and_frames():
    """The official transform's bin sets (73 at the 2021 settings; 863, not 96 x 9 = 864, at the
    2019 ones, where the top bins' bands would pass fs / 2: as the official code gave when run on
    them) and its frame count, the top bin's window length; batches equal single items."""
    from avdf.features.cqcc import CQCC
    fe = build_frontend(load_config(CONF / CONFIGS[0])["frontend"])
    assert len(fe.freqs) == 73 and fe.freqs[0] == 62.5 and fe.freqs[-1] == 4000.0
    assert len(CQCC(cqt="toolbox", bins_per_octave=96, f_min=15.625, f_max=8000).freqs) == 863
    x = torch.from_numpy(np.stack([signal(1, 8000), signal(2, 8000)]))
    with torch.no_grad():
        y = fe(x)
        assert y.shape == (2, 244, 60) and torch.isfinite(y).all()  # round(488.8 Hz * 8000 / 16000 Hz)
        torch.testing.assert_close(y[1], fe(x[1:])[0])
