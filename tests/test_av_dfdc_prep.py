"""Stage 1 of egs/dfdc/av1: DFDC metadata -> data dirs (local/prepare_dfdc.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from avdf.data.datadir import read_kv, validate_data_dir
from tests.recipe_local import load_local

RECIPE = Path(__file__).resolve().parents[1] / "egs" / "dfdc" / "av1"
LISTS = RECIPE / "local" / "lists"


prep = load_local(RECIPE / "local" / "prepare_dfdc.py", "prepare_dfdc")


def _names(name: str) -> list[str]:
    return (LISTS / name).read_text().split()


def test_astrid_subset_counts(tmp_path):
    """A DFDC tree whose metadata holds the published lists' names (zero-byte mp4s):
    --subset astrid gives 15,300 train (7,650 real) and 2,700 test (407 real)."""
    reals = _names("dfdc_astrid_train_real.txt") + _names("dfdc_astrid_test_real.txt")
    fakes = _names("dfdc_astrid_train_fake.txt") + _names("dfdc_astrid_test_fake.txt")
    extra_real = [f"zzextra{i:03d}.mp4" for i in range(20)]   # videos outside the lists -> dev
    extra_fake = [f"zzxfake{i:03d}.mp4" for i in range(20)]
    entries = [(n, {"label": "REAL", "split": "train"}) for n in reals + extra_real]
    entries += [(n, {"label": "FAKE", "split": "train", "original": reals[i % len(reals)]}) for i, n in enumerate(fakes)]
    entries += [(n, {"label": "FAKE", "split": "train", "original": extra_real[i]}) for i, n in enumerate(extra_fake)]
    db = tmp_path / "dfdc"
    for p in range(6):  # six parts; some with the extra unzip level and zero-padded names
        folder = db / f"dfdc_train_part_{p}" if p % 2 else db / f"dfdc_train_part_{p:02d}" / f"dfdc_train_part_{p}"
        folder.mkdir(parents=True)
        # fakes stay in their original's part, as in DFDC
        chunk = dict(e for e in entries if hash_part(e, reals) == p)
        (folder / "metadata.json").write_text(json.dumps(chunk))
        for name in chunk:
            (folder / name).touch()
    assert prep.main(["--db_root", str(db), "--out", str(tmp_path / "data"), "--subset", "astrid"]) == 0
    train = read_kv(tmp_path / "data" / "train" / "utt2label")
    test = read_kv(tmp_path / "data" / "test" / "utt2label")
    assert len(train) == 15300 and sum(v == "bonafide" for v in train.values()) == 7650
    assert len(test) == 2700 and sum(v == "bonafide" for v in test.values()) == 407
    assert not set(train) & set(test)
    dev = validate_data_dir(tmp_path / "data" / "dev")
    assert dev and all(u.startswith("zz") for u in dev)
    for s in ("train", "test"):
        validate_data_dir(tmp_path / "data" / s, check_files=True)
    utt2spk = read_kv(tmp_path / "data" / "train" / "utt2spk")
    fake = _names("dfdc_astrid_train_fake.txt")[0][:-4]
    assert utt2spk[fake] == read_kv(tmp_path / "data" / "train" / "utt2original")[fake] != "-"


def hash_part(entry, reals) -> int:
    name, meta = entry
    return sum(map(ord, meta.get("original", name))) % 6


def _tree(tmp_path: Path, meta: dict | str, test_rows: list[str] | None = None, files: bool = True) -> Path:
    db = tmp_path / "db"
    part = db / "dfdc_train_part_3"
    part.mkdir(parents=True)
    (part / "metadata.json").write_text(meta if isinstance(meta, str) else json.dumps(meta))
    if files and isinstance(meta, dict):
        for name in meta:
            if "/" not in name:
                (part / name).touch()
    if test_rows is not None:
        (db / "test").mkdir()
        (db / "test" / "labels.csv").write_text("filename,label\n" + "".join(r + "\n" for r in test_rows))
        for r in test_rows:
            (db / "test" / r.split(",")[0]).touch()
    return db


META = {"aaaaaaaaaa.mp4": {"label": "REAL", "split": "train"},
        "bbbbbbbbbb.mp4": {"label": "FAKE", "split": "train", "original": "aaaaaaaaaa.mp4"},
        "cccccccccc.mp4": {"label": "REAL", "split": "train", "original": None},
        "dddddddddd.mp4": {"label": "FAKE", "split": "train", "original": "cccccccccc.mp4"}}


def test_default_split_groups_identities_and_reads_test_labels(tmp_path, caplog):
    db = _tree(tmp_path, META, ["eeeeeeeeee.mp4,0", "ffffffffff.mp4,1"])
    (db / "mini_fake_types.csv").write_text(
        "filename,folder,label,attack,video\nffffffffff.mp4,test,FAKE,lipsync,lipsync\neeeeeeeeee.mp4,test,REAL,-,-\n"
        "bbbbbbbbbb.mp4,dfdc_train_part_3,FAKE,faceswap,fsgan\ndddddddddd.mp4,dfdc_train_part_3,FAKE,local-revocode,-\n")
    out = tmp_path / "data"
    assert prep.main(["--db_root", str(db), "--out", str(out), "--dev_ratio", "0.5"]) == 0
    train, dev = read_kv(out / "train" / "utt2spk"), read_kv(out / "dev" / "utt2spk")
    assert len(train) == 2 and len(dev) == 2 and len(set(train.values())) == 1 and len(set(dev.values())) == 1
    assert read_kv(out / "test" / "utt2label") == {"eeeeeeeeee": "bonafide", "ffffffffff": "spoof"}
    assert read_kv(out / "test" / "utt2attack") == {"eeeeeeeeee": "-", "ffffffffff": "lipsync"}
    attacks = {**read_kv(out / "train" / "utt2attack"), **read_kv(out / "dev" / "utt2attack")}
    assert attacks == {"aaaaaaaaaa": "-", "bbbbbbbbbb": "faceswap", "cccccccccc": "-", "dddddddddd": "local-revocode"}
    for s in ("train", "dev", "test"):
        validate_data_dir(out / s, check_files=True)


@pytest.mark.parametrize("meta,match", [
    ("{not json", r"metadata.json: not valid JSON: .* \(line 1"),
    ({"../../etc/x.mp4": {"label": "REAL"}}, r"key '../../etc/x.mp4': .* leaves the dataset root"),
    ({"aaaaaaaaaa.mp4": {"label": "FAKE", "original": "../../../x.mp4"}}, r"original: .* leaves the dataset root"),
    ({"aaaaaaaaaa.mp4": {"label": "fake"}}, r"key 'aaaaaaaaaa.mp4': label 'fake' is not REAL or FAKE"),
    ([1, 2], r"expected one JSON object"),
])
def test_bad_metadata_is_a_clear_error(tmp_path, capsys, meta, match):
    db = _tree(tmp_path, meta if isinstance(meta, (str, dict)) else json.dumps(meta), ["eeeeeeeeee.mp4,0"])
    assert prep.main(["--db_root", str(db), "--out", str(tmp_path / "data")]) == 1
    err = capsys.readouterr().err
    import re
    assert re.search(match, err), err
    assert "dfdc_train_part_3/metadata.json" in err


def test_bad_test_labels_and_missing_files(tmp_path, capsys):
    db = _tree(tmp_path, META, ["eeeeeeeeee.mp4,2"])
    assert prep.main(["--db_root", str(db), "--out", str(tmp_path / "d1")]) == 1
    assert "test/labels.csv:2: expected '<name>.mp4,0|1'" in capsys.readouterr().err
    db = _tree(tmp_path / "b", META, ["eeeeeeeeee.mp4,0"])
    (db / "dfdc_train_part_3" / "bbbbbbbbbb.mp4").unlink()
    assert prep.main(["--db_root", str(db), "--out", str(tmp_path / "d2"), "--dev_ratio", "0.01"]) == 0
    skipped = read_kv(tmp_path / "d2" / "local" / "skipped")
    assert list(skipped) == ["bbbbbbbbbb"] and "file does not exist" in skipped["bbbbbbbbbb"]
    utts = set(read_kv(tmp_path / "d2" / "train" / "video.scp")) | set(read_kv(tmp_path / "d2" / "dev" / "video.scp"))
    assert utts == {"aaaaaaaaaa", "cccccccccc", "dddddddddd"}
    # the same video name in two places is an error naming both
    dup = _tree(tmp_path / "c", META, ["aaaaaaaaaa.mp4,0"])
    assert prep.main(["--db_root", str(dup), "--out", str(tmp_path / "d3")]) == 1
    assert "also listed in" in capsys.readouterr().err


def test_a_fake_whose_original_is_listed_nowhere_is_reported(tmp_path, capfd):
    meta = {**META, "gggggggggg.mp4": {"label": "FAKE", "split": "train", "original": "zzzzzzzzzz.mp4"}}
    db = _tree(tmp_path, meta, ["eeeeeeeeee.mp4,0", "ffffffffff.mp4,1"])
    assert prep.main(["--db_root", str(db), "--out", str(tmp_path / "data"), "--dev_ratio", "0.5"]) == 0
    assert "1 fakes name an original that no metadata.json here lists (first: gggggggggg.mp4 -> zzzzzzzzzz.mp4" \
        in capfd.readouterr().err
