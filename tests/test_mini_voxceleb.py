"""The mini VoxCeleb1/2 corpus, read by an independent reader written from DATASETS.md §3
(not from the generator's code)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import av
import pytest
import soundfile as sf

from avdf.data.mini.speech import real_speakers
from tests.conftest import ROOT, recipe_env

VOX1_HEADER = "VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet"
VOX2_HEADER = "VoxCeleb2 ID,VGGFace2 ID,Gender,Set"
UTT = re.compile(r"(id\d{5})/([A-Za-z0-9_-]{11})/(\d{5})\.(wav|m4a)")


@pytest.fixture(scope="module")
def vox(mini_corpus) -> Path:
    return mini_corpus("voxceleb")


def vox1_meta(root: Path) -> dict[str, tuple[str, str, str, str]]:
    """id -> (name, gender, nationality, set); TAB-separated, split on TAB only."""
    lines = (root / "voxceleb1" / "vox1_meta.csv").read_text(encoding="utf-8").split("\n")
    assert lines[0] == VOX1_HEADER and lines[-1] == ""
    out = {}
    for line in lines[1:-1]:
        f = line.split("\t")
        assert len(f) == 5 and f[2] in ("m", "f") and f[4] in ("dev", "test"), line
        out[f[0]] = tuple(f[1:])
    return out


def vox2_meta(root: Path) -> dict[str, tuple[str, str, str]]:
    data = (root / "voxceleb2" / "vox2_meta.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf"), "the real vox2_meta.csv copy starts with a UTF-8 BOM"
    lines = data.decode("utf-8-sig").split("\n")
    assert lines[0] == VOX2_HEADER and lines[-1] == ""
    out = {}
    for line in lines[1:-1]:
        assert line.endswith(" ") and line.count(" ,") == 3, f"missing trailing-space quirk: {line!r}"
        f = [x.strip() for x in line.split(",")]
        assert re.fullmatch(r"id\d{5}", f[0]) and f[1] == "n" + f[0][2:].zfill(6), line
        assert f[2] in ("m", "f") and f[3] in ("dev", "test"), line
        out[f[0]] = (f[1], f[2], f[3])
    return out


def tree(root: Path, part: str) -> dict[str, list[str]]:
    """speaker -> relative utterance paths under ``<part>`` (``voxceleb1/dev/wav`` ...)."""
    base = root / part
    out: dict[str, list[str]] = {}
    for p in sorted(base.rglob("*")):
        if p.is_file():
            rel = p.relative_to(base).as_posix()
            assert UTT.fullmatch(rel), f"{part}/{rel}: not idNNNNN/<11-char id>/NNNNN.ext"
            out.setdefault(rel.split("/")[0], []).append(rel)
    return out


def read_trials(path: Path) -> list[tuple[str, str, str]]:
    data = path.read_text()
    assert data.endswith("\n") and "\r" not in data
    out = []
    for n, line in enumerate(data.split("\n")[:-1], 1):
        f = line.split(" ")
        assert len(f) == 3 and f[0] in ("0", "1"), f"{path.name}:{n}: {line!r}"
        assert UTT.fullmatch(f[1]) and UTT.fullmatch(f[2]), f"{path.name}:{n}"
        out.append((f[0], f[1], f[2]))
    return out


def test_speakers_and_meta(vox):
    m1, m2 = vox1_meta(vox), vox2_meta(vox)
    t1 = {p: tree(vox, f"voxceleb1/{p}/wav") for p in ("dev", "test")}
    t2 = {p: tree(vox, f"voxceleb2/{p}/aac") for p in ("dev", "test")}
    for part, spk in t1.items():
        for s in spk:
            assert m1[s][3] == part, f"{s} in voxceleb1/{part} but meta says {m1[s][3]}"
            n = int(s[2:])
            assert (10270 <= n <= 10309) == (part == "test") and 10001 <= n <= 11251
    assert set(m1) == set(t1["dev"]) | set(t1["test"])
    assert any(" " in v[2] for v in m1.values()), "no nationality with a space"
    for part, spk in t2.items():
        for s in spk:
            assert m2[s][2] == part and int(s[2:]) < 10001
    assert set(t2["dev"]) | set(t2["test"]) < set(m2), "vox2_meta lists a speaker without audio, as the real one"
    vox1, vox2 = set(m1), set(t2["dev"]) | set(t2["test"])
    assert not vox1 & vox2 and len(vox1 | vox2) >= 20
    for trees in (t1, t2):
        for spk in trees.values():
            for s, utts in spk.items():
                assert len({u.split("/")[1] for u in utts}) >= 2, f"{s}: fewer than 2 videos"


def test_audio_formats(vox):
    for p in (vox / "voxceleb1").rglob("*.wav"):
        info = sf.info(str(p))
        assert (info.format, info.samplerate, info.channels, info.subtype) == ("WAV", 16000, 1, "PCM_16"), p
        assert 0.5 < info.duration < 8
    m4a = sorted((vox / "voxceleb2").rglob("*.m4a"))
    assert m4a
    for p in m4a:
        with av.open(str(p)) as c:
            (a,) = c.streams.audio
            assert (a.codec_context.name, a.rate, a.channels) == ("aac", 16000, 1), p
            assert not c.streams.video
    # decodable the way Kaldi's wav.scp reads it
    r = subprocess.run(["ffmpeg", "-v", "8", "-i", str(m4a[0]), "-f", "wav", "-acodec", "pcm_s16le", "-"],
                       capture_output=True)
    assert r.returncode == 0 and len(r.stdout) > 16000


def test_trial_lists(vox):
    m1 = vox1_meta(vox)
    root = vox / "voxceleb1"
    files = {u: part for part in ("dev", "test") for utts in tree(vox, f"voxceleb1/{part}/wav").values()
             for u in utts}
    for name in ("veri_test", "list_test_all", "list_test_hard"):
        orig, clean = read_trials(root / f"{name}.txt"), read_trials(root / f"{name}2.txt")
        assert set(clean) < set(orig), f"{name}2 is not a cleaned subset of {name}"
        n_tar = sum(1 for t in orig if t[0] == "1")
        assert 0.4 < n_tar / len(orig) < 0.6, f"{name}: {n_tar} targets of {len(orig)}"
        parts = set()
        for label, a, b in orig:
            assert a in files and b in files, f"{name}: {a} or {b} missing"
            parts |= {files[a], files[b]}
            sa, sb = a.split("/")[0], b.split("/")[0]
            assert (sa == sb) == (label == "1")
            if name == "list_test_hard" and label == "0":
                assert m1[sa][1] == m1[sb][1], f"hard list pairs genders {a} {b}"
        assert parts == ({"test"} if name == "veri_test" else {"dev", "test"}), f"{name} draws from {parts}"
    iden = [line.split(" ") for line in (root / "iden_split.txt").read_text().splitlines()]
    assert sorted(r for _, r in iden) == sorted(files) and {s for s, _ in iden} == {"1", "2", "3"}


def test_real_speakers_first_and_traceable(vox):
    rows = [line.split("\t") for line in (vox / "provenance.tsv").read_text().splitlines()]
    catalogue = {str(f) for s in real_speakers(0.0) for f in s.files}
    real = {}
    for rel, spk, source in rows:
        assert (vox / rel).is_file()
        if source.startswith("real "):
            path = re.fullmatch(r"real (\w+):(.+\.wav):[\d.]+-[\d.]+", source).group(2)
            assert path in catalogue
            real.setdefault(spk, set()).add(source.split(":")[0])
        else:
            assert source.startswith("tts [")
    assert len(real) >= 7 and all(len(v) == 1 for v in real.values()), "one real person per speaker id"
    assert len({v.pop() for v in real.values()}) == len(real), "a real person under two speaker ids"
    readme = (vox / "README.mini.md").read_text()
    assert "TTS" in readme and "real" in readme and "CC-BY-SA-3.0" in readme


def test_same_seed_same_metadata(vox, tmp_path):
    r = subprocess.run([sys.executable, "-m", "avdf.bin.make_mini_corpus", "--dataset", "voxceleb", "--out",
                        str(tmp_path / "again"), "--size", "tiny", "--seed", "0"],
                       cwd=ROOT, env=recipe_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    texts = [p.relative_to(vox) for p in vox.rglob("*") if p.is_file() and p.suffix not in (".wav", ".m4a")]
    assert len(texts) >= 12
    for rel in texts:
        assert (tmp_path / "again" / rel).read_bytes() == (vox / rel).read_bytes(), f"{rel} differs"
