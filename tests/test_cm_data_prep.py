"""ASVspoof 2019 LA data preparation (egs/asvspoof2019_la/cm1/local/prepare_la.py).

Three scales: a synthetic protocol set of exactly the official sizes (always), the real
protocol files when ``AVDF_ASV19_PROTOCOLS`` names a directory holding them (the five
public ``cm.*`` and ``asv.*.gi.trl`` files; the ``trn`` lists and the organisers' ASV
score files, which public repositories do not carry, are synthesised when absent), and
small hand-made trees for the error paths.
"""
from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avdf.data.datadir import read_kv, validate_data_dir
from tests.recipe_local import load_local

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "egs" / "asvspoof2019_la" / "cm1"
prep = load_local(RECIPE / "local" / "prepare_la.py", "prepare_la")

CM = "ASVspoof2019_LA_cm_protocols"
ASV = "ASVspoof2019_LA_asv_protocols"
SCORES = "ASVspoof2019_LA_asv_scores"
# official sizes (DATASETS.md 1.2/1.3): lines, bona fide, attacks, speakers
OFFICIAL = {"train": (25380, 2580, [f"A{i:02d}" for i in range(1, 7)], 20),
            "dev": (24844, 2548, [f"A{i:02d}" for i in range(1, 7)], 20),
            "eval": (71237, 7355, [f"A{i:02d}" for i in range(7, 20)], 67)}
ASV_SIZES = {"dev": (1484, 5768, 22296, 10), "eval": (5370, 33327, 63882, 48)}


def _dirs(root: Path) -> None:
    for d in (CM, ASV, SCORES):
        (root / d).mkdir(parents=True, exist_ok=True)


def synth_asv_extras(root: Path, male_lines: dict[str, int] | None = None, seed: int = 0) -> None:
    """Write the trn lists and the organisers' score files from the gi trials (synthetic
    enrolment ids and scores). The first ``male_lines[split]`` trials are the male ones,
    as in the real gi files; by default speakers alternate."""
    rng = random.Random(seed)
    used = set()
    for p in (root / CM).glob("*.txt"):
        used |= {ln.split()[1] for ln in p.read_text().splitlines() if ln.strip()}
    for split, letter in (("dev", "D"), ("eval", "E")):
        trl = [ln.split() for ln in (root / ASV / f"ASVspoof2019.LA.asv.{split}.gi.trl.txt").read_text().splitlines() if ln]
        spks = list(dict.fromkeys(f[0] for f in trl))
        if male_lines:
            male = list(dict.fromkeys(f[0] for f in trl[: male_lines[split]]))
        else:
            male = spks[::2]
        for gender, group in (("male", male), ("female", [s for s in spks if s not in male])):
            lines = []
            for s in group:
                ids = []
                while len(ids) < 14:
                    u = f"LA_{letter}_{rng.randrange(1000000, 10000000)}"
                    if u not in used:
                        used.add(u)
                        ids.append(u)
                lines.append(f"{s} {','.join(ids)}")
            (root / ASV / f"ASVspoof2019.LA.asv.{split}.{gender}.trn.txt").write_text("\n".join(lines) + "\n")
        (root / SCORES / f"ASVspoof2019.LA.asv.{split}.gi.trl.scores.txt").write_text(
            "".join(f"{f[2]} {f[3]} {rng.gauss(0, 1):.6f}\n" for f in trl))


def synth_official_protocols(root: Path, seed: int = 0) -> None:
    """CM and gi trial protocols in the real format with exactly the official counts."""
    rng = random.Random(seed)
    _dirs(root)
    ids: set[str] = set()
    spk_base = {"train": 79, "dev": 59, "eval": 0}
    cm_utts = {}
    for split, (n, n_bona, attacks, n_spk) in OFFICIAL.items():
        letter = prep.LETTER[split]
        spks = [f"LA_{spk_base[split] + i + 1:04d}" for i in range(n_spk)]
        rows = []
        n_spoof = n - n_bona
        per_attack = n_spoof // len(attacks)
        kinds = ["-"] * n_bona + [a for a in attacks for _ in range(per_attack)]
        for i, attack in enumerate(kinds):
            while True:
                u = f"LA_{letter}_{rng.randrange(1000000, 10000000)}"
                if u not in ids:
                    ids.add(u)
                    break
            rows.append((spks[i % n_spk], u, attack))
        rng.shuffle(rows)
        cm_utts[split] = rows
        (root / CM / prep.CM_PROTOCOLS[split]).write_text(
            "".join(f"{s} {u} - {a} {'bonafide' if a == '-' else 'spoof'}\n" for s, u, a in rows))
    for split, (n_tar, n_non, n_spf, n_claim) in ASV_SIZES.items():
        rows = cm_utts[split]
        claimed = sorted({s for s, _, _ in rows})[:n_claim]
        bona = [r for r in rows if r[2] == "-"]
        spoof = [r for r in rows if r[2] != "-"]
        lines = [f"{claimed[i % n_claim]} {bona[i % len(bona)][1]} bonafide target" for i in range(n_tar)]
        lines += [f"{claimed[(i + 1) % n_claim]} {bona[i % len(bona)][1]} bonafide nontarget" for i in range(n_non)]
        lines += [f"{claimed[i % n_claim]} {spoof[i][1]} {spoof[i][2]} spoof" for i in range(n_spf)]
        (root / ASV / f"ASVspoof2019.LA.asv.{split}.gi.trl.txt").write_text("\n".join(lines) + "\n")
    synth_asv_extras(root, seed=seed)


def check_official_counts(data: Path) -> None:
    for split, (n, n_bona, attacks, n_spk) in OFFICIAL.items():
        labels = read_kv(data / split / "utt2label")
        assert len(labels) == n
        assert sum(v == "bonafide" for v in labels.values()) == n_bona
        assert sorted(set(read_kv(data / split / "utt2attack").values()) - {"-"}) == attacks
        assert len(read_kv(data / split / "spk2utt")) == n_spk
        validate_data_dir(data / split)
    for split, (n_tar, n_non, n_spf, n_claim) in ASV_SIZES.items():
        trials = [ln.split() for ln in (data / f"{split}_asv" / "trials").read_text().splitlines()]
        assert [sum(t[2] == k for t in trials) for k in ("target", "nontarget", "spoof")] == [n_tar, n_non, n_spf]
        assert len({t[0] for t in trials}) == n_claim
        assert len((data / f"{split}_asv" / "asv_scores").read_text().splitlines()) == len(trials)
        validate_data_dir(data / f"{split}_asv")


def test_synthetic_full_size_protocols(tmp_path):
    """Parsing at the official scale (121k CM lines, 132k trials), audio never touched."""
    root = tmp_path / "LA" / "LA"  # nested, as Kaggle copies are
    synth_official_protocols(root)
    assert prep.main(["--db_root", str(tmp_path), "--out", str(tmp_path / "data"), "--check_files", "false"]) == 0
    check_official_counts(tmp_path / "data")


@pytest.mark.skipif(not os.environ.get("AVDF_ASV19_PROTOCOLS"),
                    reason="set AVDF_ASV19_PROTOCOLS to a directory with the real ASVspoof 2019 LA protocol files")
def test_real_protocols(tmp_path):
    src = Path(os.environ["AVDF_ASV19_PROTOCOLS"])
    root = tmp_path / "LA"
    _dirs(root)
    found = {p.name: p for p in src.rglob("ASVspoof2019.LA.*.txt")}
    for name in list(prep.CM_PROTOCOLS.values()):
        assert name in found, f"{src}: {name} missing"
        (root / CM / name).write_bytes(found[name].read_bytes())
    for split in ("dev", "eval"):
        for name in (f"ASVspoof2019.LA.asv.{split}.gi.trl.txt", f"ASVspoof2019.LA.asv.{split}.female.trn.txt",
                     f"ASVspoof2019.LA.asv.{split}.male.trn.txt"):
            if name in found:
                (root / ASV / name).write_bytes(found[name].read_bytes())
        name = f"ASVspoof2019.LA.asv.{split}.gi.trl.scores.txt"
        if name in found:
            (root / SCORES / name).write_bytes(found[name].read_bytes())
    if not all((root / SCORES / f"ASVspoof2019.LA.asv.{s}.gi.trl.scores.txt").is_file() for s in ("dev", "eval")):
        synth_asv_extras(root, male_lines={"dev": 9184, "eval": 33054})  # male trials first (DATASETS.md 1.3)
    assert prep.main(["--db_root", str(tmp_path), "--out", str(tmp_path / "data"), "--check_files", "false"]) == 0
    check_official_counts(tmp_path / "data")


# -- small trees for the error paths ---------------------------------------------------------------
def small_tree(root: Path, audio: bool = True) -> Path:
    """Two utterances per set (one bona fide, one spoof) and one trial of each kind."""
    _dirs(root)
    rows = {"train": [("LA_0079", "LA_T_1000001", "-"), ("LA_0079", "LA_T_1000002", "A01")],
            "dev": [("LA_0070", "LA_D_1000001", "-"), ("LA_0071", "LA_D_1000002", "A02")],
            "eval": [("LA_0001", "LA_E_1000001", "-"), ("LA_0002", "LA_E_1000002", "A10")]}
    for split, rs in rows.items():
        (root / CM / prep.CM_PROTOCOLS[split]).write_text(
            "".join(f"{s} {u} - {a} {'bonafide' if a == '-' else 'spoof'}\n" for s, u, a in rs))
        d = root / f"ASVspoof2019_LA_{split}" / "flac"
        d.mkdir(parents=True)
        if audio:
            for _, u, _ in rs:
                sf.write(d / f"{u}.flac", np.zeros(1600, dtype=np.float32) + 0.01, 16000)
        if split != "train":
            (s1, u1, _), (s2, u2, a2) = rs
            (root / ASV / f"ASVspoof2019.LA.asv.{split}.gi.trl.txt").write_text(
                f"{s1} {u1} bonafide target\n{s2} {u1} bonafide nontarget\n{s1} {u2} {a2} spoof\n")
            enrol = f"LA_{prep.LETTER[split]}_2000001"
            if audio:
                sf.write(d / f"{enrol}.flac", np.zeros(1600, dtype=np.float32) + 0.01, 16000)
            (root / ASV / f"ASVspoof2019.LA.asv.{split}.male.trn.txt").write_text(f"{s1} {enrol}\n")
            (root / ASV / f"ASVspoof2019.LA.asv.{split}.female.trn.txt").write_text(f"{s2} {enrol}\n")
            (root / SCORES / f"ASVspoof2019.LA.asv.{split}.gi.trl.scores.txt").write_text(
                f"bonafide target 1.5\nbonafide nontarget -0.5\n{a2} spoof 0.25\n")
    return root


def _run(tmp_path, *extra):
    return prep.main(["--db_root", str(tmp_path / "LA"), "--out", str(tmp_path / "data"), *extra])


def test_small_tree_outputs(tmp_path):
    small_tree(tmp_path / "LA")
    assert _run(tmp_path, "--check_files", "true") == 0
    d = tmp_path / "data"
    assert read_kv(d / "eval" / "utt2attack") == {"LA_E_1000001": "-", "LA_E_1000002": "A10"}
    assert read_kv(d / "eval" / "wav.scp")["LA_E_1000001"].endswith("ASVspoof2019_LA_eval/flac/LA_E_1000001.flac")
    assert (d / "dev_asv" / "trials").read_text() == (
        "LA_0070 LA_D_1000001 target\nLA_0071 LA_D_1000001 nontarget\nLA_0070 LA_D_1000002 spoof\n")
    assert (d / "dev_asv" / "asv_scores").read_text().splitlines()[2] == "LA_0070 LA_D_1000002 0.25"
    assert read_kv(d / "dev_asv" / "enroll_spk2gender") == {"LA_0070": "m", "LA_0071": "f"}
    assert "LA_D_2000001" in read_kv(d / "dev_asv" / "wav.scp")
    assert _run(tmp_path, "--flac_pipe", "true") == 0
    assert read_kv(d / "train" / "wav.scp")["LA_T_1000001"].startswith("sox ")


@pytest.mark.parametrize("line, reason", [
    ("LA_0079 LA_T_1000003 -", "expected 'SPEAKER UTT - ATTACK KEY'"),
    ("LA_0079 LA_T_1000003 - A01 fake", "key 'fake' is not bonafide|spoof"),
    ("LA_0079 LA_T_1000003 - X1 spoof", "attack 'X1'"),
    ("LA_0079 LA_T_1000003 - - spoof", "spoof utterance with attack '-'"),
    ("LA_0079 LA_D_1000003 - - bonafide", "does not belong to the train set"),
    ("LA_0079 LA_T_1000001 - - bonafide", "duplicate utterance 'LA_T_1000001' (first at line 1)"),
])
def test_malformed_protocol_line(tmp_path, capsys, line, reason):
    root = small_tree(tmp_path / "LA")
    proto = root / CM / prep.CM_PROTOCOLS["train"]
    proto.write_text(proto.read_text() + line + "\n")
    assert _run(tmp_path) == 1
    err = capsys.readouterr().err
    assert f"{proto}:3: " in err and reason in err
    # --skip_bad: logged to bad_utts, the rest prepared
    assert _run(tmp_path, "--skip_bad", "true") == 0
    bad = read_kv(tmp_path / "data" / "train" / "bad_utts")
    assert len(bad) == 1 and reason in next(iter(bad.values()))
    assert len(read_kv(tmp_path / "data" / "train" / "wav.scp")) == 2


def test_four_column_and_crlf_protocols(tmp_path):
    root = small_tree(tmp_path / "LA")
    proto = root / CM / prep.CM_PROTOCOLS["train"]
    proto.write_bytes(b"LA_0079 LA_T_1000001 - bonafide\r\nLA_0079 LA_T_1000002 A01 spoof\r\n\r\n")
    assert _run(tmp_path) == 0
    assert read_kv(tmp_path / "data" / "train" / "utt2attack") == {"LA_T_1000001": "-", "LA_T_1000002": "A01"}


def test_bad_audio(tmp_path, capsys):
    root = small_tree(tmp_path / "LA")
    flac = root / "ASVspoof2019_LA_eval" / "flac"
    (flac / "LA_E_1000002.flac").unlink()
    assert _run(tmp_path) == 1
    err = capsys.readouterr().err
    assert "ASVspoof2019.LA.cm.eval.trl.txt:2: " in err and "LA_E_1000002.flac: audio file is missing" in err
    assert _run(tmp_path, "--check_files", "false") == 0  # not looked at
    (flac / "LA_E_1000002.flac").write_bytes(b"")
    assert _run(tmp_path) == 1 and "audio file is empty" in capsys.readouterr().err
    sf.write(flac / "LA_E_1000002.flac", np.zeros(800, dtype=np.float32), 8000)
    assert _run(tmp_path) == 0  # the default only looks at sizes
    assert _run(tmp_path, "--check_files", "true") == 1
    assert "sample rate 8000 Hz, expected 16000" in capsys.readouterr().err
    sf.write(flac / "LA_E_1000002.flac", np.random.default_rng(0).normal(0, 0.1, 48000).astype(np.float32), 16000)
    data = (flac / "LA_E_1000002.flac").read_bytes()
    (flac / "LA_E_1000002.flac").write_bytes(data[: len(data) // 2])
    assert _run(tmp_path, "--check_files", "true") == 1
    assert "LA_E_1000002.flac: " in capsys.readouterr().err
    assert _run(tmp_path, "--check_files", "true", "--skip_bad", "true") == 0
    assert list(read_kv(tmp_path / "data" / "eval" / "bad_utts")) == ["LA_E_1000002"]
    assert list(read_kv(tmp_path / "data" / "eval" / "wav.scp")) == ["LA_E_1000001"]


def test_asv_protocol_errors(tmp_path, capsys):
    root = small_tree(tmp_path / "LA")
    scores = root / SCORES / "ASVspoof2019.LA.asv.dev.gi.trl.scores.txt"
    scores.write_text("bonafide target 1.5\nbonafide target -0.5\nA02 spoof 0.25\n")
    assert _run(tmp_path) == 1
    assert f"{scores}:2: 'bonafide target -0.5' does not match ASVspoof2019.LA.asv.dev.gi.trl.txt:2" \
        in capsys.readouterr().err
    scores.write_text("bonafide target 1.5\n")
    assert _run(tmp_path) == 1 and "expected one ASV score per trial" in capsys.readouterr().err
    assert _run(tmp_path, "--asv", "false") == 0


def test_root_not_found(tmp_path, capsys):
    (tmp_path / "LA").mkdir()
    assert _run(tmp_path) == 1
    assert "no ASVspoof2019_LA_cm_protocols/" in capsys.readouterr().err


def test_cli(tmp_path):
    small_tree(tmp_path / "LA")
    r = subprocess.run([sys.executable, str(RECIPE / "local" / "prepare_la.py"), "--db_root", str(tmp_path),
                        "--out", str(tmp_path / "data")], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "data/eval_asv: 3 trials" in r.stderr


def test_flac_pipe_never_runs_a_file_name(tmp_path):
    """An LA tree inside a folder whose name holds shell syntax: the pipe quotes it, and
    reading the audio runs sox on that file and nothing else."""
    from avdf.data.audio import WavScp
    base = tmp_path / "x;touch HACKED;y $(touch HACKED2) `touch HACKED3`"
    base.mkdir()
    small_tree(base / "LA")
    out = tmp_path / "data"
    assert prep.main(["--db_root", str(base / "LA"), "--out", str(out), "--flac_pipe", "true"]) == 0
    n = 0
    for split in ("train", "dev", "eval"):
        scp = WavScp(out / split / "wav.scp")
        for utt in scp.keys():
            assert scp.entries[utt].startswith("sox ") and scp.entries[utt].endswith(" |")
            x, sr = scp.read(utt)
            assert sr == 16000 and len(x) == 1600
            n += 1
    assert n > 0
    assert not list(tmp_path.rglob("HACKED*")) and not list(Path.cwd().glob("HACKED*"))


def test_two_la_roots_are_an_error_naming_both(tmp_path, capsys):
    small_tree(tmp_path / "db" / "LA")
    small_tree(tmp_path / "db" / "LA_copy")
    assert prep.main(["--db_root", str(tmp_path / "db"), "--out", str(tmp_path / "data")]) == 1
    err = capsys.readouterr().err
    assert "2 LA roots" in err and "LA_copy" in err and str(tmp_path / "db" / "LA") in err
    assert not (tmp_path / "data").exists()
