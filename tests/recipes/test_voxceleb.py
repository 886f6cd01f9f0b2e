"""egs/voxceleb/v1 (i-vector), v2 (x-vector) and v3 (ECAPA-TDNN) end to end on the tiny mini
VoxCeleb: every stage, with the tiny test configs. One back-end per recipe keeps the run
short (PLDA for v1, cosine for v2, cosine + AS-norm for v3); tests/test_asv_scoring.py
covers every method and normalisation."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import kaldiio
import numpy as np
import pytest

from avdf.data.datadir import read_kv, read_trials, validate_data_dir
from tests.conftest import ROOT, recipe_env, run_recipe

EGS = ROOT / "egs" / "voxceleb"


def _run(recipe: str, mini: Path, work: Path, *args: str):
    return run_recipe(EGS / recipe, "--mini", "true", "--mini_root", str(mini), "--datadir", str(work / "data"),
                      "--expdir", str(work / "exp"), "--dumpdir", str(work / "dump"),
                      "--results", str(work / "RESULTS.md"), *args)


def _check_scores(score_file: Path, trials_file: Path) -> None:
    lines = [ln.split() for ln in score_file.read_text().splitlines()]
    trials = read_trials(trials_file)
    assert [(a, b) for a, b, _ in lines] == [(e, t) for e, t, _ in trials]
    assert np.isfinite([float(s) for _, _, s in lines]).all()


def _results_row(results: str, name: str) -> float:
    block = results[results.index(f"### {name} "):]
    m = re.search(r"^\| eer \| ([0-9.]+) % \|", block, flags=re.M)
    assert m, block[:2000]
    return float(m.group(1))


@pytest.fixture(scope="module")
def mini(mini_corpus):
    return mini_corpus("voxceleb")


def test_v1_ivector(mini, tmp_path):
    _run("v1", mini, tmp_path, "--config", "conf/ivector_tiny.yaml", "--nj", "1", "--backends", "plda")
    data, exp = tmp_path / "data", tmp_path / "exp" / "ivector_tiny"
    for d in ("train", "vox1"):
        validate_data_dir(data / d, check_files=d == "vox1")
    assert set(read_kv(data / "train/utt2spk").values()) > set(read_kv(data / "vox2_dev/utt2spk").values())
    assert (data / "vox1/trial_sets").read_text().split() == ["O"]  # Kaldi pool includes vox1_dev: O only
    vad = dict(kaldiio.load_scp(str(next(data.glob("train_mfcc_*")) / "vad.scp")))
    assert 0.2 < np.mean(np.concatenate(list(vad.values()))) < 1.0
    assert (exp / "ubm/final.pt").is_file() and (exp / "extractor.pt").is_file()
    ivec = dict(kaldiio.load_scp(str(exp / "embeddings/vox1/ivector.scp")))
    assert set(ivec) == set(read_kv(data / "vox1/wav.scp")) and next(iter(ivec.values())).shape == (20,)
    _check_scores(exp / "scores/vox1_O_plda_none.txt", data / "vox1/trials_O")
    results = (tmp_path / "RESULTS.md").read_text()
    assert 0 <= _results_row(results, "ivector_tiny.vox1_O_plda_none") <= 100
    assert "./run.sh --mini true" in results and " cores" in results and "min_dcf_p0.001" in results
    assert (exp / "scores/plots/ivector_tiny.vox1_O_plda_none_det.png").read_bytes()[:4] == b"\x89PNG"
    r = _run("v1", mini, tmp_path, "--config", "conf/ivector_tiny.yaml", "--nj", "1", "--backends", "plda")
    for n in range(1, 7):
        assert re.search(rf"stage {n}: .*already done", r.stderr), r.stderr[-3000:]
    other = tmp_path / "other_mini"
    other.mkdir()
    (other / ".complete").write_text("voxceleb tiny 0\n")   # stage 0 takes it as a finished corpus
    args = ["--mini", "true", "--mini_root", str(other), "--datadir", str(data), "--config", "conf/ivector_tiny.yaml",
            "--stop_stage", "1"]
    r = subprocess.run(["bash", "run.sh", *args], cwd=EGS / "v1", env=recipe_env(), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode != 0
    assert f"was prepared from {(data / '.source').read_text().strip()}, not {other}" in r.stderr, r.stderr


def test_v2_xvector(mini, tmp_path):
    _run("v2", mini, tmp_path, "--config", "conf/xvector_tiny.yaml", "--nj", "1", "--backends", "cosine")
    data, exp = tmp_path / "data", tmp_path / "exp" / "xvector_tiny"
    feats = next(data.glob("train_mfcc_*"))
    assert set(read_kv(feats / "vad.scp")) == set(read_kv(feats / "feats.scp"))
    assert "valid_loss" in (exp / "train_history.tsv").read_text()
    xvec = dict(kaldiio.load_scp(str(exp / "embeddings/vox1/xvector.scp")))
    assert set(xvec) == set(read_kv(data / "vox1/wav.scp")) and next(iter(xvec.values())).shape == (32,)
    _check_scores(exp / "scores/vox1_O_cosine_none.txt", data / "vox1/trials_O")
    assert 0 <= _results_row((tmp_path / "RESULTS.md").read_text(), "xvector_tiny.vox1_O_cosine_none") <= 100


def test_v3_ecapa(mini, tmp_path):
    _run("v3", mini, tmp_path, "--config", "conf/ecapa_tiny.yaml", "--nj", "1", "--score_norms", "asnorm",
         "--top_n", "5")
    data, exp = tmp_path / "data", tmp_path / "exp" / "ecapa_tiny"
    assert read_kv(data / "train/utt2spk") == read_kv(data / "vox2_dev/utt2spk")  # WeSpeaker pool
    sets = (data / "vox1/trial_sets").read_text().split()
    assert sets == ["O", "E", "H"]
    sim = tmp_path / "dump/sim_augment"
    assert any((sim / "musan/speech").rglob("*.wav")) and any((sim / "RIRS_NOISES/simulated_rirs").rglob("*.wav"))
    assert "augmentation p=0.50" in (exp / "log/train.log").read_text()
    results = (tmp_path / "RESULTS.md").read_text()
    for x in sets:
        _check_scores(exp / f"scores/vox1_{x}_cosine_asnorm.txt", data / f"vox1/trials_{x}")
        assert 0 <= _results_row(results, f"ecapa_tiny.vox1_{x}_cosine_asnorm") <= 100
    assert "list_test_hard2.txt (cleaned)" in results
