"""The data-dir tools in utils/ (validate, fix, subset, combine, split, the .pl converters),
run as a recipe runs them: through a recipe directory's `utils` symlink."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from avdf.data.datadir import read_kv, read_trials, utt2spk_to_spk2utt

ROOT = Path(__file__).resolve().parents[1]

# 9 utterances of 4 speakers; the utterance ids do not start with the speaker id (as in
# ASVspoof), so a speaker's utterances are not contiguous in sorted order.
UTT2SPK = {"LA_0001": "spkB", "LA_0002": "spkA", "LA_0003": "spkC", "LA_0004": "spkA", "LA_0005": "spkB",
           "LA_0006": "spkD", "LA_0007": "spkA", "LA_0008": "spkC", "LA_0009": "spkD"}


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(f"{line}\n" for line in lines))


@pytest.fixture
def recipe(tmp_path) -> Path:
    """A recipe-like directory: a `utils` symlink and a valid data dir data/train."""
    (tmp_path / "utils").symlink_to(ROOT / "utils")
    d = tmp_path / "data" / "train"
    d.mkdir(parents=True)
    (tmp_path / "wav").mkdir()
    for u in UTT2SPK:
        (tmp_path / "wav" / f"{u}.flac").write_bytes(b"")
    _write(d / "wav.scp", [f"{u} {tmp_path}/wav/{u}.flac" for u in UTT2SPK])
    _write(d / "utt2spk", [f"{u} {s}" for u, s in UTT2SPK.items()])
    _write(d / "spk2utt", [f"{s} {' '.join(us)}" for s, us in utt2spk_to_spk2utt(UTT2SPK).items()])
    _write(d / "utt2label", [f"{u} {'spoof' if int(u[-1]) % 3 == 0 else 'bonafide'}" for u in UTT2SPK])
    _write(d / "spk2gender", ["spkA f", "spkB m", "spkC f", "spkD m"])
    _write(d / "trials", ["spkA LA_0001 nontarget", "spkA LA_0004 target", "spkB LA_0005 target",
                          "spkZ LA_0009 nontarget", "spkC LA_0003 spoof"])
    return tmp_path


def run(recipe: Path, tool: str, *args: str) -> subprocess.CompletedProcess:
    """Run utils/<tool> from the recipe dir, with a PATH that lacks the venv (as cron would)."""
    env = {**os.environ, "LC_ALL": "C", "PATH": "/usr/bin:/bin"}
    return subprocess.run([f"utils/{tool}", *args], cwd=recipe, env=env, capture_output=True, text=True,
                          timeout=60)


def ok(r: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert r.returncode == 0, r.stderr
    return r


def fails(r: subprocess.CompletedProcess, *fragments: str) -> str:
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for frag in fragments:
        assert frag in lines[0], lines[0]
    return lines[0]


def test_validate_passes_a_good_dir(recipe):
    r = ok(run(recipe, "validate_data_dir.sh", "--check-files", "data/train"))
    assert "OK (9 utterances)" in r.stdout


def test_validate_rejects_an_unsorted_wav_scp_and_passes_a_sorted_copy(recipe):
    d = recipe / "data/train"
    lines = (d / "wav.scp").read_text().splitlines()
    lines[2], lines[3] = lines[3], lines[2]
    _write(d / "wav.scp", lines)
    fails(run(recipe, "validate_data_dir.sh", "data/train"),
          "data/train/wav.scp:4:", "not sorted", "'LA_0003' comes after 'LA_0004'")
    subprocess.run(f"sort -k1,1 -o {d}/wav.scp {d}/wav.scp", shell=True, check=True, env={"LC_ALL": "C"})
    ok(run(recipe, "validate_data_dir.sh", "data/train"))


def test_validate_rejects_a_duplicate_key(recipe):
    d = recipe / "data/train"
    lines = (d / "utt2label").read_text().splitlines()
    _write(d / "utt2label", lines[:5] + [lines[4]] + lines[5:])
    fails(run(recipe, "validate_data_dir.sh", "data/train"), "data/train/utt2label:6:", "duplicate key 'LA_0005'")


def test_validate_rejects_a_utt2spk_missing_a_line_and_fix_repairs_it(recipe):
    d = recipe / "data/train"
    _write(d / "utt2spk", [line for line in (d / "utt2spk").read_text().splitlines() if "LA_0004" not in line])
    fails(run(recipe, "validate_data_dir.sh", "data/train"),
          "data/train/utt2spk:4:", "no line for utterance 'LA_0004'", "wav.scp:4")
    r = ok(run(recipe, "fix_data_dir.sh", "data/train"))
    assert "kept 8 of 9 utterances" in r.stdout and "dropped LA_0004: not in utt2spk" in r.stdout
    ok(run(recipe, "validate_data_dir.sh", "--check-files", "data/train"))
    for name in ("wav.scp", "utt2label"):
        assert "LA_0004" not in read_kv(d / name) and len(read_kv(d / name)) == 8
    assert read_kv(d / "spk2utt")["spkA"] == "LA_0002 LA_0007"
    assert ("spkA", "LA_0004", "target") not in read_trials(d / "trials") and len(read_trials(d / "trials")) == 4
    assert "LA_0004" in read_kv(d / ".backup/wav.scp")
    assert read_kv(d / ".backup/dropped") == {"LA_0004": "not in utt2spk"}


@pytest.mark.parametrize("name, line, fragments", [
    ("utt2label", "LA_0003 fake", ["utt2label:3:", "'fake' of 'LA_0003' is not bonafide|spoof"]),
    ("spk2utt", "spkA LA_0002 LA_0004", ["spk2utt:1:", "utterances of 'spkA' do not match utt2spk"]),
    ("spk2gender", "spkA f", ["spk2gender:2: no line for speaker 'spkB'"]),
    ("trials", "spkA LA_0001 maybe", ["trials:1:", "'maybe' is not one of target|nontarget|spoof"]),
])
def test_validate_names_file_line_and_reason(recipe, name, line, fragments):
    d = recipe / "data/train"
    lines = (d / name).read_text().splitlines()
    index = next(i for i, old in enumerate(lines) if old.split()[0] == line.split()[0]) if name != "spk2gender" else 0
    lines[index] = line
    _write(d / name, lines if name != "spk2gender" else [line, "spkC f", "spkD m"])
    fails(run(recipe, "validate_data_dir.sh", "data/train"), *fragments)


def test_validate_check_files_and_ignored_files(recipe):
    (recipe / "wav/LA_0006.flac").unlink()
    ok(run(recipe, "validate_data_dir.sh", "data/train"))
    fails(run(recipe, "validate_data_dir.sh", "--check-files", "data/train"),
          "wav.scp:6:", "LA_0006.flac", "does not exist")
    ok(run(recipe, "validate_data_dir.sh", "--check-files", "--no-wav", "data/train"))
    _write(recipe / "data/train/feats.scp", [f"{u} /x/feats.ark:{i}" for i, u in enumerate(list(UTT2SPK)[:3])])
    fails(run(recipe, "validate_data_dir.sh", "--no-wav", "data/train"), "feats.scp:4: no line for utterance 'LA_0004'")
    ok(run(recipe, "validate_data_dir.sh", "--no-feats", "data/train"))


def test_fix_drops_conflicts_and_bad_values_and_resorts(recipe):
    d = recipe / "data/train"
    labels = (d / "utt2label").read_text().splitlines()
    labels[1] = "LA_0002 fake"
    _write(d / "utt2label", labels[::-1] + ["", "LA_0009 bonafide"])  # reversed, a blank line, a conflict
    r = ok(run(recipe, "fix_data_dir.sh", "data/train"))
    assert "kept 7 of 9" in r.stdout
    assert "dropped LA_0002: utt2label value 'fake' is not valid" in r.stdout
    assert "dropped LA_0009: utt2label has it twice with different values" in r.stdout
    assert "utt2label:10: dropped line ''" in r.stdout
    ok(run(recipe, "validate_data_dir.sh", "data/train"))
    assert list(read_kv(d / "utt2label")) == sorted(set(UTT2SPK) - {"LA_0002", "LA_0009"})


def test_subset_selections(recipe):
    utts = sorted(UTT2SPK)
    ok(run(recipe, "subset_data_dir.sh", "--first", "3", "data/train", "data/first3"))
    assert list(read_kv(recipe / "data/first3/wav.scp")) == utts[:3]
    ok(run(recipe, "subset_data_dir.sh", "--last", "2", "data/train", "data/last2"))
    assert list(read_kv(recipe / "data/last2/utt2spk")) == utts[-2:]
    picks = []
    for seed in ("1", "1", "3"):
        ok(run(recipe, "subset_data_dir.sh", "--random", "4", "--seed", seed, "data/train", f"data/r{seed}"))
        picks.append(list(read_kv(recipe / f"data/r{seed}/utt2label")))
    assert picks[0] == picks[1] and picks[0] != picks[2] and len(picks[2]) == 4
    _write(recipe / "spk.list", ["spkA", "spkC"])
    ok(run(recipe, "subset_data_dir.sh", "--spk-list", "spk.list", "data/train", "data/ac"))
    d = recipe / "data/ac"
    assert list(read_kv(d / "utt2spk")) == ["LA_0002", "LA_0003", "LA_0004", "LA_0007", "LA_0008"]
    assert list(read_kv(d / "spk2utt")) == ["spkA", "spkC"] and list(read_kv(d / "spk2gender")) == ["spkA", "spkC"]
    # spkZ is not a speaker of data/train, so that side refers elsewhere and the trial stays
    assert read_trials(d / "trials") == [("spkA", "LA_0004", "target"), ("spkC", "LA_0003", "spoof")]
    for sub in ("first3", "last2", "r1", "r3", "ac"):
        ok(run(recipe, "validate_data_dir.sh", f"data/{sub}"))
    _write(recipe / "utt.list", ["LA_0005", "LA_0009", "LA_9999"])
    r = ok(run(recipe, "subset_data_dir.sh", "--utt-list", "utt.list", "data/train", "data/ac"))  # overwrites
    assert "1 listed utterances are not in data/train" in r.stderr
    assert list(read_kv(d / "wav.scp")) == ["LA_0005", "LA_0009"]
    assert read_trials(d / "trials") == [("spkB", "LA_0005", "target"), ("spkZ", "LA_0009", "nontarget")]
    fails(run(recipe, "subset_data_dir.sh", "--first", "10", "data/train", "data/x"), "asked for 10 utterances, it has 9")


def test_combine_restores_the_whole_and_rejects_shared_keys(recipe):
    ok(run(recipe, "subset_data_dir.sh", "--first", "4", "data/train", "data/a"))
    ok(run(recipe, "subset_data_dir.sh", "--last", "5", "data/train", "data/b"))
    (recipe / "data/a/trials").unlink()
    r = ok(run(recipe, "combine_data.sh", "data/all", "data/a", "data/b"))
    assert "trials skipped: not in every source" in r.stderr
    for name in ("wav.scp", "utt2spk", "spk2utt", "utt2label", "spk2gender"):
        assert (recipe / "data/all" / name).read_text() == (recipe / "data/train" / name).read_text(), name
    ok(run(recipe, "validate_data_dir.sh", "data/all"))
    fails(run(recipe, "combine_data.sh", "data/bad", "data/train", "data/b"),
          "data/b/wav.scp: key 'LA_0005' is also in data/train/wav.scp")
    assert not (recipe / "data/bad").exists()


def test_split_by_speaker_and_by_utterance(recipe):
    r = ok(run(recipe, "split_data.sh", "data/train", "3"))
    assert "data/train/split3/1..3" in r.stdout
    seen: dict[str, str] = {}
    for j in ("1", "2", "3"):
        part = recipe / "data/train/split3" / j
        ok(run(recipe, "validate_data_dir.sh", str(part.relative_to(recipe))))
        utt2spk = read_kv(part / "utt2spk")
        assert utt2spk and not (part / "trials").exists()
        for u, s in utt2spk.items():
            assert seen.setdefault(s, j) == j, f"speaker {s} split across parts"
        assert set(read_kv(part / "wav.scp")) == set(utt2spk)
    assert len(seen) == 4
    counts = [len(read_kv(recipe / "data/train/split3" / j / "utt2spk")) for j in "123"]
    assert sum(counts) == 9 and max(counts) <= 4
    fails(run(recipe, "split_data.sh", "data/train", "5"), "cannot split 4 speakers into 5 parts")
    ok(run(recipe, "split_data.sh", "--per-utt", "data/train", "4"))
    sizes = [len(read_kv(recipe / "data/train/split4utt" / j / "wav.scp")) for j in "1234"]
    assert sorted(sizes) == [2, 2, 2, 3]
    fails(run(recipe, "split_data.sh", "--per-utt", "data/train", "10"), "cannot split 9 utterances into 10 parts")


def test_speaker_maps_and_filter_scp(recipe):
    d = recipe / "data/train"
    r = ok(run(recipe, "utt2spk_to_spk2utt.pl", "data/train/utt2spk"))
    assert r.stdout == (d / "spk2utt").read_text()
    r = subprocess.run("utils/spk2utt_to_utt2spk.pl < data/train/spk2utt", shell=True, cwd=recipe,
                       capture_output=True, text=True, check=True)
    assert r.stdout == (d / "utt2spk").read_text()
    _write(recipe / "ids", ["LA_0002 whatever", "LA_0008"])
    r = ok(run(recipe, "filter_scp.pl", "ids", "data/train/utt2label"))
    assert [line.split()[0] for line in r.stdout.splitlines()] == ["LA_0002", "LA_0008"]
    r = ok(run(recipe, "filter_scp.pl", "--exclude", "ids", "data/train/utt2label"))
    assert len(r.stdout.splitlines()) == 7 and "LA_0002" not in r.stdout
    _write(recipe / "spks", ["spkD"])
    r = ok(run(recipe, "filter_scp.pl", "-f", "2", "spks", "data/train/utt2spk"))
    assert r.stdout == "LA_0006 spkD\nLA_0009 spkD\n"
    fails(run(recipe, "filter_scp.pl", "-f", "3", "spks", "data/train/utt2spk"),
          "data/train/utt2spk:1: has 2 fields, -f 3 needs more")


def test_tools_work_without_the_venv(recipe, tmp_path_factory):
    """A copy of utils/ without tools/venv beside it falls back to python3 + the repository."""
    fake_root = tmp_path_factory.mktemp("noenv")
    shutil.copytree(ROOT / "utils", fake_root / "utils", symlinks=True)
    (fake_root / "avdf").symlink_to(ROOT / "avdf")
    (recipe / "utils").unlink()
    (recipe / "utils").symlink_to(fake_root / "utils")
    ok(run(recipe, "validate_data_dir.sh", "data/train"))
