"""The mini ASVspoof 2019 LA corpus, read by an independent reader written from
DATASETS.md §1 (not from the generator's code)."""
from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import fftconvolve, resample_poly

from avdf.bin import make_mini_corpus
from avdf.data.mini.speech import real_speakers
from tests.conftest import ROOT, recipe_env

SPLITS = {"train": ("T", "ASVspoof2019.LA.cm.train.trn.txt"), "dev": ("D", "ASVspoof2019.LA.cm.dev.trl.txt"),
          "eval": ("E", "ASVspoof2019.LA.cm.eval.trl.txt")}
SEEN = {f"A{i:02d}" for i in range(1, 7)}
UNSEEN = {f"A{i:02d}" for i in range(7, 20)}


def read_lines(path: Path) -> list[str]:
    """Lines of an ASVspoof text file: ASCII, LF endings, no empty lines, single spaces."""
    data = path.read_bytes()
    assert data.endswith(b"\n") and b"\r" not in data, f"{path}: not LF-terminated lines"
    data.decode("ascii")
    lines = data.decode().split("\n")[:-1]
    for n, line in enumerate(lines, 1):
        assert line and "  " not in line and line == line.strip(), f"{path}:{n}: bad spacing {line!r}"
    return lines


def read_cm(root: Path, split: str) -> list[tuple[str, str, str]]:
    """(speaker, utt, attack-or-'-') of a CM protocol, every field checked."""
    letter, name = SPLITS[split]
    out = []
    for n, line in enumerate(read_lines(root / "ASVspoof2019_LA_cm_protocols" / name), 1):
        f = line.split(" ")
        assert len(f) == 5, f"{name}:{n}: {len(f)} fields"
        spk, utt, dash, attack, key = f
        assert re.fullmatch(r"LA_\d{4}", spk) and re.fullmatch(rf"LA_{letter}_\d{{7}}", utt), f"{name}:{n}"
        assert dash == "-" and re.fullmatch(r"A\d\d|-", attack), f"{name}:{n}"
        assert key == ("bonafide" if attack == "-" else "spoof"), f"{name}:{n}: key {key} with {attack}"
        out.append((spk, utt, attack))
    assert len({u for _, u, _ in out}) == len(out), f"{name}: duplicate utterances"
    return out


def read_trn(path: Path) -> dict[str, list[str]]:
    out = {}
    for line in read_lines(path):
        spk, utts = line.split(" ")
        assert re.fullmatch(r"LA_\d{4}", spk)
        out[spk] = utts.split(",")
    return out


def read_trl(path: Path) -> list[tuple[str, str, str, str]]:
    out = []
    for n, line in enumerate(read_lines(path), 1):
        f = line.split(" ")
        assert len(f) == 4 and f[3] in ("target", "nontarget", "spoof"), f"{path.name}:{n}"
        assert (f[2] == "bonafide") == (f[3] != "spoof") and re.fullmatch(r"bonafide|A\d\d", f[2]), f"{path.name}:{n}"
        out.append(tuple(f))
    return out


@pytest.fixture(scope="module")
def la(mini_corpus) -> Path:
    return mini_corpus("asvspoof2019_la") / "LA"


@pytest.fixture(scope="module")
def cm(la) -> dict[str, list[tuple[str, str, str]]]:
    return {s: read_cm(la, s) for s in SPLITS}


def test_tree_and_readme(la):
    assert (la.parent / ".complete").is_file() and (la / "README.LA.txt").is_file()
    assert "mini" in (la / "README.LA.txt").read_text().lower()
    readme = (la.parent / "README.mini.md").read_text()
    for word in ("CC-BY-SA-3.0", "GPL-3", "seed 0", "A19", "pocketsphinx"):
        assert word in readme
    asv = la / "ASVspoof2019_LA_asv_protocols"
    for split in ("dev", "eval"):
        for kind in ("female.trn", "male.trn", "female.trl", "male.trl", "gi.trl"):
            assert (asv / f"ASVspoof2019.LA.asv.{split}.{kind}.txt").is_file()
        assert (la / "ASVspoof2019_LA_asv_scores" / f"ASVspoof2019.LA.asv.{split}.gi.trl.scores.txt").is_file()


def test_attacks_and_speakers(cm):
    attacks = {s: {a for _, _, a in cm[s]} - {"-"} for s in SPLITS}
    assert attacks["train"] == SEEN and attacks["dev"] == SEEN and attacks["eval"] == UNSEEN
    for s in SPLITS:
        assert any(a == "-" for _, _, a in cm[s]), f"{s}: no bona fide"
    spk = {s: {x for x, _, _ in cm[s]} for s in SPLITS}
    assert not (spk["train"] & spk["dev"]) and not (spk["train"] & spk["eval"]) and not (spk["dev"] & spk["eval"])


def test_flac_files_listed_and_formatted(la, cm):
    for split, (letter, _) in SPLITS.items():
        flac = la / f"ASVspoof2019_LA_{split}" / "flac"
        present = {p.stem for p in flac.iterdir()}
        assert all(p.suffix == ".flac" for p in flac.iterdir())
        listed = {u for _, u, _ in cm[split]}
        if split != "train":
            for g in ("female", "male"):
                for utts in read_trn(la / "ASVspoof2019_LA_asv_protocols" /
                                     f"ASVspoof2019.LA.asv.{split}.{g}.trn.txt").values():
                    assert not set(utts) & {u for _, u, _ in cm[split]}, "enrolment utterance in the CM protocol"
                    listed |= set(utts)
        assert present == listed, f"{split}: files not listed {present - listed}, listed missing {listed - present}"
        for utt in sorted(present):
            info = sf.info(str(flac / f"{utt}.flac"))
            assert (info.format, info.samplerate, info.channels, info.subtype) == ("FLAC", 16000, 1, "PCM_16"), utt
            assert 0.5 < info.duration < 6.0, f"{utt}: {info.duration} s"


def test_asv_protocols_and_scores(la, cm):
    for split in ("dev", "eval"):
        d = la / "ASVspoof2019_LA_asv_protocols"
        spk_of = {u: s for s, u, _ in cm[split]}
        attack_of = {u: a for _, u, a in cm[split]}
        trls = {g: read_trl(d / f"ASVspoof2019.LA.asv.{split}.{g}.trl.txt") for g in ("male", "female")}
        gi = read_trl(d / f"ASVspoof2019.LA.asv.{split}.gi.trl.txt")
        assert gi == trls["male"] + trls["female"], "gi must be the male trials then the female ones"
        assert {u for _, u, _, _ in gi} == set(spk_of), "gi test utterances != the CM utterances"
        for g in ("male", "female"):
            enrolled = read_trn(d / f"ASVspoof2019.LA.asv.{split}.{g}.trn.txt")
            assert {c for c, _, _, _ in trls[g]} <= set(enrolled)
        for claimed, utt, key, asv_key in gi:
            if asv_key == "target":
                assert spk_of[utt] == claimed and attack_of[utt] == "-"
            elif asv_key == "nontarget":
                assert spk_of[utt] != claimed and attack_of[utt] == "-"
            else:
                assert key == attack_of[utt] != "-" and spk_of[utt] == claimed
        scores = read_lines(la / "ASVspoof2019_LA_asv_scores" / f"ASVspoof2019.LA.asv.{split}.gi.trl.scores.txt")
        assert len(scores) == len(gi)
        by_key: dict[str, list[float]] = {}
        for line, (_, _, key, asv_key) in zip(scores, gi):
            cm_key, k2, score = line.split(" ")
            assert (cm_key, k2) == (key, asv_key)
            by_key.setdefault(asv_key, []).append(float(score))
        assert np.isfinite(sum(by_key["target"] + by_key["nontarget"]))
        assert np.mean(by_key["target"]) > np.mean(by_key["nontarget"]), f"{split}: ASV scores do not separate"


def _provenance(la: Path) -> dict[str, list[str]]:
    rows = [line.split("\t") for line in (la.parent / "provenance.tsv").read_text().splitlines()]
    return {Path(r[0]).stem: r[1:] for r in rows}


def test_bonafide_is_real_speech(la, cm):
    """Bona fide and enrolment files trace to recordings of the real-speech catalogue, and
    their audio is that recording's segment (high normalised cross-correlation)."""
    prov = _provenance(la)
    catalogue = {str(f) for s in real_speakers(0.0) for f in s.files}
    bona = [u for s in SPLITS for _, u, a in cm[s] if a == "-"]
    enrol = [u for u, r in prov.items() if r[0] == "enrolment"]
    checked = 0
    for utt in bona + enrol:
        kind, _, source = prov[utt]
        assert kind in ("bonafide", "enrolment"), f"{utt}: {kind}"
        m = re.fullmatch(r"(\w+):(.+\.wav):([\d.]+)-([\d.]+)", source)
        assert m and m.group(2) in catalogue, f"{utt}: source {source} is not a catalogued real recording"
        if checked < 4 and utt in bona:
            split = {"T": "train", "D": "dev", "E": "eval"}[utt[3]]
            y, _ = sf.read(str(la / f"ASVspoof2019_LA_{split}" / "flac" / f"{utt}.flac"), dtype="float32")
            x, sr = sf.read(m.group(2), dtype="float32")
            x = resample_poly(x, 16000, sr)[int(float(m.group(3)) * 16000): int(float(m.group(4)) * 16000)]
            y, x = y.astype(np.float64), x.astype(np.float64)
            xc = fftconvolve(y, x[::-1])
            norm = np.sqrt(np.maximum(fftconvolve(y ** 2, np.ones(len(x))), 0.0)) * np.linalg.norm(x) + 1e-9
            assert (xc / norm).max() > 0.85, f"{utt}: audio does not match its source {source}"
            checked += 1
    for s in SPLITS:
        for _, u, a in cm[s]:
            if a != "-":
                assert prov[u][0] == a, f"{u}: provenance says {prov[u][0]}, protocol {a}"


def test_attack_systems(la, cm):
    """A16 uses A04's system and A19 A06's; every other attack is its own system."""
    prov = _provenance(la)
    system = {}
    for s in SPLITS:
        for _, u, a in cm[s]:
            if a != "-":
                system.setdefault(a, set()).add(prov[u][2].split(" ")[1])
    assert all(len(v) == 1 for v in system.values())
    system = {a: v.pop() for a, v in system.items()}
    assert system["A16"] == system["A04"] and system["A19"] == system["A06"]
    others = [v for a, v in system.items() if a not in ("A16", "A19")]
    assert len(set(others)) == len(others)


def test_same_seed_same_metadata(la, tmp_path):
    """A second generation (one worker instead of two) gives byte-identical text files."""
    r = subprocess.run([sys.executable, "-m", "avdf.bin.make_mini_corpus", "--dataset", "asvspoof2019_la", "--out",
                        str(tmp_path / "again"), "--size", "tiny", "--seed", "0", "--jobs", "1"],
                       cwd=ROOT, env=recipe_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    texts = [p.relative_to(la.parent) for p in la.parent.rglob("*") if p.is_file() and p.suffix != ".flac"]
    assert len(texts) >= 18
    for rel in texts:
        assert (tmp_path / "again" / rel).read_bytes() == (la.parent / rel).read_bytes(), f"{rel} differs"


def test_bad_output_directories(tmp_path, capsys):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    assert make_mini_corpus.main(["--dataset", "asvspoof2019_la", "--out", str(busy)]) == 1
    err = capsys.readouterr().err
    assert "not empty" in err and "--force" in err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert make_mini_corpus.main(["--dataset", "asvspoof2019_la", "--out", str(blocker / "sub")]) == 1
    assert "cannot create" in capsys.readouterr().err


def test_missing_programs_named(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))     # no /usr/bin: no espeak-ng, flite
    assert make_mini_corpus.main(["--dataset", "asvspoof2019_la", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "apt-get install" in err and "espeak-ng" in err, err
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".*partial"))


def test_counts_per_attack(cm):
    for s in SPLITS:
        c = Counter(a for _, _, a in cm[s] if a != "-")
        assert min(c.values()) >= 1
