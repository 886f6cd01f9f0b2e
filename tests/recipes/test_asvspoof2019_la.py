"""egs/asvspoof2019_la/cm1: every stage, every model, on the tiny mini corpus.

One data preparation (stage 0-1), then for each model its features (shared by the two
LFCC models), training, scoring and metrics (stages 2-5) with conf/tuning/*_tiny.yaml,
then calibration and fusion (stage 6). Outputs go to a temporary directory.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torchaudio

from avdf.data.datadir import read_kv
from tests.conftest import run_recipe

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "egs" / "asvspoof2019_la" / "cm1"
MODELS = ("lfcc_gmm", "lfcc_lcnn", "rawnet2", "rawnet2_oc", "aasist", "aasist_l", "ssl_aasist")
EVAL_ATTACKS = [f"A{i:02d}" for i in range(7, 20)]


def _protocol_counts(corpus: Path) -> dict[str, int]:
    protos = next(corpus.rglob("ASVspoof2019_LA_cm_protocols"))
    return {s: sum(1 for ln in (protos / f"ASVspoof2019.LA.cm.{s}.{'trn' if s == 'train' else 'trl'}.txt")
                   .read_text().splitlines() if ln.strip()) for s in ("train", "dev", "eval")}


def _tiny_wav2vec2(path: Path) -> None:
    """A random wav2vec 2.0 of the shape conf/tuning/ssl_aasist_tiny.yaml names, as a local checkpoint."""
    from avdf.models.cm.ssl_aasist import wav2vec2_arch
    from avdf.utils.config import load_config
    arch = load_config(RECIPE / "conf" / "tuning" / "ssl_aasist_tiny.yaml")["model"]["ssl"]["arch"]
    torch.manual_seed(0)
    torch.save(torchaudio.models.wav2vec2_model(**wav2vec2_arch(arch)).state_dict(), path)


def test_all_stages_all_models(mini_corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # tiny models: threads only add synchronisation
    corpus = mini_corpus("asvspoof2019_la", "tiny")
    data, exp, results = tmp_path / "data", tmp_path / "exp", tmp_path / "RESULTS.md"
    common = ["--mini", "true", "--mini_root", str(corpus), "--datadir", str(data), "--expdir", str(exp),
              "--dumpdir", str(tmp_path / "dump"), "--results", str(results), "--nj", "1"]

    run_recipe(RECIPE, *common, "--stop_stage", "1", "--config", "conf/tuning/aasist_tiny.yaml")
    counts = _protocol_counts(corpus)
    for s, n in counts.items():
        assert len(read_kv(data / s / "utt2label")) == n
    assert sorted(set(read_kv(data / "eval" / "utt2attack").values()) - {"-"}) == EVAL_ATTACKS
    assert (data / "eval_asv" / "trials").is_file() and (data / "eval_asv" / "asv_scores").is_file()

    ckpt = tmp_path / "w2v_tiny.pt"
    _tiny_wav2vec2(ckpt)
    for model in MODELS:
        extra = ["--train_opts", f"--model.ssl.checkpoint {ckpt}"] if model == "ssl_aasist" else []
        r = run_recipe(RECIPE, *common, "--stage", "2", "--stop_stage", "5",
                       "--config", f"conf/tuning/{model}_tiny.yaml", *extra)
        if model == "lfcc_lcnn":  # same LFCC settings as lfcc_gmm: the features are reused
            assert "features (lfcc_" in r.stderr and "already done" in r.stderr
        e = exp / f"{model}_tiny"
        assert (e / "model.pt").is_file() and (e / "config.yaml").is_file()
        for s in ("dev", "eval"):
            scores = read_kv(e / "scores" / f"{s}.txt")
            assert len(scores) == counts[s]
            assert np.isfinite([float(v) for v in scores.values()]).all()
        assert (e / "scores" / "plots" / f"{model}_tiny_det.png").is_file()
    # the shipped official AASIST scores the corpus without training (stage 3 copies it)
    run_recipe(RECIPE, *common, "--stage", "2", "--stop_stage", "5",
               "--pretrained", str(ROOT / "pretrained" / "aasist_clovaai"))
    e = exp / "aasist_clovaai"
    assert torch.equal(torch.load(e / "model.pt", weights_only=True)["model"]["backend.out_layer.weight"],
                       torch.load(ROOT / "pretrained" / "aasist_clovaai" / "model.pt",
                                  weights_only=True)["model"]["backend.out_layer.weight"])
    for s in ("dev", "eval"):
        assert len(read_kv(e / "scores" / f"{s}.txt")) == counts[s]
    # a finished experiment is not redone
    r = run_recipe(RECIPE, *common, "--stage", "3", "--stop_stage", "3", "--config", "conf/tuning/aasist_tiny.yaml")
    assert "already done" in r.stderr

    fused = [str(exp / f"{m}_tiny") for m in ("lfcc_gmm", "lfcc_lcnn", "aasist")]
    run_recipe(RECIPE, *common, "--stage", "6", "--fuse_exps", " ".join(fused))
    assert len(read_kv(exp / "fusion" / "scores" / "eval.txt")) == counts["eval"]

    text = results.read_text()
    for model in MODELS:
        for s in ("dev", "eval"):
            assert f"## {model}_tiny, {s} (mini corpus tiny" in text
    assert "## aasist_clovaai, eval (mini corpus tiny" in text
    for name in ("lfcc_gmm_tiny.cal", "aasist_tiny.cal", "fusion"):
        assert f"## {name}, eval" in text
    blocks = text.split("\n## ")
    eval_block = next(b for b in blocks if b.startswith("aasist_tiny, eval"))
    for needle in ("| eer |", "| min_tdcf_legacy |", "| min_tdcf_revised |", "| min_dcf_asvspoof5 |",
                   "- command: `./run.sh", "machine: ", *[f"| {a} |" for a in EVAL_ATTACKS]):
        assert needle in eval_block, needle
    assert "| cllr |" in next(b for b in blocks if b.startswith("fusion, eval"))
    assert os.path.getsize(exp / "fusion" / "scores" / "plots" / "fusion_det.png") > 0
