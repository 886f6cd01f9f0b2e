"""The tiny mini DFDC, read back by an independent reader written from DATASETS.md §4:
layout, metadata.json and labels.csv by position, every file listed and present, H.264 +
AAC streams, detectable faces, real speech in sync with the mouth in real videos, every
fake type present, test identities unseen in training, byte-identical metadata and clips per seed."""
from __future__ import annotations

import csv
import json
import re
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest

from tests.av_checks import (REAL_SPEECH_ROOTS, contains_recording, decode, detection_rate, face_boxes, mouth_sync,
                             probe, read_provenance)

NAME = re.compile(r"^[a-z]{10}\.mp4$")
PART = re.compile(r"^dfdc_train_part_(0|[1-9][0-9]*)$")
ATTACKS = {"faceswap", "lipsync", "audioswap", "revocode", "both"}


@pytest.fixture(scope="module")
def root(mini_corpus) -> Path:
    return mini_corpus("dfdc")


def read_parts(root: Path) -> dict[str, dict]:
    """Every part's metadata.json (a JSON object keyed by file name)."""
    parts = {}
    for d in sorted(root.iterdir()):
        if d.is_dir() and d.name.startswith("dfdc_train_part"):
            assert PART.match(d.name), f"{d.name}: part folders are dfdc_train_part_N, N not zero-padded"
            meta = json.loads((d / "metadata.json").read_text(encoding="utf-8"))
            assert isinstance(meta, dict)
            parts[d.name] = meta
    return parts


def read_labels(root: Path) -> dict[str, int]:
    with open(root / "test" / "labels.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["filename", "label"]
    out = {}
    for i, row in enumerate(rows[1:], 2):
        assert len(row) == 2 and row[1] in ("0", "1"), f"labels.csv:{i}: {row}"
        assert row[0] not in out
        out[row[0]] = int(row[1])
    return out


def read_types(root: Path) -> list[list[str]]:
    """``mini_fake_types.csv``, the documented addition: the manipulation of every clip."""
    with open(root / "mini_fake_types.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == "filename,folder,label,attack,video,audio,segment,identity,donor,voice,original".split(",")
    assert all(len(r) == 11 for r in rows[1:])
    return rows[1:]


def test_layout_and_metadata(root):
    parts = read_parts(root)
    numbers = sorted(int(p.rsplit("_", 1)[1]) for p in parts)
    assert numbers == list(range(len(numbers))) and len(numbers) >= 2
    assert {p.name for p in root.iterdir() if p.is_dir()} == set(parts) | {"test"}
    seen: set[str] = set()
    for part, meta in parts.items():
        files = {p.name for p in (root / part).iterdir()}
        assert files == set(meta) | {"metadata.json"}, f"{part}: listed and present files differ"
        for name, entry in meta.items():
            assert NAME.match(name) and name not in seen
            seen.add(name)
            assert set(entry) <= {"label", "split", "original"} and entry["split"] == "train"
            if entry["label"] == "REAL":
                assert "original" not in entry
            else:
                assert entry["label"] == "FAKE"
                assert meta[entry["original"]]["label"] == "REAL", f"{part}/{name}: original not a REAL of the part"
        assert Counter(e["label"] for e in meta.values()).keys() == {"REAL", "FAKE"}
    labels = read_labels(root)
    assert {p.name for p in (root / "test").iterdir()} == set(labels) | {"labels.csv"}
    assert all(NAME.match(n) and n not in seen for n in labels) and set(labels.values()) == {0, 1}


def test_fake_types_side_file(root):
    parts, labels = read_parts(root), read_labels(root)
    rows = read_types(root)
    assert len(rows) == sum(len(m) for m in parts.values()) + len(labels)
    for name, folder, label, attack, video, audio, segment, identity, donor, voice, original in rows:
        truth = labels[name] if folder == "test" else int(parts[folder][name]["label"] == "FAKE")
        assert truth == (label == "FAKE") and (attack == "-") == (label == "REAL")
        if folder != "test" and label == "FAKE":
            assert parts[folder][name]["original"] == original
        if attack.startswith("local-"):
            start, end = map(float, segment.split("-"))
            assert 0.5 <= end - start <= 2.0 and start > 0
        if attack in ("faceswap", "both", "local-faceswap"):
            assert video in ("faceswap", "fsgan") and donor not in ("-", identity)
    attacks = {r[3] for r in rows} - {"-"}
    assert ATTACKS <= attacks and any(a.startswith("local-") for a in attacks), attacks
    train_ids = {r[7] for r in rows if r[1] != "test"}
    test_ids = {r[7] for r in rows if r[1] == "test"}
    assert test_ids and not train_ids & test_ids


def test_media_streams(root):
    for path in sorted(root.glob("*/*.mp4")):
        p = probe(path)
        assert (p.vcodec, p.pix_fmt, p.width, p.height) == ("h264", "yuv420p", 320, 240), path
        assert p.rate == Fraction(30000, 1001), path
        assert (p.acodec, p.sample_rate, p.channels) == ("aac", 48000, 1), path
        assert 1.9 < p.duration < 2.2, path


def test_real_videos_show_a_face_speaking_real_speech(root):
    prov = read_provenance(root)
    reals = [r for r in read_types(root) if r[2] == "REAL"]
    assert reals
    for name, folder, *_ in reals:
        kind, src = prov[f"{folder}/{name}"]
        assert kind == "real" and src["other_speech"] == ""
        speech = src["speech"].split(",")
        assert all(s.startswith(REAL_SPEECH_ROOTS) for s in speech), speech
        frames, fps, audio, sr = decode(root / folder / name)
        boxes = face_boxes(frames)
        assert detection_rate(boxes) >= 0.9, name
        sync = mouth_sync(frames, boxes, fps, audio, sr)
        assert sync[0] > 0.6 and abs(max(sync, key=sync.get)) <= 1, (name, sync)
        assert contains_recording(audio, sr, Path(speech[0])) > 0.9, name


def test_same_seed_same_metadata(root, tmp_path):
    from avdf.data.mini.dfdc import write_metadata_only

    write_metadata_only(tmp_path, size="tiny", seed=0)
    files = ["test/labels.csv", "mini_fake_types.csv"] + [f"{p}/metadata.json" for p in read_parts(root)]
    for f in files:
        assert (tmp_path / f).read_bytes() == (root / f).read_bytes(), f
    other = tmp_path / "seed1"
    write_metadata_only(other, size="tiny", seed=1)
    assert (other / "mini_fake_types.csv").read_bytes() != (root / "mini_fake_types.csv").read_bytes()



def test_same_seed_same_clips(root, tmp_path):
    """Clips rendered again in this process (other memory, other history than the generator's
    worker) are byte-identical to the corpus's: a face swap with WORLD-revocoded audio (x264
    and 8 kHz WORLD each gave other bytes from run to run before 2026-12-03) and a real clip."""
    import dataclasses

    from avdf.data.mini.avclips import render_clip
    from avdf.data.mini.dfdc import SIZES, _plan

    rows = {r[0]: r for r in read_types(root)}
    chosen = [n for n, r in rows.items() if r[5] == "world"][:2] + [n for n, r in rows.items() if r[2] == "REAL"][:1]
    assert len(chosen) == 3 and all(rows[n][4] in ("faceswap", "fsgan") for n in chosen[:2])
    specs = {Path(s.path).name: s for s in _plan(SIZES["tiny"], 0, root)[0]}
    for name in chosen:
        again = tmp_path / name
        render_clip(dataclasses.replace(specs[name], path=str(again)))
        assert again.read_bytes() == (root / rows[name][1] / name).read_bytes(), name

def test_sizes_plan(tmp_path):
    """Counts of the larger plans (metadata only, nothing rendered); a size the dataset
    lacks is a clear error."""
    import csv

    from avdf.bin.make_mini_corpus import main as make_main
    from avdf.data.mini.dfdc import write_metadata_only

    for size, (train_real, train_fake, test_real, test_fake) in {"small": (24, 72, 12, 24),
                                                                  "medium": (48, 144, 24, 48),
                                                                  "small24": (24, 72, 12, 24)}.items():
        write_metadata_only(tmp_path / size, size=size, seed=0)
        rows = list(csv.DictReader((tmp_path / size / "mini_fake_types.csv").open()))
        test = [r for r in rows if r["folder"] == "test"]
        train = [r for r in rows if r["folder"] != "test"]
        assert sum(r["label"] == "REAL" for r in train) == train_real, size
        assert sum(r["label"] == "FAKE" for r in train) == train_fake, size
        assert sum(r["label"] == "REAL" for r in test) == test_real, size
        assert sum(r["label"] == "FAKE" for r in test) == test_fake, size
        assert not {r["identity"] for r in test} & {r["identity"] for r in train}, size
        if size == "small24":  # small's videos, twice its identities
            assert len({r["identity"] for r in train}) == 24 and len({r["identity"] for r in test}) == 12
    assert make_main(["--dataset", "voxceleb", "--size", "medium", "--out", str(tmp_path / "vox")]) == 1
    assert not (tmp_path / "vox").exists()
