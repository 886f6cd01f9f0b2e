"""VoxCeleb data preparation (egs/voxceleb/local/prepare_data.py): trial counts on a
full-size Vox1-O list, the real metadata/list files when given, the meta files' quirks,
both VoxCeleb1 layouts, VoxCeleb2 m4a pipes, the training-pool rules and bad input."""
from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from avdf.data.datadir import read_kv, read_trials, validate_data_dir
from tests.recipe_local import load_local

ROOT = Path(__file__).resolve().parents[1]
prep = load_local(ROOT / "egs/voxceleb/local/prepare_data.py", "vox_prepare_data")

VOX1_META = "VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet\n" \
            "id10001\tA.J._Buckley\tm\tIreland\tdev\n" \
            "id10170\tCliff_Curtis\tm\tNew Zealand\tdev\n" \
            "id10270\tEartha_Kitt\tf\tUSA\ttest\n" \
            "id10300\tErnest_Borgnine\tm\tUSA\ttest\n"
VOX2_META = "\ufeffVoxCeleb2 ID,VGGFace2 ID,Gender,Set\nid00012 ,n000012 ,m ,dev \nid00017 ,n000017 ,f ,test \n"


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def _tree(root: Path, merged: bool = False, vox2: bool = True) -> Path:
    v1 = root / "voxceleb1"
    v1.mkdir(parents=True)
    (v1 / "vox1_meta.csv").write_text(VOX1_META)
    utts = {"dev": ["id10001/1zcIwhmdeo4/00001", "id10001/1zcIwhmdeo4/00002", "id10170/na8-QEFmj44/00003"],
            "test": ["id10270/x6uYqmx31kE/00001", "id10270/8jEAjG6SegY/00008", "id10300/ize_eiCFEg0/00003"]}
    for part, rels in utts.items():
        for rel in rels:
            _touch(v1 / ("wav" if merged else f"{part}/wav") / f"{rel}.wav")
    (v1 / "veri_test.txt").write_text(
        "1 id10270/x6uYqmx31kE/00001.wav id10270/8jEAjG6SegY/00008.wav\n"
        "0 id10270/x6uYqmx31kE/00001.wav id10300/ize_eiCFEg0/00003.wav\n")
    (v1 / "list_test_hard2.txt").write_text(
        "1 id10001/1zcIwhmdeo4/00001.wav id10001/1zcIwhmdeo4/00002.wav\r\n"
        "0 id10001/1zcIwhmdeo4/00001.wav id10170/na8-QEFmj44/00003.wav\r\n")
    if vox2:
        (root / "voxceleb2").mkdir()
        (root / "voxceleb2/vox2_meta.csv").write_text(VOX2_META)
        for rel in ("dev/aac/id00012/21Uxsk56VDQ/00001.m4a", "dev/aac/id00012/21Uxsk56VDQ/00002.m4a",
                    "test/aac/id00017/lvX8diWgriA/00187.m4a"):
            _touch(root / "voxceleb2" / rel)
    return root


def test_layout_trials_and_pool(tmp_path):
    db = _tree(tmp_path / "db")
    out = tmp_path / "data"
    assert prep.main(["--db_root", str(db), "--out", str(out)]) == 0
    for d in ("vox1_dev", "vox1_test", "vox2_dev", "vox2_test", "train", "vox1"):
        validate_data_dir(out / d, check_files=d.startswith("vox1"))
    wav = read_kv(out / "vox2_dev/wav.scp")
    assert list(wav) == ["id00012-21Uxsk56VDQ-00001", "id00012-21Uxsk56VDQ-00002"]
    assert wav["id00012-21Uxsk56VDQ-00001"].startswith("ffmpeg ") and wav["id00012-21Uxsk56VDQ-00001"].endswith("|")
    assert read_kv(out / "train/utt2spk") == read_kv(out / "vox2_dev/utt2spk")
    assert read_kv(out / "vox2_test/spk2gender") == {"id00017": "f"}
    assert read_trials(out / "vox1/trials_O") == [
        ("id10270-x6uYqmx31kE-00001", "id10270-8jEAjG6SegY-00008", "target"),
        ("id10270-x6uYqmx31kE-00001", "id10300-ize_eiCFEg0-00003", "nontarget")]
    assert read_trials(out / "vox1/trials_H")[0][2] == "target"  # CRLF list
    assert not (out / "vox1/trials_E").exists()
    lists = (out / "vox1/trial_lists").read_text()
    assert "veri_test.txt original" in lists and "list_test_hard2.txt cleaned" in lists
    assert len(read_kv(out / "vox1/wav.scp")) == 6  # O and H utterances from dev and test
    # cleaned O list wins when present
    (db / "voxceleb1/veri_test2.txt").write_text("0 id10270/8jEAjG6SegY/00008.wav id10300/ize_eiCFEg0/00003.wav\n")
    assert prep.main(["--db_root", str(db), "--out", str(out), "--trials", "O"]) == 0
    assert read_trials(out / "vox1/trials_O") == [("id10270-8jEAjG6SegY-00008", "id10300-ize_eiCFEg0-00003", "nontarget")]
    assert not (out / "vox1/trials_H").exists()


def test_merged_wav_layout_and_meta_mirrors(tmp_path):
    db = _tree(tmp_path / "db", merged=True, vox2=False)
    # a spreadsheet mirror: quoted lines, CRLF, BOM
    meta = "\ufeff" + "".join(f'"{ln}"\r\n' for ln in VOX1_META.splitlines())
    (db / "voxceleb1/vox1_meta.csv").write_text(meta, newline="")
    out = tmp_path / "data"
    assert prep.main(["--db_root", str(db), "--out", str(out), "--train_sets", "vox1_dev", "--trials", "O"]) == 0
    assert sorted(read_kv(out / "vox1_test/utt2spk").values()) == ["id10270", "id10270", "id10300"]
    assert read_kv(out / "vox1_dev/spk2gender") == {"id10001": "m", "id10170": "m"}
    assert len(read_trials(out / "vox1/trials_O")) == 2


def test_meta_parsing_variants(tmp_path):
    p = tmp_path / "m.csv"
    for text in (VOX1_META, VOX1_META.replace("\t", ","), VOX1_META.replace("\n", " \r\n")):
        p.write_text(text, newline="")
        meta = prep.read_meta(p)
        assert meta["id10170"] == ["Cliff_Curtis", "m", "New Zealand", "dev"]
    p.write_text(VOX2_META)
    g, s = prep.meta_gender_and_set(prep.read_meta(p))
    assert g == {"id00012": "m", "id00017": "f"} and s == {"id00012": "dev", "id00017": "test"}
    p.write_text(VOX1_META + "garbage\tline\tx\n")
    with pytest.raises(prep.PrepError, match=r"m.csv:6: expected a speaker id"):
        prep.read_meta(p)
    # a repeated row is harmless; a conflicting one names both lines
    row = next(ln for ln in VOX1_META.splitlines() if ln.startswith("id10170"))
    p.write_text(VOX1_META + row + "\n")
    assert prep.read_meta(p)["id10170"] == ["Cliff_Curtis", "m", "New Zealand", "dev"]
    p.write_text(VOX1_META + row.replace("\tm\t", "\tf\t") + "\n")
    with pytest.raises(prep.PrepError, match=r"m.csv:6: speaker id10170 again, with other fields than on line \d"):
        prep.read_meta(p)


def test_pool_rules_and_bad_input(tmp_path, capsys):
    db = _tree(tmp_path / "db")
    out = tmp_path / "data"
    assert prep.main(["--db_root", str(db), "--out", str(out), "--train_sets", "vox2_dev,vox1_dev"]) == 1
    assert "Vox1-H" in capsys.readouterr().err
    assert prep.main(["--db_root", str(db), "--out", str(out), "--train_sets", "vox1_test", "--trials", "O"]) == 1
    assert "Vox1-O test speakers" in capsys.readouterr().err
    assert prep.main(["--db_root", str(db), "--out", str(out), "--train_sets", "vox3_dev"]) == 1
    assert "unknown" in capsys.readouterr().err
    # a wrong label word, then a trial utterance without audio
    veri = db / "voxceleb1/veri_test.txt"
    good = veri.read_text()
    veri.write_text(good + "target id10270/x6uYqmx31kE/00001.wav id10300/ize_eiCFEg0/00003.wav\n")
    assert prep.main(["--db_root", str(db), "--out", str(out)]) == 1
    assert "veri_test.txt:3: label 'target'" in capsys.readouterr().err
    veri.write_text(good + "1 id10270/x6uYqmx31kE/00009.wav id10270/8jEAjG6SegY/00008.wav\n")
    assert prep.main(["--db_root", str(db), "--out", str(out)]) == 1
    assert "veri_test.txt:3: no audio for trial utterance id10270/x6uYqmx31kE/00009.wav" in capsys.readouterr().err
    assert prep.main(["--db_root", str(db), "--out", str(out), "--skip_bad", "true"]) == 0
    assert len(read_trials(out / "vox1/trials_O")) == 2
    assert " 1\n" in (out / "vox1/trial_lists").read_text().splitlines()[1] + "\n"


def _full_size_tree(root: Path, veri: str | Path | None, vox1_meta: str | Path | None,
                    vox2_meta: str | Path | None) -> Path:
    """A VoxCeleb tree whose audio files are empty placeholders for every utterance of the list."""
    v1 = root / "voxceleb1"
    v1.mkdir(parents=True)
    text = Path(veri).read_text() if veri else _synthetic_veri_test()
    (v1 / "veri_test.txt").write_text(text)
    if vox1_meta:
        (v1 / "vox1_meta.csv").write_bytes(Path(vox1_meta).read_bytes())
    if vox2_meta:
        (root / "voxceleb2").mkdir()
        (root / "voxceleb2/vox2_meta.csv").write_bytes(Path(vox2_meta).read_bytes())
    rels = {p for line in text.splitlines() if line.strip() for p in line.split()[1:]}
    for rel in rels:
        _touch(v1 / "test/wav" / rel)
    return root


def _synthetic_veri_test(seed: int = 0) -> str:
    """37,720 lines in the real format: 40 test speakers, 4,715 utterances, alternating labels."""
    rng = random.Random(seed)
    chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
    spk = [f"id{10270 + i}" for i in range(40)]
    utts = {s: [] for s in spk}
    for k in range(4715):
        s = spk[k % 40]
        yt = "".join(rng.choice(chars) for _ in range(11))
        utts[s].append(f"{s}/{yt}/{len(utts[s]) + 1:05d}.wav")
    flat = [u for s in spk for u in utts[s]]
    lines = []
    for i in range(37720 // 2):
        e = flat[i % len(flat)]
        s = e.split("/")[0]
        lines.append(f"1 {e} {rng.choice([u for u in utts[s] if u != e])}")
        other = rng.choice([x for x in spk if x != s])
        lines.append(f"0 {e} {rng.choice(utts[other])}")
    return "\n".join(lines) + "\n"


def _check_full_size(db: Path, out: Path) -> None:
    assert prep.main(["--db_root", str(db), "--out", str(out), "--train_sets", ""]) == 0
    trials = read_trials(out / "vox1/trials_O")
    assert len(trials) == 37720
    assert sum(t[2] == "target" for t in trials) == 18860
    wav = read_kv(out / "vox1/wav.scp")
    used = {u for t in trials for u in t[:2]}
    assert set(wav) == used
    assert all(os.path.isfile(p) for p in wav.values())
    validate_data_dir(out / "vox1", check_files=True)


def test_full_size_synthetic_vox1_o(tmp_path):
    _check_full_size(_full_size_tree(tmp_path / "db", None, None, None), tmp_path / "data")


REAL = {k: os.environ.get(k) for k in ("AVDF_VERI_TEST", "AVDF_VOX1_META", "AVDF_VOX2_META")}


@pytest.mark.skipif(not all(REAL.values()),
                    reason="set AVDF_VERI_TEST, AVDF_VOX1_META and AVDF_VOX2_META to the real veri_test.txt, "
                           "vox1_meta.csv and vox2_meta.csv to run the check on the real files")
def test_real_lists(tmp_path):
    db = _full_size_tree(tmp_path / "db", REAL["AVDF_VERI_TEST"], REAL["AVDF_VOX1_META"], REAL["AVDF_VOX2_META"])
    _check_full_size(db, tmp_path / "data")
    gender = read_kv(tmp_path / "data/vox1/spk2gender")
    assert len(gender) == 40
    g, s = prep.meta_gender_and_set(prep.read_meta(Path(REAL["AVDF_VOX1_META"])))
    assert (sum(v == "m" for v in g.values()), sum(v == "f" for v in g.values())) == (690, 561)
    assert (sum(v == "dev" for v in s.values()), sum(v == "test" for v in s.values())) == (1211, 40)
    g2, s2 = prep.meta_gender_and_set(prep.read_meta(Path(REAL["AVDF_VOX2_META"])))
    assert (sum(v == "dev" for v in s2.values()), sum(v == "test" for v in s2.values())) == (5994, 120)
