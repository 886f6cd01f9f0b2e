"""Stage 1: Kaldi data dirs from a DFDC tree (DATASETS.md section 4).

    python local/prepare_dfdc.py --db_root /data/dfdc --out data [--subset default|astrid]
        [--lists local/lists] [--dev_ratio 0.1] [--seed 0] [--check_files true]

Reads every ``metadata.json`` under ``--db_root`` (``**/metadata.json``: the
``dfdc_train_part_N`` folders, extra unzip levels tolerated; part numbers normalised
with ``int()``) and the public ``test/labels.csv``. Writes, per set, ``video.scp``,
``utt2label`` and ``utt2label_video`` (REAL -> bonafide, FAKE -> spoof), ``utt2spk`` (the
identity: a fake's REAL original, a real video itself), ``spk2utt``, ``utt2original``
(``-`` for real videos) and, when the tree carries a per-fake manipulation list (the mini
corpus's ``mini_fake_types.csv``: ``filename,...,attack,...``), ``utt2attack`` (``-`` for real).
DFDC says only whether a video is fake, so ``utt2label_video`` is that label and there is no
``utt2label_audio`` (the av task then takes the audio as real). When the list also says what
was done to each modality (the mini corpus's ``video`` and ``audio`` columns), the
per-modality labels come from it instead: ``utt2label_video`` spoof when the frames were
manipulated (``video`` not ``-``: faceswap, fsgan, lipsync), ``utt2label_audio`` spoof when
the speech is synthetic (``audio`` a vocoder: griffin_lim, world, lpc); another real
speaker's speech (``swap:<speaker>``) is real audio, the pairing being what is fake (the
overall label's, joint_av's sync head). Without this an audio swap or a re-vocoded clip
would be "video fake, audio real" for joint_av's modality heads.

Sets:
- ``default``: the training parts split by identity (a fake stays with its original) into
  ``train`` and ``dev`` (``--dev_ratio`` of the identities, seeded), and ``test/`` as ``test``.
- ``astrid``: the published split of Astrid, Ghorbel and Aouada (BMVC 2024; lists from the
  authors' repository aseuteurideu/SADD, in ``local/lists/``): ``train`` (15,300) and
  ``test`` (2,700), the names resolved through every part's metadata (and test/labels.csv);
  ``dev`` holds the identities of the remaining videos when the tree has any (balanced,
  at most ``--dev_size`` videos), otherwise it is not written.

Metadata keys or originals that leave the dataset root, malformed JSON/CSV and duplicate
video names are errors naming the file and the key; a listed video whose file is missing
is left out, logged, and listed in ``<out>/local/skipped`` (``--check_files false`` skips
the check, for trees of placeholders).
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from avdf.data.datadir import utt2spk_to_spk2utt, write_kv
from avdf.utils.log import setup_logging

logger = logging.getLogger("prepare_dfdc")
LABELS = {"REAL": "bonafide", "FAKE": "spoof"}
ASTRID_LISTS = {("train", "bonafide"): "dfdc_astrid_train_real.txt", ("train", "spoof"): "dfdc_astrid_train_fake.txt",
                ("test", "bonafide"): "dfdc_astrid_test_real.txt", ("test", "spoof"): "dfdc_astrid_test_fake.txt"}
ATTACK_FILE = "mini_fake_types.csv"
_PART = re.compile(r"^dfdc_train_part_(\d+)$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+\.mp4$")


class PrepError(ValueError):
    """Bad DFDC metadata; the message names the file and the key or line."""


@dataclass
class Video:
    utt: str
    path: Path
    label: str            # bonafide | spoof
    original: str         # utterance id of the REAL original, "-" for real videos
    source: str           # where it was listed: "<metadata.json>" or "<labels.csv>:<line>"
    part: int | None      # DFDC training part, None for the public test set


def _utt(name: str, where: str) -> str:
    if not _NAME.match(name) or name in (".mp4", "..mp4"):
        raise PrepError(f"{where}: {name!r} is not a video file name (<id>.mp4 without folders)")
    return name[:-4]


def _inside(root: Path, path: Path, where: str) -> Path:
    resolved = path.resolve()
    if resolved != root and root not in resolved.parents:
        raise PrepError(f"{where}: {path} leaves the dataset root {root}")
    return path


def part_number(folder: Path) -> int | None:
    """``dfdc_train_part_07`` -> 7; the nearest such folder above a metadata.json."""
    for p in (folder, *folder.parents):
        m = _PART.match(p.name)
        if m:
            return int(m.group(1))
    return None


def read_metadata(path: Path, root: Path) -> list[Video]:
    """The videos of one ``metadata.json``."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise PrepError(f"{path}: not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})") from None
    if not isinstance(meta, dict):
        raise PrepError(f"{path}: expected one JSON object keyed by file name, got {type(meta).__name__}")
    part = part_number(path.parent)
    out = []
    for name, entry in meta.items():
        where = f"{path}: key {name!r}"
        _inside(root, path.parent / str(name), where)
        utt = _utt(name, where)
        if not isinstance(entry, dict) or entry.get("label") not in LABELS:
            got = entry.get("label") if isinstance(entry, dict) else entry
            raise PrepError(f"{where}: label {got!r} is not REAL or FAKE")
        original = entry.get("original")
        label = LABELS[entry["label"]]
        if label == "spoof" and original:
            if not isinstance(original, str):
                raise PrepError(f"{where}: original {original!r} is not a file name")
            _inside(root, path.parent / original, f"{where}: original")
            orig = _utt(original, f"{where}: original")
        else:
            orig = "-"
        out.append(Video(utt, path.parent / name, label, orig, str(path), part))
    return out


def read_test_labels(path: Path, root: Path) -> list[Video]:
    """The public test set: ``filename,label`` with 0 = real, 1 = fake."""
    out = []
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows or [c.strip() for c in rows[0][:2]] != ["filename", "label"]:
        raise PrepError(f"{path}:1: expected the header 'filename,label'")
    for n, row in enumerate(rows[1:], 2):
        where = f"{path}:{n}"
        if len(row) < 2 or row[1].strip() not in ("0", "1"):
            raise PrepError(f"{where}: expected '<name>.mp4,0|1', got {','.join(row)!r}")
        name = row[0].strip()
        _inside(root, path.parent / name, where)
        out.append(Video(_utt(name, where), path.parent / name,
                         "bonafide" if row[1].strip() == "0" else "spoof", "-", where, None))
    return out


def index_tree(root: Path) -> tuple[dict[str, Video], dict[str, Video]]:
    """(training-part videos, public-test videos), keyed by utterance id."""
    root = root.resolve()
    metas = sorted(root.glob("**/metadata.json"))
    tests = sorted(p for p in root.glob("**/labels.csv") if p.parent.name == "test")
    if not metas and not tests:
        raise PrepError(f"{root}: no **/metadata.json and no test/labels.csv: is this a DFDC tree?")
    sets: list[dict[str, Video]] = [{}, {}]
    for i, (files, reader) in enumerate(((metas, read_metadata), (tests, read_test_labels))):
        for path in files:
            for v in reader(path, root):
                for other in sets:
                    if v.utt in other:
                        raise PrepError(f"{v.source}: video {v.utt}.mp4 is also listed in {other[v.utt].source}")
                sets[i][v.utt] = v
    logger.info("%s: %d videos in %d metadata.json, %d in the public test set",
                root, len(sets[0]), len(metas), len(sets[1]))
    orphans = [v for v in sets[0].values() if v.label == "spoof" and v.original != "-" and v.original not in sets[0]]
    if orphans:  # a part not downloaded, or a broken list: say so, the identity split still groups them
        logger.warning("%d fakes name an original that no metadata.json here lists (first: %s.mp4 -> %s.mp4, "
                       "in %s); their identity is that name", len(orphans), orphans[0].utt, orphans[0].original,
                       orphans[0].source)
    return sets[0], sets[1]


def attacks_of(root: Path) -> dict[str, str]:
    """Manipulation type per video (``-`` for real) from the mini corpus's side file
    (``mini_fake_types.csv``: a CSV with at least ``filename`` and ``attack`` columns), if any."""
    out: dict[str, str] = {}
    for path in sorted(root.glob(f"**/{ATTACK_FILE}")):
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not {"filename", "attack"} <= set(reader.fieldnames):
                raise PrepError(f"{path}:1: expected a header with the columns filename and attack")
            for n, row in enumerate(reader, 2):
                attack = (row.get("attack") or "").strip()
                if not attack or any(c.isspace() for c in attack):
                    raise PrepError(f"{path}:{n}: attack {attack!r} is empty or has spaces")
                out[_utt((row.get("filename") or "").strip(), f"{path}:{n}")] = attack
    return out


def modalities_of(root: Path) -> dict[str, tuple[bool, bool]]:
    """(frames manipulated, speech synthetic) per video from the mini corpus's side file when
    it has ``video`` and ``audio`` columns (module docstring); empty otherwise."""
    out: dict[str, tuple[bool, bool]] = {}
    for path in sorted(root.glob(f"**/{ATTACK_FILE}")):
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not {"filename", "video", "audio"} <= set(reader.fieldnames):
                return {}
            for n, row in enumerate(reader, 2):
                video, audio = (row.get("video") or "").strip(), (row.get("audio") or "").strip()
                if not video or not audio:
                    raise PrepError(f"{path}:{n}: empty video or audio column")
                out[_utt((row.get("filename") or "").strip(), f"{path}:{n}")] = (
                    video != "-", audio != "-" and not audio.startswith("swap:"))
    return out


def identity(v: Video) -> str:
    return v.original if v.label == "spoof" and v.original != "-" else v.utt


def write_set(out: Path, videos: list[Video], attacks: dict[str, str],
              modalities: dict[str, tuple[bool, bool]] | None = None) -> None:
    """One data dir; utt2attack only when every fake's manipulation is known, per-modality
    labels from ``modalities`` (:func:`modalities_of`) only when every fake's are."""
    out.mkdir(parents=True, exist_ok=True)
    write_kv(out / "video.scp", {v.utt: str(v.path) for v in videos})
    write_kv(out / "utt2label", {v.utt: v.label for v in videos})
    (out / "utt2label_audio").unlink(missing_ok=True)
    if modalities and all(v.utt in modalities for v in videos if v.label == "spoof"):
        def of(v: Video, i: int) -> str:
            return "spoof" if v.label == "spoof" and modalities[v.utt][i] else "bonafide"
        write_kv(out / "utt2label_video", {v.utt: of(v, 0) for v in videos})
        write_kv(out / "utt2label_audio", {v.utt: of(v, 1) for v in videos})
    else:
        write_kv(out / "utt2label_video", {v.utt: v.label for v in videos})
    utt2spk = {v.utt: identity(v) for v in videos}
    write_kv(out / "utt2spk", utt2spk)
    write_kv(out / "spk2utt", utt2spk_to_spk2utt(utt2spk))
    write_kv(out / "utt2original", {v.utt: v.original for v in videos})
    (out / "utt2attack").unlink(missing_ok=True)
    fakes = [v.utt for v in videos if v.label == "spoof"]
    if attacks and all(u in attacks for u in fakes):
        write_kv(out / "utt2attack", {v.utt: attacks[v.utt] if v.label == "spoof" else "-" for v in videos})
    elif attacks:
        logger.warning("%s: manipulation unknown for %d of %d fakes; no utt2attack", out,
                       sum(u not in attacks for u in fakes), len(fakes))
    n_real = sum(v.label == "bonafide" for v in videos)
    logger.info("%s: %d videos (%d real, %d fake), %d identities", out, len(videos), n_real,
                len(videos) - n_real, len(set(utt2spk.values())))


def split_by_identity(videos: list[Video], ratio: float, seed: int, max_videos: int | None = None) -> tuple[list[Video], list[Video]]:
    """(rest, held out): whole identities, ``ratio`` of them (at least one), seeded."""
    groups: dict[str, list[Video]] = {}
    for v in videos:
        groups.setdefault(identity(v), []).append(v)
    ids = sorted(groups)
    random.Random(seed).shuffle(ids)
    n = max(1, round(ratio * len(ids))) if len(ids) > 1 else 0
    held: list[Video] = []
    for i in ids[:n]:
        if max_videos is not None and len(held) + len(groups[i]) > max_videos and held:
            break
        held += groups[i]
    keep = {v.utt for v in held}
    return [v for v in videos if v.utt not in keep], held


def read_lists(lists: Path) -> dict[tuple[str, str], list[str]]:
    out = {}
    for key, name in ASTRID_LISTS.items():
        path = lists / name
        if not path.is_file():
            raise PrepError(f"{path}: list missing (the recipe carries them in local/lists/)")
        names = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        out[key] = [_utt(nm, f"{path}:{i}") for i, nm in enumerate(names, 1)]
    return out


def astrid_sets(parts: dict[str, Video], test: dict[str, Video], lists: Path, dev_ratio: float,
                dev_size: int, seed: int) -> dict[str, list[Video]]:
    """train/test from the published lists (labels checked against the metadata); dev from the rest."""
    known = {**parts, **test}
    out: dict[str, list[Video]] = {"train": [], "test": []}
    missing: list[str] = []
    disagree = 0
    for (name, label), utts in read_lists(lists).items():
        for u in utts:
            if u not in known:
                missing.append(u)
                continue
            disagree += known[u].label != label
            out[name].append(known[u])
    if disagree:
        raise PrepError(f"{lists}: {disagree} listed videos have another label in the metadata")
    if missing:
        logger.warning("%d videos of the Astrid lists are not in this tree's metadata (e.g. %s.mp4): left out",
                       len(missing), missing[0])
    used = {v.utt for s in out.values() for v in s}
    used_ids = {identity(v) for s in out.values() for v in s}
    rest = [v for v in parts.values() if v.utt not in used and identity(v) not in used_ids]
    if rest:
        _, dev = split_by_identity(rest, dev_ratio, seed, dev_size)
        out["dev"] = dev
    else:
        logger.info("no video outside the Astrid lists: no dev set (model selection on the training loss)")
    return out


def drop_missing(sets: dict[str, list[Video]], skipped: dict[str, str]) -> dict[str, list[Video]]:
    out = {}
    for name, videos in sets.items():
        keep = []
        for v in videos:
            if v.path.is_file():
                keep.append(v)
            else:
                skipped[v.utt] = f"{v.source}: {v.path}: file does not exist"
        out[name] = keep
    if skipped:
        logger.warning("%d listed videos have no file and are left out (first: %s)", len(skipped),
                       next(iter(skipped.values())))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db_root", required=True, type=Path)
    parser.add_argument("--out", default=Path("data"), type=Path)
    parser.add_argument("--subset", default="default", choices=["default", "astrid"])
    parser.add_argument("--lists", default=Path(__file__).resolve().parent / "lists", type=Path)
    parser.add_argument("--dev_ratio", type=float, default=0.1, help="share of identities held out as dev")
    parser.add_argument("--dev_size", type=int, default=2000, help="astrid: at most this many dev videos")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check_files", default="true", choices=["true", "false"])
    args = parser.parse_args(argv)
    setup_logging()
    try:
        if not args.db_root.is_dir():
            raise PrepError(f"--db_root {args.db_root}: not a directory")
        parts, test = index_tree(args.db_root)
        if args.subset == "astrid":
            sets = astrid_sets(parts, test, args.lists, args.dev_ratio, args.dev_size, args.seed)
        else:
            train, dev = split_by_identity(list(parts.values()), args.dev_ratio, args.seed)
            sets = {"train": train, "dev": dev, "test": list(test.values())}
        skipped: dict[str, str] = {}
        if args.check_files == "true":
            sets = drop_missing(sets, skipped)
        args.out.mkdir(parents=True, exist_ok=True)
        write_kv(args.out / "local" / "skipped", skipped)
        attacks = attacks_of(args.db_root.resolve())
        modalities = modalities_of(args.db_root.resolve())
        for name in ("train", "dev", "test"):
            if sets.get(name):
                write_set(args.out / name, sets[name], attacks, modalities)
            elif name != "dev":
                raise PrepError(f"{args.db_root}: the {name} set is empty")
            else:  # no dev this time: a stale one from another subset must not be used
                for f in (args.out / "dev").glob("*"):
                    if f.is_file():
                        f.unlink()
        parts_seen = Counter(v.part for v in parts.values())
        logger.info("training parts: %s", ", ".join(str(p) for p in sorted(p for p in parts_seen if p is not None)))
    except PrepError as e:
        print(f"prepare_dfdc: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
