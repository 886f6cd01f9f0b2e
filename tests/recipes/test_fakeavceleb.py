"""egs/fakeavceleb/av1 end to end on the tiny mini FakeAVCeleb: data prep, the DFDC
recipe's preprocessing, fgi and joint_av trained on a fold, the DFDC recipe's tiny fgi
scored cross-dataset on the 70/70-style test set, tiny randomly initialised wav2vec 2.0
and ShuffleNet encoders saved to tmp and loaded by the recipe from --ssl_ckpt_dir, linear probes and the
anomaly proxy, metrics, correlation, fusion, plots and RESULTS.md."""
from __future__ import annotations

import json
import re

import kaldiio
import pytest
import torch
import torchvision
import yaml

from avdf.bin.preprocess_av import preprocess_tag
from avdf.data.datadir import read_kv, validate_data_dir
from avdf.features.ssl import build_ssl_model
from tests.conftest import ROOT, run_recipe

RECIPE = ROOT / "egs" / "fakeavceleb" / "av1"
REPS = ("wav2vec2_tiny", "shufflenet_tiny")


def _args(mini, work, dfdc_exp, ssl_ckpt_dir):
    return ["--mini", "true", "--mini_root", str(mini), "--work", str(work), "--results", str(work / "RESULTS.md"),
            "--nfolds", "2", "--folds", "1", "--model_suffix", "_tiny", "--dfdc_exp", str(dfdc_exp),
            "--ssl_reps", " ".join(REPS), "--ssl_ckpt_dir", str(ssl_ckpt_dir),
            "--probe_config", "conf/probe/linear_tiny.yaml", "--nj", "2"]


def save_tiny_checkpoints(out):
    """Randomly initialised state_dicts of the tiny encoders, saved as a user's checkpoints
    would be, so that the recipe loads them through the real local-checkpoint code."""
    out.mkdir()
    torch.manual_seed(0)
    w2v = yaml.safe_load((RECIPE / "conf" / "ssl" / "wav2vec2_tiny.yaml").read_text())["encoder"]
    torch.save(build_ssl_model("wav2vec2", "custom", w2v["model_conf"]).state_dict(), out / "wav2vec2_tiny.pt")
    torch.save(torchvision.models.get_model("shufflenet_v2_x0_5").state_dict(), out / "shufflenet_tiny.pt")
    return out


def _tag(config) -> str:
    return preprocess_tag(yaml.safe_load(config.read_text())["preprocess"])


@pytest.fixture(scope="module")
def run(mini_corpus, dfdc_tiny_exp, tmp_path_factory):
    work = tmp_path_factory.mktemp("fakeavceleb_av1")
    args = _args(mini_corpus("fakeavceleb"), work, dfdc_tiny_exp, save_tiny_checkpoints(work / "ssl_ckpt"))
    run_recipe(RECIPE, *args)
    return work, args, dfdc_tiny_exp


def test_data_dirs(run):
    work, *_ = run
    data = work / "data"
    for d in ("all", "test", "train", "selected", "fold1/train", "fold1/valid", "fold1/test"):
        validate_data_dir(data / d, check_files=d in ("all", "test"))
    spk = {d: set(read_kv(data / d / "utt2spk").values()) for d in ("test", "train", "fold1/train", "fold1/test")}
    assert not spk["test"] & spk["train"] and not spk["fold1/train"] & spk["fold1/test"]
    lab = read_kv(data / "test" / "utt2label")
    assert list(lab.values()).count("bonafide") == list(lab.values()).count("spoof") > 0
    assert set(read_kv(data / "all" / "utt2category").values()) == {"A", "B", "C", "D"}
    assert len((data / "local" / "duplicates.tsv").read_text().splitlines()) > 1  # the mini lists files twice


def test_in_dataset_and_cross_dataset_scores(run):
    work, _, dfdc_exp = run
    exp = work / "exp"
    for model in ("fgi_tiny", "joint_av_tiny"):
        pdata = work / "data" / _tag(RECIPE / "conf" / f"{model}.yaml")
        scores = read_kv(exp / f"{model}_fold1" / "scores" / "test.txt")
        assert set(scores) == set(read_kv(pdata / "fold1" / "test" / "faces.scp"))
        rep = json.loads((exp / f"{model}_fold1" / "scores" / "test.json").read_text())
        assert {r["category"] for r in rep["breakdowns"]["auc_per_category"]["rows"]} == {"B", "C", "D"}
    cross = exp / f"cross_dfdc_{dfdc_exp.name}"
    scores = read_kv(cross / "scores" / "test.txt")
    assert set(scores) <= set(read_kv(work / "data" / "test" / "utt2label")) and len(scores) > 0
    assert set(scores) == set(read_kv(work / "data" / _tag(dfdc_exp / "config.yaml") / "test" / "faces.scp"))
    assert (cross / "scores" / "test.json").is_file()


def test_ssl_features_probes_and_results(run):
    work, *_ = run
    exp, data = work / "exp", work / "data"
    dims = {}
    for rep in REPS:
        feats = read_kv(data / "ssl" / rep / "fold1" / "train" / "feats.scp")
        dims[rep] = kaldiio.load_mat(next(iter(feats.values()))).shape[1]
        assert json.loads((data / "ssl" / rep / "selected" / "feats_info.json").read_text())["dim"] == dims[rep]
        for kind in ("linear", "anomaly"):
            e = exp / "probe" / f"{rep}_{kind}_fold1"
            assert set(read_kv(e / "scores" / "test.txt")) == set(read_kv(data / "ssl" / rep / "fold1" / "test" / "feats.scp"))
            assert (e / "scores" / "test.frames.txt").stat().st_size > 0
    assert dims == {"wav2vec2_tiny": 32, "shufflenet_tiny": 1024}
    history = (exp / "probe" / "wav2vec2_tiny_linear_fold1" / "train_history.tsv").read_text()
    assert "valid_loss" in history
    cmp = json.loads((exp / "probe" / "compare_fold1.json").read_text())
    assert len(cmp["pairs"]) == 6 and len(cmp["fusion"]) == 1
    pngs = list((exp / "probe" / "plots_fold1").glob("*.png"))
    assert len(pngs) == 4 and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    results = (work / "RESULTS.md").read_text()
    for needle in ("| fgi_tiny |", "| joint_av_tiny |", "cross_dfdc_", "| wav2vec2_tiny linear |",
                   "| shufflenet_tiny anomaly |", "RVFA", "Pearson", "ssl_ckpt", " cores", "--mini true"):
        assert needle in results, needle
    assert re.search(r"^\| fgi_tiny \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| 1 \|$", results, flags=re.M)


def test_second_run_skips_done_stages(run):
    work, args, _ = run
    r = run_recipe(RECIPE, *args, "--stop_stage", "4")
    stage_lines = [ln for ln in r.stderr.splitlines() if re.search(r"\bstage [1-4]: ", ln)]
    assert {int(re.search(r"stage (\d)", ln).group(1)) for ln in stage_lines} == {1, 2, 3, 4}
    assert all("already done" in ln for ln in stage_lines), "\n".join(stage_lines)
