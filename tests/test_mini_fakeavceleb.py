"""The tiny mini FakeAVCeleb v1.2, read back by an independent reader written from
DATASETS.md §5: meta_data.csv by position (header quirk, directory prefix, categories and
methods, file-name patterns, duplicated rows), the race/gender/id tree, every file listed
and present, H.264 + AAC streams, real videos with a detectable face speaking real speech
in sync, and the mini 70/70-style test list (chosen the published way, identity-disjoint
from the rest)."""
from __future__ import annotations

import csv
import random
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from tests.av_checks import (REAL_SPEECH_ROOTS, contains_recording, decode, detection_rate, face_boxes, mouth_sync,
                             probe, read_provenance)

RACES = ["African", "Asian (East)", "Asian (South)", "Caucasian (American)", "Caucasian (European)"]
GENDERS = ["men", "women"]
CATEGORY = {"A": ("RealVideo-RealAudio", {"real"}), "B": ("RealVideo-FakeAudio", {"rtvc"}),
            "C": ("FakeVideo-RealAudio", {"wav2lip", "fsgan", "faceswap"}),
            "D": ("FakeVideo-FakeAudio", {"wav2lip", "fsgan-wav2lip", "faceswap-wav2lip"})}
ID, YT, N = r"id\d{5}", r"[A-Za-z0-9_-]{11}", r"\d{5}"
PATTERNS = {   # DATASETS.md §5.2, file name by method
    "real": [rf"{N}\.mp4"],
    "rtvc": [rf"{N}_fake\.mp4"],
    "faceswap": [rf"{N}_\d+\.mp4", rf"{N}_{ID}_\d+_{YT}_faceswap\.mp4"],
    "fsgan": [rf"{N}_{ID}_{YT}\.mp4"],
    "wav2lip": [rf"{N}_{ID}_wavtolip\.mp4"],
    "fsgan-wav2lip": [rf"{N}_{ID}_{YT}_{ID}_wavtolip\.mp4"],
    "faceswap-wav2lip": [rf"{N}_\d+_{ID}_wavtolip\.mp4", rf"{N}_{ID}_{YT}_faceswap_{ID}_wavtolip\.mp4"],
}


@pytest.fixture(scope="module")
def root(mini_corpus) -> Path:
    return mini_corpus("fakeavceleb")


def read_meta(path: Path) -> list[list[str]]:
    """Rows of meta_data.csv, 10 fields each, parsed by position."""
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[0] == "source,target1,target2,method,category,type,race,gender,path,"   # 9 names + trailing comma
    assert lines[-1] == ""
    rows = list(csv.reader(lines[1:-1]))
    assert all(len(r) == 10 for r in rows)
    return rows


def flat(row: list[str]) -> str:
    source, _, _, _, _, typ, race, gender, filename, _ = row
    return f"{typ}-{''.join(c for c in race if c.isalnum())}-{gender}-{source}_{filename}"


def test_meta_data_and_tree(root):
    base = root / "FakeAVCeleb_v1.2"
    rows = read_meta(base / "meta_data.csv")
    listed = set()
    for source, t1, t2, method, cat, typ, race, gender, filename, dirpath in rows:
        assert re.fullmatch(ID, source) and race in RACES and gender in GENDERS
        assert CATEGORY[cat][0] == typ and method in CATEGORY[cat][1]
        assert dirpath == f"FakeAVCeleb/{typ}/{race}/{gender}/{source}"
        assert t1 and t2        # never empty: "-" when there is nothing
        listed.add(Path(typ, race, gender, source, filename))
    by_file = defaultdict(list)
    for r in rows:
        by_file[(r[9], r[8])].append(r)
    for (_, filename), same in by_file.items():    # a file listed twice matches one of its two methods
        assert any(re.fullmatch(p, filename) for r in same for p in PATTERNS[r[3]]), filename
    present = {p.relative_to(base) for p in base.rglob("*.mp4")}
    assert present == listed
    assert {p.name for p in base.iterdir()} == {"meta_data.csv"} | {t for t, _ in CATEGORY.values()}
    # exactly one real video per source id, and every id in every category
    reals = Counter(r[0] for r in rows if r[4] == "A")
    assert set(reals.values()) == {1}
    for source in reals:
        real_dir = next(base.glob(f"RealVideo-RealAudio/*/*/{source}"))
        assert len(list(real_dir.glob("*.mp4"))) == 1
        assert {r[4] for r in rows if r[0] == source} == set("ABCD")
    assert {r[3] for r in rows if r[4] == "C"} == CATEGORY["C"][1]
    assert {r[3] for r in rows if r[4] == "D"} == CATEGORY["D"][1]
    # messy targets as in the release
    targets = {r[1] for r in rows} | {r[2] for r in rows}
    assert "fake.mp4" in targets and "-" in targets and any(re.fullmatch(r"\d+(\.mp4)?", t) for t in targets)
    # FakeVideo-FakeAudio files listed twice with conflicting methods
    dups = [v for v in by_file.values() if len(v) > 1]
    assert dups and all(len(v) == 2 and {r[4] for r in v} == {"D"} and {r[3] for r in v} == {"wav2lip",
                                                                                              "faceswap-wav2lip"}
                        for v in dups)
    # several race x gender cells, several ids per cell: identity-disjoint folds are possible
    cells = Counter((r[6], r[7]) for r in rows if r[4] == "A")
    assert len(cells) >= 5 and min(cells.values()) >= 2


def test_media_streams(root):
    for path in sorted((root / "FakeAVCeleb_v1.2").rglob("*.mp4")):
        p = probe(path)
        assert (p.vcodec, p.pix_fmt, p.width, p.height, p.rate) == ("h264", "yuv420p", 224, 224, 25), path
        assert (p.acodec, p.sample_rate, p.channels) == ("aac", 16000, 1), path
        assert 1.9 < p.duration < 2.2, path


def test_real_videos_show_a_face_speaking_real_speech(root):
    base = root / "FakeAVCeleb_v1.2"
    prov = read_provenance(root)
    reals = sorted(base.glob("RealVideo-RealAudio/*/*/*/*.mp4"))
    assert reals
    for path in reals:
        kind, src = prov[str(path.relative_to(root))]
        assert kind == "real" and src["other_speech"] == ""
        speech = src["speech"].split(",")
        assert all(s.startswith(REAL_SPEECH_ROOTS) for s in speech), speech
        frames, fps, audio, sr = decode(path)
        boxes = face_boxes(frames)
        assert detection_rate(boxes) >= 0.9, path
        sync = mouth_sync(frames, boxes, fps, audio, sr)
        assert sync[0] > 0.6 and abs(max(sync, key=sync.get)) <= 1, (path, sync)
        assert contains_recording(audio, sr, Path(speech[0])) > 0.9, path
    # fakes of the real audio category keep it; fake-audio categories do not carry it
    for path in sorted(base.glob("RealVideo-FakeAudio/*/*/*/*.mp4"))[:3]:
        kind, src = prov[str(path.relative_to(root))]
        _, _, audio, sr = decode(path)
        real_speech = prov[str(next(path.parents[4].glob(f"RealVideo-RealAudio/*/*/{path.parent.name}/*.mp4"))
                                .relative_to(root))][1]["speech"].split(",")
        assert contains_recording(audio, sr, Path(real_speech[0])) < 0.9, path


def test_mini_test_list(root):
    rows = read_meta(root / "FakeAVCeleb_v1.2" / "meta_data.csv")
    real = (root / "lists" / "fakeavceleb_test_real.txt").read_text().splitlines()
    fake = (root / "lists" / "fakeavceleb_test_fake.txt").read_text().splitlines()
    by_flat = {flat(r): r for r in rows}
    assert len(real) == len(fake) > 0 and all(n in by_flat for n in real + fake)
    assert all(by_flat[n][4] == "A" for n in real)
    assert {by_flat[n][5] for n in fake} <= {"FakeVideo-FakeAudio", "FakeVideo-RealAudio", "RealVideo-FakeAudio"}
    test_ids = {by_flat[n][0] for n in real}
    assert {by_flat[n][0] for n in fake} == test_ids and len(test_ids) == len(real)
    # chosen the published way: first k ids per cell (sorted), type then file by random.seed(23)
    k = len(real) // len({(by_flat[n][6], by_flat[n][7]) for n in real})
    pick, expected_real, expected_fake = random.Random(23), [], []
    for race in RACES:
        for gender in GENDERS:
            for source in sorted({r[0] for r in rows if r[6] == race and r[7] == gender})[:k]:
                expected_real.append(next(flat(r) for r in rows if r[0] == source and r[4] == "A"))
                typ = pick.choice(["FakeVideo-FakeAudio", "FakeVideo-RealAudio", "RealVideo-FakeAudio"])
                files = sorted({r[8] for r in rows if r[0] == source and r[5] == typ})
                name = pick.choice(files)
                expected_fake.append(next(flat(r) for r in rows if r[0] == source and r[5] == typ and r[8] == name))
    assert (real, fake) == (expected_real, expected_fake)
    # identity-disjoint: no face of a test id is the source face of a training id
    prov = read_provenance(root)
    face = {r[0]: prov[f"FakeAVCeleb_v1.2/{r[5]}/{r[6]}/{r[7]}/{r[0]}/{r[8]}"][1]["face"] for r in rows if r[4] == "A"}
    train_ids = set(face) - test_ids
    assert train_ids and not {face[i] for i in test_ids} & {face[i] for i in train_ids}
    assert len(set(face.values())) == len(face)          # one real person (photograph) per source id


def test_same_seed_same_metadata(root, tmp_path):
    from avdf.data.mini.fakeavceleb import write_metadata_only

    write_metadata_only(tmp_path, size="tiny", seed=0)
    for f in ("FakeAVCeleb_v1.2/meta_data.csv", "lists/fakeavceleb_test_real.txt", "lists/fakeavceleb_test_fake.txt"):
        assert (tmp_path / f).read_bytes() == (root / f).read_bytes(), f
    write_metadata_only(tmp_path / "seed1", size="tiny", seed=1)
    assert (tmp_path / "seed1/FakeAVCeleb_v1.2/meta_data.csv").read_bytes() != \
        (root / "FakeAVCeleb_v1.2/meta_data.csv").read_bytes()
