"""train_backend + score_asv on synthetic embeddings: every method x normalisation, trial
order kept, informative scores, and missing embeddings (error, or dropped with --skip_bad)."""
from __future__ import annotations

import kaldiio
import numpy as np
import pytest

from avdf.bin import score_asv, train_backend
from avdf.data.datadir import read_trials


@pytest.fixture()
def setup(tmp_path):
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(30, 16)) * 2
    def write(name, spk_ids, per):
        rows = {}
        for s in spk_ids:
            for k in range(per):
                rows[f"s{s:02d}-u{k}"] = (centers[s] + rng.normal(size=16)).astype(np.float32)
        with kaldiio.WriteHelper(f"ark,scp:{tmp_path}/{name}.ark,{tmp_path}/{name}.scp") as w:
            for k in sorted(rows):
                w(k, rows[k])
        return rows
    train = write("train", range(20), 6)
    (tmp_path / "utt2spk").write_text("".join(f"{u} {u.split('-')[0]}\n" for u in sorted(train)))
    ev = sorted(write("eval", range(20, 30), 3))
    trials = []
    for i, a in enumerate(ev):
        for b in ev[i + 1:]:
            trials.append(f"{a} {b} {'target' if a[:3] == b[:3] else 'nontarget'}\n")
    (tmp_path / "vox1").mkdir()
    (tmp_path / "vox1/trials_O").write_text("".join(trials))
    return tmp_path


def test_backend_and_scoring(setup, capsys):
    t = setup
    assert train_backend.main(["--embeddings", str(t / "train.scp"), "--utt2spk", str(t / "utt2spk"),
                               "--out_dir", str(t / "backend"), "--lda_dim", "10"]) == 0
    assert score_asv.main(["--backend_dir", str(t / "backend"), "--method", "cosine", "plda",
                           "--embeddings", str(t / "eval.scp"), "--trials", str(t / "vox1/trials_O"),
                           "--out_dir", str(t / "scores"), "--score_norm", "none", "snorm", "asnorm",
                           "--top_n", "5"]) == 0
    written = capsys.readouterr().out.split()
    assert len(written) == 6
    trials = read_trials(t / "vox1/trials_O")
    for m in ("cosine", "plda"):
        for n in ("none", "snorm", "asnorm"):
            lines = [ln.split() for ln in (t / f"scores/vox1_O_{m}_{n}.txt").read_text().splitlines()]
            assert [(a, b) for a, b, _ in lines] == [(a, b) for a, b, _ in trials]
            s = np.array([float(x[2]) for x in lines])
            tgt = np.array([lab == "target" for _, _, lab in trials])
            assert s[tgt].mean() > s[~tgt].mean() + 1.0 * s.std()


def test_missing_embedding(setup, capsys):
    t = setup
    train_backend.main(["--embeddings", str(t / "train.scp"), "--utt2spk", str(t / "utt2spk"),
                        "--out_dir", str(t / "backend"), "--lda_dim", "10"])
    scp = (t / "eval.scp").read_text().splitlines()
    (t / "eval.scp").write_text("\n".join(scp[1:]) + "\n")
    args = ["--backend_dir", str(t / "backend"), "--method", "cosine", "--embeddings", str(t / "eval.scp"),
            "--trials", str(t / "vox1/trials_O"), "--out_dir", str(t / "scores")]
    assert score_asv.main(args) == 1
    assert "no embedding" in capsys.readouterr().err
    assert score_asv.main(args + ["--skip_bad", "true"]) == 0
    kept = read_trials(t / "scores/vox1_O_cosine_none.trials")
    assert 0 < len(kept) < len(read_trials(t / "vox1/trials_O"))
    assert len((t / "scores/vox1_O_cosine_none.txt").read_text().splitlines()) == len(kept)
