"""egs/dfdc/av1 end to end on the tiny mini DFDC: every stage, both models."""
from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from avdf.data.datadir import read_kv, validate_data_dir
from tests.conftest import ROOT, recipe_env, run_recipe

RECIPE = ROOT / "egs" / "dfdc" / "av1"


def _work(exp_dir: Path) -> Path:
    return exp_dir.parent.parent


def _common(exp_dir: Path) -> list[str]:
    work = _work(exp_dir)
    mini = read_kv(next((work / "data").glob("face*/test")) / "video.scp")
    root = Path(next(iter(mini.values()))).parent.parent
    return ["--mini", "true", "--mini_root", str(root), "--work", str(work), "--results", str(work / "RESULTS.md"),
            "--nj", "2"]


def test_fgi_every_stage(dfdc_tiny_exp):
    exp, work = dfdc_tiny_exp, _work(dfdc_tiny_exp)
    for s in ("train", "test"):
        validate_data_dir(work / "data" / s, check_files=True)
    pdata = next((work / "data").glob("face32_*"))
    test = validate_data_dir(pdata / "test")
    labels = read_kv(pdata / "test" / "utt2label")
    assert {"bonafide", "spoof"} == set(labels.values())
    attacks = read_kv(pdata / "test" / "utt2attack")
    assert all((a == "-") == (labels[u] == "bonafide") for u, a in attacks.items())
    faces = read_kv(pdata / "test" / "faces.scp")
    assert set(faces) == set(test)
    scores = read_kv(exp / "scores" / "test.txt")
    assert set(scores) == set(test) and all(0 <= float(v) <= 1 for v in scores.values())
    assert (exp / "model.pt").is_file() and (exp / "config.yaml").is_file()
    results = (work / "RESULTS.md").read_text()
    row = re.search(r"^\| fgi_tiny \| ([0-9.]+) \|", results, flags=re.M)
    assert row and 0 <= float(row.group(1)) <= 1
    assert "./run.sh --mini true" in results and " cores" in results
    pngs = sorted((exp / "explain").glob("*.png"))
    assert any(p.name.endswith(".maps.png") for p in pngs) and any(p.name.endswith(".scores.png") for p in pngs)
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)


def test_second_run_skips_done_stages(dfdc_tiny_exp):
    t0 = time.time()
    r = run_recipe(RECIPE, *_common(dfdc_tiny_exp), "--config", "conf/fgi_tiny.yaml")
    for n in range(1, 7):
        assert re.search(rf"stage {n}: .*already done", r.stderr), r.stderr[-3000:]
    assert time.time() - t0 < 60


def test_joint_av_and_perturbed_scoring(dfdc_tiny_exp):
    common = _common(dfdc_tiny_exp)
    work = _work(dfdc_tiny_exp)
    # the same preprocess: section as fgi_tiny, so stage 2's crops are reused
    run_recipe(RECIPE, *common, "--config", "conf/joint_av_tiny.yaml", "--stage", "2", "--stop_stage", "5")
    exp = work / "exp" / "joint_av_tiny"
    assert len(read_kv(exp / "scores" / "test.txt")) == len(read_kv(dfdc_tiny_exp / "scores" / "test.txt"))
    history = (exp / "train_history.tsv").read_text()
    assert "valid_loss" in history and "train_loss" in history
    run_recipe(RECIPE, *common, "--config", "conf/fgi_tiny.yaml", "--stage", "4", "--stop_stage", "5",
               "--perturb", "gaussian,jpeg,h264")
    perturbed = read_kv(dfdc_tiny_exp / "scores" / "test_gaussian_jpeg_h264.txt")
    clean = read_kv(dfdc_tiny_exp / "scores" / "test.txt")
    assert set(perturbed) == set(clean) and perturbed != clean
    results = (work / "RESULTS.md").read_text()
    assert "| joint_av_tiny |" in results and "| fgi_tiny_gaussian_jpeg_h264 |" in results and "| fgi_tiny |" in results
    run_recipe(RECIPE, *common, "--config", "conf/fgi_tiny.yaml", "--stage", "4", "--stop_stage", "5",
               "--sync_contrast", "2,3")
    contrast = read_kv(dfdc_tiny_exp / "scores" / "test_sc2_3.txt")
    assert set(contrast) == set(clean) and contrast != clean
    assert "--sync_contrast 2,3" in (dfdc_tiny_exp / "log" / "infer_sc2_3.1.log").read_text()
    assert "| fgi_tiny_sc2_3 |" in (work / "RESULTS.md").read_text()


def test_overlapping_chunks(dfdc_tiny_exp, tmp_path):
    from avdf.bin import infer_av

    exp = dfdc_tiny_exp
    pdata = next((_work(exp) / "data").glob("face32_*")) / "test"
    out = tmp_path / "test.txt"
    assert infer_av.main(["--exp_dir", str(exp), "--data", str(pdata), "--out", str(out), "--cpu",
                          "--chunk_hop", "2", "--max_chunks", "0", "--num_threads", "1"]) == 0
    fps = {u: float(v) for u, v in read_kv(pdata / "utt2fps").items()}
    rows = [line.split() for line in (tmp_path / "test.chunks.txt").read_text().splitlines()]
    default = (exp / "scores" / "test.chunks.txt").read_text().splitlines()
    assert len(rows) > len(default)
    starts: dict[str, list[float]] = {}
    for u, t, _ in rows:
        starts.setdefault(u, []).append(float(t))
    for u, ts in starts.items():
        assert ts[0] == 0 and all(abs(b - a - 2 / fps[u]) < 2e-3 for a, b in zip(ts, ts[1:])), (u, ts)
    scores = read_kv(out)
    assert set(scores) == set(read_kv(exp / "scores" / "test.txt"))
    assert infer_av.main(["--exp_dir", str(exp), "--data", str(pdata), "--out", str(out), "--cpu",
                          "--chunk_hop", "0"]) == 1


def test_other_corpus_in_the_same_work_dir_is_refused(dfdc_tiny_exp, tmp_path):
    work = _work(dfdc_tiny_exp)
    assert (work / "data" / ".source").is_file()
    other = tmp_path / "other_mini"
    other.mkdir()
    (other / ".complete").write_text("dfdc tiny 0\n")   # stage 0 takes it as a finished corpus
    args = _common(dfdc_tiny_exp)
    args[args.index("--mini_root") + 1] = str(other)
    r = subprocess.run(["bash", "run.sh", *args, "--config", "conf/fgi_tiny.yaml", "--stop_stage", "1"],
                       cwd=RECIPE, env=recipe_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert f"was prepared from {(work / 'data' / '.source').read_text().strip()}, not {other}" in r.stderr, r.stderr
    assert "--work" in r.stderr
