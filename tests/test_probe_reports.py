"""python -m avdf.bin.compare_scores (AUC, Pearson/Spearman, fusion gain) and
python -m avdf.bin.plot_frame_scores, checked against scipy / scikit-learn."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from avdf.bin import compare_scores, plot_frame_scores
from avdf.data.datadir import write_kv


def _write(path, scores):
    path.write_text("".join(f"{u} {s:.6f}\n" for u, s in scores.items()))


@pytest.fixture
def systems(tmp_path):
    rng = np.random.default_rng(0)
    d = tmp_path / "data"
    d.mkdir()
    utts = [f"v{i:02d}" for i in range(40)]
    fake = {u: i % 2 for i, u in enumerate(utts)}
    write_kv(d / "utt2label", {u: "spoof" if f else "bonafide" for u, f in fake.items()})
    write_kv(d / "utt2category", {u: ("BCD"[i % 3] if fake[u] else "A") for i, u in enumerate(utts)})
    shared = rng.normal(size=40)
    a = {u: -1.0 * fake[u] + shared[i] + rng.normal(scale=0.5) for i, u in enumerate(utts)}
    b = {u: -1.0 * fake[u] + 0.5 * shared[i] + rng.normal(scale=0.8) for i, u in enumerate(utts)}
    fused = {u: a[u] + b[u] for u in utts}
    for name, s in (("a", a), ("b", b), ("ab", fused)):
        _write(tmp_path / f"{name}.txt", s)
    return tmp_path, d, utts, fake, a, b, fused


def test_compare_scores(systems):
    tmp, d, utts, fake, a, b, fused = systems
    out = tmp / "cmp.json"
    assert compare_scores.main(["--data", str(d), "--scores", f"a={tmp / 'a.txt'}", f"b={tmp / 'b.txt'}",
                                "--fused", f"a+b={tmp / 'ab.txt'}", "--out_json", str(out),
                                "--out_md", str(tmp / "cmp.md")]) == 0
    rep = json.loads(out.read_text())
    real = [1 - fake[u] for u in utts]
    x, y = [a[u] for u in utts], [b[u] for u in utts]
    assert rep["systems"]["a"]["auc"] == pytest.approx(roc_auc_score(real, x), abs=1e-6)
    pair = rep["pairs"][0]
    assert pair["pearson"] == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-5)
    assert pair["spearman"] == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-5)
    f = rep["fusion"][0]
    best = max(roc_auc_score(real, x), roc_auc_score(real, y))
    assert f["auc"] == pytest.approx(roc_auc_score(real, [fused[u] for u in utts]), abs=1e-6)
    assert f["gain"] == pytest.approx(f["auc"] - best, abs=1e-6)
    assert "| a / b |" in (tmp / "cmp.md").read_text()


def test_compare_scores_errors(systems, capsys):
    tmp, d, *_ = systems
    (tmp / "bad.txt").write_text("stranger 0.1\n")
    assert compare_scores.main(["--data", str(d), "--scores", f"x={tmp / 'bad.txt'}",
                                "--out_json", str(tmp / "o.json")]) == 1
    assert "'stranger' is not in" in capsys.readouterr().err
    assert compare_scores.main(["--data", str(d), "--scores", f"a={tmp / 'a.txt'}", "--fused",
                                f"a+z={tmp / 'ab.txt'}", "--out_json", str(tmp / "o.json")]) == 1
    assert "'z' is not one of the --scores systems" in capsys.readouterr().err


def test_plot_frame_scores(systems):
    tmp, d, utts, *_ = systems
    for name in ("p", "q"):
        (tmp / f"{name}.frames.txt").write_text("".join(f"{u} {t * 0.04:.2f} {np.sin(t / 3):.4f}\n"
                                                        for u in utts for t in range(30)))
    out = tmp / "plots"
    assert plot_frame_scores.main(["--data", str(d), "--scores", f"p={tmp / 'p.frames.txt'}",
                                   f"q={tmp / 'q.frames.txt'}", "--out_dir", str(out), "--per_group", "2"]) == 0
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 8  # 2 per category A, B, C, D
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert plot_frame_scores.main(["--data", str(d), "--scores", f"p={tmp / 'p.frames.txt'}",
                                   "--out_dir", str(out), "--utts", "nobody"]) == 1
    (tmp / "bad.frames.txt").write_text("v00 0.0\n")
    assert plot_frame_scores.main(["--data", str(d), "--scores", f"p={tmp / 'bad.frames.txt'}",
                                   "--out_dir", str(out)]) == 1
