"""FakeAVCeleb data preparation (egs/fakeavceleb/av1/local/data_prep.py): the CSV quirks,
duplicates, path rebuilding, splits and bad rows, on a synthetic meta_data.csv built
here with the real file's structure; and, when AVDF_FAKEAVCELEB_META points at the real
meta_data.csv, the published counts on a tree of placeholder files built from it."""
from __future__ import annotations

import csv
import os
import random
from collections import Counter
from pathlib import Path

import pytest

from avdf.data.datadir import read_kv, validate_data_dir
from tests.recipe_local import load_local

RECIPE = Path(__file__).resolve().parents[1] / "egs" / "fakeavceleb" / "av1"
RACES = ["African", "Asian (East)", "Asian (South)", "Caucasian (American)", "Caucasian (European)"]
TYPES = {"A": "RealVideo-RealAudio", "B": "RealVideo-FakeAudio", "C": "FakeVideo-RealAudio",
         "D": "FakeVideo-FakeAudio"}


dp = load_local(RECIPE / "local" / "data_prep.py", "fakeavceleb_data_prep")


def synthetic_rows(ids_per_cell: int = 3, seed: int = 0) -> tuple[list[list[str]], int]:
    """Rows with the real file's structure: 10 race x gender cells, one real video per
    identity, the file-name pattern of each method, messy targets, and FVFA files listed
    twice with conflicting methods (faceswap-wav2lip first, then wav2lip, as in v1.2).
    Returns the rows and the number of duplicated files."""
    rng = random.Random(seed)
    rows, dups = [], []
    n = 0
    for race in RACES:
        for gender in ("men", "women"):
            for _ in range(ids_per_cell):
                n += 1
                src, other, third = f"id{n:05d}", f"id{n + 500:05d}", f"id{n + 900:05d}"
                clip = f"{rng.randrange(1, 500):05d}"
                d = lambda cat: f"FakeAVCeleb/{TYPES[cat]}/{race}/{gender}/{src}"  # noqa: E731
                rows += [
                    [src, "-", "-", "real", "A", TYPES["A"], race, gender, f"{clip}.mp4", d("A")],
                    [src, "fake.mp4", "-", "rtvc", "B", TYPES["B"], race, gender, f"{clip}_fake.mp4", d("B")],
                    [src, "1.mp4", "-", "faceswap", "C", TYPES["C"], race, gender, f"{clip}_1.mp4", d("C")],
                    [src, other, "-", "fsgan", "C", TYPES["C"], race, gender, f"{clip}_{other}_UHoM-XL_Sj.mp4", d("C")],
                    [src, other, "-", "wav2lip", "C", TYPES["C"], race, gender, f"{clip}_{other}_wavtolip.mp4", d("C")],
                    [src, "10", "-", "faceswap-wav2lip", "D", TYPES["D"], race, gender,
                     f"{clip}_10_{third}_wavtolip.mp4", d("D")],
                    [src, other, third, "fsgan-wav2lip", "D", TYPES["D"], race, gender,
                     f"{clip}_{other}_Egh9mW5y4_{third}_wavtolip.mp4", d("D")],
                ]
                wav2lip_d = [src, third, "-", "wav2lip", "D", TYPES["D"], race, gender,
                             f"{clip}_{third}_wavtolip.mp4", d("D")]
                if n % 4 == 0:  # listed twice: first with the wrong method
                    rows.append([*wav2lip_d[:3], "faceswap-wav2lip", *wav2lip_d[4:]])
                    dups.append(wav2lip_d)
                else:
                    rows.append(wav2lip_d)
    return rows + dups, len(dups)


def write_meta(path: Path, rows: list[list[str]], header: str = "quirk", crlf: bool = False) -> None:
    head = {"quirk": "source,target1,target2,method,category,type,race,gender,path,",
            "filename": "source,target1,target2,method,category,type,race,gender,filename,path"}[header]
    nl = "\r\n" if crlf else "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        f.write(head + nl)
        w = csv.writer(f, lineterminator=nl)
        w.writerows(rows)


def build_tree(root: Path, rows: list[list[str]], skip: int = 0) -> None:
    """Placeholder files at the rebuilt paths (the last ``skip`` distinct files left out)."""
    paths = list(dict.fromkeys(root / r[5] / r[6] / r[7] / r[0] / r[8] for r in rows))
    for p in paths[:len(paths) - skip]:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.touch()


def flat(r: list[str]) -> str:
    return f"{r[5]}-{r[6].replace(' ', '').replace('(', '').replace(')', '')}-{r[7]}-{r[0]}_{r[8]}"


def write_lists(tmp: Path, rows: list[list[str]]) -> tuple[Path, Path]:
    """A mini 70/70-style list: the first identity of each cell, its real video and one fake."""
    real, fake, seen = [], [], set()
    for r in rows:
        cell = (r[6], r[7])
        if r[4] == "A" and cell not in seen:
            seen.add(cell)
            real.append(r)
            fake.append(next(x for x in rows if x[0] == r[0] and x[4] == "B"))
    (tmp / "real.txt").write_text("".join(flat(r) + "\n" for r in real))
    (tmp / "fake.txt").write_text("".join(flat(r) + "\n" for r in fake))
    return tmp / "real.txt", tmp / "fake.txt"


@pytest.fixture
def corpus(tmp_path):
    rows, n_dup = synthetic_rows()
    root = tmp_path / "FakeAVCeleb_v1.2"
    write_meta(root / "meta_data.csv", rows, header="quirk", crlf=True)
    build_tree(root, rows)
    real, fake = write_lists(tmp_path, rows)
    return root, rows, n_dup, real, fake


def test_header_variants_crlf_and_position(tmp_path):
    rows, _ = synthetic_rows(1)
    for header in ("quirk", "filename"):
        for crlf in (False, True):
            p = tmp_path / f"{header}{crlf}" / "meta_data.csv"
            write_meta(p, rows, header, crlf)
            parsed = dp.read_meta(p)
            assert len(parsed) == len(rows)
            r0 = parsed[0]
            assert (r0.filename, r0.line) == (rows[0][8], 2)
            assert r0.rel_path == Path(TYPES["A"], rows[0][6], rows[0][7], rows[0][0], rows[0][8])
            assert not r0.filename.endswith("\r") and not r0.dirpath.endswith("\r")


def test_duplicates_keep_the_method_of_the_file_name(corpus):
    root, rows, n_dup, *_ = corpus
    kept, report = dp.dedup(dp.read_meta(root / "meta_data.csv"))
    assert len(report) == n_dup > 0
    assert len(kept) == len(rows) - n_dup
    for keep, dropped, why in report:
        assert keep.method == "wav2lip" and [d.method for d in dropped] == ["faceswap-wav2lip"]
        assert keep.line > dropped[0].line and "file-name pattern" in why


def test_method_from_filename_patterns():
    cases = {("00109.mp4", "A"): "real", ("00109_fake.mp4", "B"): "rtvc", ("00109_1.mp4", "C"): "faceswap",
             ("00160_id02005_7_Egh9mW5y4_faceswap.mp4", "C"): "faceswap",
             ("00109_id00173_UHoMXLSjlDo.mp4", "C"): "fsgan", ("00109_id00166_wavtolip.mp4", "C"): "wav2lip",
             ("00109_10_id00476_wavtolip.mp4", "D"): "faceswap-wav2lip",
             ("00010_id01637_5VjcPZm8knM_faceswap_id00166_wavtolip.mp4", "D"): "faceswap-wav2lip",
             ("00109_id00173_UHoMXLSjlDo_id00475_wavtolip.mp4", "D"): "fsgan-wav2lip",
             ("00109_id00391_wavtolip.mp4", "D"): "wav2lip"}
    for (name, cat), method in cases.items():
        assert dp.method_from_filename(name, cat) == method, name


def test_prepare_data_dirs(corpus, tmp_path):
    root, rows, n_dup, real, fake = corpus
    data = tmp_path / "data"
    counts = dp.prepare(root, data, real, fake, nfolds=3, seed=7, fold_subset="balanced", valid_fraction=0.2)
    n_files = len(rows) - n_dup
    assert counts["all"] == n_files
    validate_data_dir(data / "all", check_files=True)
    scp = read_kv(data / "all" / "video.scp")
    assert all(" " not in u for u in scp) and all(Path(p).is_file() for p in scp.values())
    # paths rebuilt from the columns, not from the "FakeAVCeleb/" directory column
    assert all(p.startswith(str(root.resolve()) + "/") for p in scp.values())
    cat = read_kv(data / "all" / "utt2category")
    lab, la, lv = (read_kv(data / "all" / n) for n in ("utt2label", "utt2label_audio", "utt2label_video"))
    attack = read_kv(data / "all" / "utt2attack")
    for u, c in cat.items():
        assert lab[u] == ("bonafide" if c == "A" else "spoof")
        assert la[u] == ("spoof" if c in "BD" else "bonafide")
        assert lv[u] == ("spoof" if c in "CD" else "bonafide")
        assert (attack[u] == "-") == (c == "A")
    assert Counter(cat.values()) == Counter({"A": 30, "B": 30, "C": 90, "D": 90})
    assert Counter(attack.values())["wav2lip"] == 60  # the duplicated files kept as wav2lip
    assert not (data / "all" / "bad_utts").exists()
    dup_report = (data / "local" / "duplicates.tsv").read_text().splitlines()
    assert len(dup_report) == n_dup + 1

    # 70/70-style test set: resolved, and no test identity in training
    test_utts = read_kv(data / "test" / "utt2spk")
    assert len(test_utts) == 20 and Counter(read_kv(data / "test" / "utt2label").values())["bonafide"] == 10
    train_spk = set(read_kv(data / "train" / "utt2spk").values())
    assert not set(test_utts.values()) & train_spk
    assert counts["train"] + sum(1 for u, s in read_kv(data / "all" / "utt2spk").items()
                                 if s in set(test_utts.values())) == n_files

    # identity-disjoint folds covering every identity once as test, deterministic from the seed
    all_spk = set(read_kv(data / "all" / "utt2spk").values())
    test_spks = []
    for k in (1, 2, 3):
        parts = {p: set(read_kv(data / f"fold{k}" / p / "utt2spk").values()) for p in ("train", "valid", "test")}
        assert not parts["train"] & parts["test"] and not parts["valid"] & parts["test"]
        assert not parts["train"] & parts["valid"]
        assert parts["train"] | parts["valid"] | parts["test"] == all_spk
        test_spks.append(parts["test"])
        # balanced: one video per identity and category
        per = Counter((read_kv(data / f"fold{k}" / "test" / "utt2spk")[u], c)
                      for u, c in read_kv(data / f"fold{k}" / "test" / "utt2category").items())
        assert set(per.values()) == {1}
    assert set().union(*test_spks) == all_spk and sum(map(len, test_spks)) == len(all_spk)
    selected = set(read_kv(data / "selected" / "utt2spk"))
    assert set(test_utts) <= selected and set(read_kv(data / "fold1" / "train" / "utt2spk")) <= selected
    again = tmp_path / "again"
    dp.prepare(root, again, real, fake, nfolds=3, seed=7, fold_subset="balanced", valid_fraction=0.2)
    assert (again / "fold2" / "test" / "utt2spk").read_text() == (data / "fold2" / "test" / "utt2spk").read_text()
    other = tmp_path / "other"
    dp.prepare(root, other, real, fake, nfolds=3, seed=8, fold_subset="balanced", valid_fraction=0.2)
    assert any((other / f"fold{k}" / "test" / "utt2spk").read_text()
               != (data / f"fold{k}" / "test" / "utt2spk").read_text() for k in (1, 2, 3))


def test_missing_files_go_to_bad_utts(tmp_path):
    rows, n_dup = synthetic_rows()
    root = tmp_path / "db"
    write_meta(root / "meta_data.csv", rows)
    build_tree(root, rows, skip=2)  # the last two distinct files (FVFA wav2lip) are missing
    real, fake = write_lists(tmp_path, rows)
    counts = dp.prepare(root, tmp_path / "data", real, fake, 2, 0, "all", 0.2)
    bad = read_kv(tmp_path / "data" / "all" / "bad_utts")
    assert len(bad) == 2 and counts["all"] == len(rows) - n_dup - 2
    assert all("does not exist" in why and "meta_data.csv:" in why for why in bad.values())
    assert not set(bad) & set(read_kv(tmp_path / "data" / "all" / "video.scp"))


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r[:9], "expected 10 comma-separated fields"),
    (lambda r: [*r[:4], "E", *r[5:]], "category 'E'"),
    (lambda r: [*r[:4], "B", *r[5:]], "does not match category B"),
    (lambda r: [*r[:8], "../../etc.mp4", r[9]], "would leave the dataset root"),
    (lambda r: [r[0] + " x", *r[1:]], "contains whitespace"),
])
def test_bad_rows_name_the_line(tmp_path, mutate, message):
    rows, _ = synthetic_rows(1)
    rows[4] = mutate(rows[4])
    write_meta(tmp_path / "meta_data.csv", rows)
    with pytest.raises(dp.MetaError, match=message) as e:
        dp.read_meta(tmp_path / "meta_data.csv")
    assert "meta_data.csv:6:" in str(e.value)


def test_bad_lists(corpus, tmp_path):
    root, rows, _, real, fake = corpus
    (tmp_path / "unknown.txt").write_text(real.read_text() + "RealVideo-RealAudio-African-men-id99999_00001.mp4\n")
    with pytest.raises(dp.MetaError, match=r"unknown.txt:11: .* is not a video of meta_data.csv"):
        dp.prepare(root, tmp_path / "d1", tmp_path / "unknown.txt", fake, 2, 0, "all", 0.2)
    with pytest.raises(dp.MetaError, match=r"fake.txt:1: .* is category B, but this is the list of real"):
        dp.prepare(root, tmp_path / "d2", fake, fake, 2, 0, "all", 0.2)


def test_command_line(corpus, tmp_path):
    root, rows, n_dup, real, fake = corpus
    rc = dp.main(["--db_root", str(root), "--data", str(tmp_path / "data"), "--test_real", str(real),
                  "--test_fake", str(fake), "--nfolds", "2"])
    assert rc == 0 and (tmp_path / "data" / "fold2" / "valid" / "video.scp").is_file()
    assert dp.main(["--db_root", str(tmp_path / "nowhere"), "--data", str(tmp_path / "d"), "--test_real",
                    str(real), "--test_fake", str(fake)]) == 1


REAL_META = os.environ.get("AVDF_FAKEAVCELEB_META")


@pytest.mark.skipif(not REAL_META, reason="set AVDF_FAKEAVCELEB_META to the real FakeAVCeleb v1.2 "
                                          "meta_data.csv (21,566 rows) to check the published counts")
def test_real_meta_data(tmp_path):
    """Placeholder files at every rebuilt path of the real meta_data.csv, then data prep:
    the counts DATASETS.md §5 gives, and the published 70/70 list resolved."""
    with open(REAL_META, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))[1:]
    assert len(rows) == 21566
    root = tmp_path / "FakeAVCeleb_v1.2"
    build_tree(root, rows)
    lists = RECIPE / "local" / "lists"
    counts = dp.prepare(root, tmp_path / "data", lists / "fakeavceleb_test_real.txt",
                        lists / "fakeavceleb_test_fake.txt", 5, 0, "balanced", 0.1, meta=Path(REAL_META))
    data = tmp_path / "data"
    assert counts["all"] == 21544 and not (data / "all" / "bad_utts").exists()
    cat = Counter(read_kv(data / "all" / "utt2category").values())
    assert cat == Counter({"A": 500, "B": 500, "C": 9709, "D": 10835})
    assert Counter(read_kv(data / "all" / "utt2label").values())["bonafide"] == 500
    assert all(Path(p).is_file() for p in read_kv(data / "all" / "video.scp").values())
    assert counts["test"] == 140
    test_spk = set(read_kv(data / "test" / "utt2spk").values())
    assert len(test_spk) == 70 and not test_spk & set(read_kv(data / "train" / "utt2spk").values())
    assert Counter(read_kv(data / "test" / "utt2category").values()) == Counter({"A": 70, "B": 26, "C": 21, "D": 23})
