#!/usr/bin/env python3
"""FakeAVCeleb v1.2 data preparation (DATASETS.md §5): ``meta_data.csv`` -> Kaldi data dirs.

    python local/data_prep.py --db_root /path/FakeAVCeleb_v1.2 --data data \\
        --test_real local/lists/fakeavceleb_test_real.txt \\
        --test_fake local/lists/fakeavceleb_test_fake.txt [--nfolds 5 --seed 0]

Writes, each a full data dir (``video.scp``, ``utt2spk``/``spk2utt`` = source identity,
``utt2label`` (any fake -> spoof), ``utt2label_audio``, ``utt2label_video``,
``utt2attack`` (the method; ``-`` for bona fide), ``utt2category`` A-D):

- ``data/all``: every distinct video whose file exists; rows whose file is missing go to
  ``data/all/bad_utts`` with the reason;
- ``data/test``: the published 70 real / 70 fake cross-dataset test set (names resolved
  to files); ``data/train``: every video of every other source identity;
- ``data/fold{k}/{train,valid,test}``, k = 1..nfolds: identity-disjoint folds over the
  source ids, dealt per race x gender cell from a seeded shuffle; ``valid`` is a share of
  the training identities (model selection, calibration). ``--fold_subset balanced``
  (MRDF, Zou et al. 2024) keeps one video per identity and category;
- ``data/selected``: the union of ``data/test`` and the folds, the videos the later
  stages preprocess (``data/train`` is written for users who train on FakeAVCeleb).

The CSV is parsed by position: its header is ``...,gender,path,`` (nine names and a
trailing comma) in the release and ``...,gender,filename,path`` in an edited copy; either
way field 9 is the file name and field 10 the directory, whose first component varies
(``FakeAVCeleb/`` or ``FakeAVCeleb_v1.2/``), so paths are rebuilt as
``<root>/<type>/<race>/<gender>/<source>/<filename>``. Rows listing the same file twice
(22 FakeVideo-FakeAudio files in v1.2, with ``faceswap-wav2lip`` and ``wav2lip``) are
reduced to the row whose method matches the file-name pattern; every such choice is
written to ``data/local/duplicates.tsv``.
"""
from __future__ import annotations

import argparse
import csv
import logging
import math
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from avdf.data.datadir import (DataDirError, c_key, read_list, utt2spk_to_spk2utt, validate_data_dir,
                               write_kv)
from avdf.utils.fileio import atomic_open
from avdf.utils.log import setup_logging

logger = logging.getLogger("fakeavceleb.data_prep")

HEADER = ("source", "target1", "target2", "method", "category", "type", "race", "gender")
N_FIELDS = 10
# category -> (type directory, video label, audio label)
CATEGORIES = {
    "A": ("RealVideo-RealAudio", "bonafide", "bonafide"),
    "B": ("RealVideo-FakeAudio", "bonafide", "spoof"),
    "C": ("FakeVideo-RealAudio", "spoof", "bonafide"),
    "D": ("FakeVideo-FakeAudio", "spoof", "spoof"),
}
# the usual names of the fake categories in papers
CATEGORY_NAMES = {"A": "RVRA", "B": "RVFA", "C": "FVRA", "D": "FVFA"}
_RACE_DROP = re.compile(r"[\s()]")  # "Asian (East)" -> "AsianEast" in the flattened names


class MetaError(ValueError):
    """``meta_data.csv`` or a split list is malformed; the message names file and line."""


@dataclass(frozen=True)
class MetaRow:
    """One data row of ``meta_data.csv`` (targets are ignored: they are not clean ids)."""
    line: int
    source: str
    method: str
    category: str
    type: str
    race: str
    gender: str
    filename: str
    dirpath: str

    @property
    def rel_path(self) -> Path:
        return Path(self.type, self.race, self.gender, self.source, self.filename)

    @property
    def flat_name(self) -> str:
        """The published lists' name: ``<type>-<RaceNoSpaces>-<gender>-<source>_<filename>``."""
        race = _RACE_DROP.sub("", self.race)
        return f"{self.type}-{race}-{self.gender}-{self.source}_{self.filename}"

    @property
    def utt(self) -> str:
        """Utterance id: the flat name without the ``.mp4`` extension."""
        return flat_to_utt(self.flat_name)


def flat_to_utt(name: str) -> str:
    return name[:-4] if name.lower().endswith(".mp4") else name


def read_meta(path: str | Path) -> list[MetaRow]:
    """Parse ``meta_data.csv`` by position (any header variant, LF or CRLF, BOM tolerated)."""
    path = Path(path)
    if not path.is_file():
        raise MetaError(f"{path}: meta_data.csv does not exist")
    rows: list[MetaRow] = []
    bad_dir = 0
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        for fields in reader:
            n = reader.line_num
            fields = [x.strip() for x in fields]
            if not any(fields):
                continue
            if not rows and fields[0].lower() == "source":
                _check_header(path, n, fields)
                continue
            if len(fields) == N_FIELDS + 1 and fields[-1] == "":  # a trailing comma on a data row
                fields = fields[:-1]
            if len(fields) != N_FIELDS:
                raise MetaError(f"{path}:{n}: expected {N_FIELDS} comma-separated fields "
                                f"(source,target1,target2,method,category,type,race,gender,filename,dir), "
                                f"got {len(fields)}")
            source, _, _, method, category, typ, race, gender, filename, dirpath = fields
            row = MetaRow(n, source, method, category, typ, race, gender, filename, dirpath)
            _check_row(path, row)
            if Path(dirpath).parts[1:] != row.rel_path.parts[:-1]:
                bad_dir += 1
            rows.append(row)
    if not rows:
        raise MetaError(f"{path}: no data rows")
    if bad_dir:
        logger.warning("%s: %d rows have a directory column that disagrees with type/race/gender/source; "
                       "paths are rebuilt from those columns", path, bad_dir)
    return rows


def _check_header(path: Path, n: int, fields: list[str]) -> None:
    names = [x.lower() for x in fields]
    if tuple(names[:len(HEADER)]) != HEADER or len(names) not in (N_FIELDS - 1, N_FIELDS):
        raise MetaError(f"{path}:{n}: unexpected header {','.join(fields)!r}; expected "
                        f"{','.join(HEADER)},path, or {','.join(HEADER)},filename,path")
    logger.info("%s: header %r (parsed by position: field 9 = file name, field 10 = directory)",
                path, ",".join(fields))


def _check_row(path: Path, row: MetaRow) -> None:
    where = f"{path}:{row.line}"
    if row.category not in CATEGORIES:
        raise MetaError(f"{where}: category {row.category!r} is not one of A, B, C, D")
    if row.type != CATEGORIES[row.category][0]:
        raise MetaError(f"{where}: type {row.type!r} does not match category {row.category} "
                        f"(expected {CATEGORIES[row.category][0]})")
    if not row.method:
        raise MetaError(f"{where}: empty method")
    for name, value in (("race", row.race), ("gender", row.gender), ("source", row.source),
                        ("filename", row.filename)):
        if not value:
            raise MetaError(f"{where}: empty {name}")
        if "/" in value or "\\" in value or value in (".", ".."):
            raise MetaError(f"{where}: {name} {value!r} would leave the dataset root")
    for name, value in (("source", row.source), ("filename", row.filename), ("gender", row.gender)):
        if any(c.isspace() for c in value):
            raise MetaError(f"{where}: {name} {value!r} contains whitespace")


def method_from_filename(filename: str, category: str) -> str:
    """The generation method the file-name patterns of DATASETS.md §5.2 imply."""
    if category == "A":
        return "real"
    if category == "B":
        return "rtvc"
    stem = Path(filename).stem
    if stem.endswith("_wavtolip"):
        if "_faceswap_" in stem or re.match(r"^\d+_\d+_id", stem):
            return "faceswap-wav2lip"
        return "fsgan-wav2lip" if len(re.findall(r"_id\d+", stem)) >= 2 else "wav2lip"
    if stem.endswith("_faceswap") or re.fullmatch(r"\d+_\d+", stem):
        return "faceswap"
    return "fsgan"


def dedup(rows: Sequence[MetaRow]) -> tuple[list[MetaRow], list[tuple[MetaRow, list[MetaRow], str]]]:
    """One row per file. Returns the kept rows (in file order) and, for each file listed
    more than once, ``(kept, dropped, why)``."""
    groups: dict[Path, list[MetaRow]] = {}
    for r in rows:
        groups.setdefault(r.rel_path, []).append(r)
    kept: list[MetaRow] = []
    report = []
    for rel, group in groups.items():
        if len(group) == 1:
            kept.append(group[0])
            continue
        if len({(r.method, r.category) for r in group}) == 1:
            keep, why = group[0], "identical rows"
        else:
            implied = method_from_filename(group[0].filename, group[0].category)
            matching = [r for r in group if r.method == implied]
            if len(matching) == 1:
                keep, why = matching[0], f"method {implied!r} matches the file-name pattern"
            else:
                keep, why = group[0], "no single row matches the file-name pattern: kept the first"
        kept.append(keep)
        report.append((keep, [r for r in group if r is not keep], why))
    kept.sort(key=lambda r: r.line)
    return kept, report


def label_maps(rows: Iterable[MetaRow], db_root: Path) -> dict[str, dict[str, str]]:
    """The per-utterance files of a data dir for ``rows``."""
    files: dict[str, dict[str, str]] = {n: {} for n in (
        "video.scp", "utt2spk", "utt2label", "utt2label_audio", "utt2label_video", "utt2attack",
        "utt2category")}
    for r in rows:
        u = r.utt
        if u in files["video.scp"]:
            raise MetaError(f"line {r.line}: utterance id {u!r} is not unique (two files flatten to it)")
        _, video, audio = CATEGORIES[r.category]
        files["video.scp"][u] = str(db_root / r.rel_path)
        files["utt2spk"][u] = r.source
        files["utt2label"][u] = "bonafide" if r.category == "A" else "spoof"
        files["utt2label_video"][u] = video
        files["utt2label_audio"][u] = audio
        files["utt2attack"][u] = "-" if r.category == "A" else r.method
        files["utt2category"][u] = r.category
    return files


def write_data_dir(out: Path, files: Mapping[str, Mapping[str, str]], utts: Iterable[str] | None = None) -> int:
    """Write ``files`` (restricted to ``utts``) plus ``spk2utt`` to ``out``; validate it."""
    keep = None if utts is None else set(utts)
    out.mkdir(parents=True, exist_ok=True)
    sub = {name: {u: v for u, v in m.items() if keep is None or u in keep} for name, m in files.items()}
    if not sub["utt2spk"]:
        raise MetaError(f"{out}: no utterances to write")
    for name, m in sub.items():
        write_kv(out / name, m)
    write_kv(out / "spk2utt", utt2spk_to_spk2utt(sub["utt2spk"]))
    validate_data_dir(out)
    return len(sub["utt2spk"])


def resolve_list(path: Path, utt2category: Mapping[str, str], bad: Mapping[str, str], real: bool) -> list[str]:
    """Utterance ids of a flattened-name list (``.mp4`` optional) of real or of fake videos;
    a name that is not in meta_data.csv, of the other class, or whose file is missing is an error."""
    utts = []
    for n, name in enumerate(read_list(path), 1):
        utt = flat_to_utt(name)
        if utt not in utt2category:
            raise MetaError(f"{path}:{n}: {name!r} is not a video of meta_data.csv")
        if (utt2category[utt] == "A") != real:
            raise MetaError(f"{path}:{n}: {name!r} is category {utt2category[utt]}, "
                            f"but this is the list of {'real' if real else 'fake'} videos")
        if utt in bad:
            raise MetaError(f"{path}:{n}: {name!r} cannot be used: {bad[utt]}")
        utts.append(utt)
    if len(set(utts)) != len(utts):
        raise MetaError(f"{path}: lists a video twice")
    return utts


def identity_folds(spk2cell: Mapping[str, str], nfolds: int, seed: int) -> list[list[str]]:
    """Deal the identities into ``nfolds`` folds: shuffle each race x gender cell with
    ``seed`` and deal round robin, continuing across cells, so folds differ by at most
    one identity and each has a share of every cell."""
    if nfolds < 2:
        raise ValueError(f"--nfolds must be at least 2, got {nfolds}")
    if nfolds > len(spk2cell):
        raise ValueError(f"--nfolds {nfolds} exceeds the {len(spk2cell)} identities")
    rng = np.random.default_rng(seed)
    folds: list[list[str]] = [[] for _ in range(nfolds)]
    i = 0
    for cell in sorted(set(spk2cell.values())):
        spks = sorted((s for s, c in spk2cell.items() if c == cell), key=c_key)
        for s in rng.permutation(spks):
            folds[i % nfolds].append(str(s))
            i += 1
    return [sorted(f, key=c_key) for f in folds]


def balanced_subset(rows: Sequence[MetaRow], seed: int) -> list[MetaRow]:
    """One video per identity and category, chosen with ``seed`` (MRDF's balanced set)."""
    rng = np.random.default_rng(seed)
    groups: dict[tuple[str, str], list[MetaRow]] = {}
    for r in rows:
        groups.setdefault((r.source, r.category), []).append(r)
    out = []
    for key in sorted(groups):
        g = sorted(groups[key], key=lambda r: c_key(r.utt))
        out.append(g[int(rng.integers(len(g)))])
    return out


def split_valid(spks: Sequence[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Split identities into (train, valid); valid gets ``ceil(fraction * n)``, at least one."""
    spks = sorted(spks, key=c_key)
    n_valid = max(1, math.ceil(fraction * len(spks)))
    if n_valid >= len(spks):
        raise ValueError(f"cannot hold out {n_valid} of {len(spks)} training identities for validation")
    perm = [str(s) for s in np.random.default_rng(seed).permutation(spks)]
    return sorted(perm[n_valid:], key=c_key), sorted(perm[:n_valid], key=c_key)


def prepare(db_root: Path, data: Path, test_real: Path, test_fake: Path, nfolds: int, seed: int,
            fold_subset: str, valid_fraction: float, meta: Path | None = None) -> dict[str, int]:
    """Write every data dir; return the number of utterances of each."""
    db_root = db_root.resolve()
    meta = meta or db_root / "meta_data.csv"
    rows = read_meta(meta)
    kept, dups = dedup(rows)
    logger.info("%s: %d rows, %d distinct files (%d listed more than once)", meta, len(rows), len(kept), len(dups))
    _write_duplicates(data / "local" / "duplicates.tsv", dups)

    present, bad = [], {}
    for r in kept:
        p = db_root / r.rel_path
        if p.is_file():
            present.append(r)
        else:
            bad[r.utt] = f"{meta.name}:{r.line}: file {p} does not exist"
    if bad:
        logger.warning("%d videos of %s are missing on disk; listed in %s", len(bad), meta, data / "all/bad_utts")
    files = label_maps(present, db_root)
    counts = {"all": write_data_dir(data / "all", files)}
    bad_path = data / "all" / "bad_utts"
    if bad:
        write_kv(bad_path, bad)
    else:
        bad_path.unlink(missing_ok=True)

    known = {r.utt: r.category for r in kept}
    test = resolve_list(test_real, known, bad, real=True) + resolve_list(test_fake, known, bad, real=False)
    test_spks = {files["utt2spk"][u] for u in test}
    train = [u for u, s in files["utt2spk"].items() if s not in test_spks]
    counts["test"] = write_data_dir(data / "test", files, test)
    counts["train"] = write_data_dir(data / "train", files, train)

    fold_rows = present if fold_subset == "all" else balanced_subset(present, seed)
    fold_utts = {r.utt for r in fold_rows}
    spk2cell = {r.source: f"{r.race}/{r.gender}" for r in fold_rows}
    for k, test_fold in enumerate(identity_folds(spk2cell, nfolds, seed), 1):
        rest = [s for s in spk2cell if s not in set(test_fold)]
        tr_spk, va_spk = split_valid(rest, valid_fraction, seed + k)
        for part, spks in (("train", tr_spk), ("valid", va_spk), ("test", test_fold)):
            spks = set(spks)
            utts = [u for u in fold_utts if files["utt2spk"][u] in spks]
            counts[f"fold{k}/{part}"] = write_data_dir(data / f"fold{k}" / part, files, utts)
    # what the later stages use: preprocessed once, then subset into the splits
    counts["selected"] = write_data_dir(data / "selected", files, fold_utts | set(test))
    return counts


def _write_duplicates(path: Path, dups) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as f:
        f.write("# file\tkept_line\tkept_method\tdropped_lines\tdropped_methods\treason\n")
        for keep, dropped, why in dups:
            f.write(f"{keep.rel_path}\t{keep.line}\t{keep.method}\t"
                    f"{','.join(str(r.line) for r in dropped)}\t{','.join(r.method for r in dropped)}\t{why}\n")


def summary(data: Path) -> str:
    """Counts per data dir: videos, real, identities, categories (for the log and RESULTS.md)."""
    from avdf.data.datadir import read_kv
    lines = []
    for d in sorted(p.parent for p in data.glob("**/utt2category")):
        cat = Counter(read_kv(d / "utt2category").values())
        spk = set(read_kv(d / "utt2spk").values())
        lines.append(f"{d.relative_to(data)}: {sum(cat.values())} videos, {cat.get('A', 0)} real, "
                     f"{len(spk)} identities, categories "
                     + " / ".join(f"{c} {cat.get(c, 0)}" for c in CATEGORIES))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db_root", required=True, type=Path, help="the FakeAVCeleb_v1.2 folder")
    parser.add_argument("--meta", type=Path, help="meta_data.csv (default: <db_root>/meta_data.csv)")
    parser.add_argument("--data", required=True, type=Path, help="where the data dirs go")
    parser.add_argument("--test_real", required=True, type=Path)
    parser.add_argument("--test_fake", required=True, type=Path)
    parser.add_argument("--nfolds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fold_subset", default="balanced", choices=["balanced", "all"])
    parser.add_argument("--valid_fraction", type=float, default=0.1)
    args = parser.parse_args(argv)
    setup_logging()
    try:
        prepare(args.db_root, args.data, args.test_real, args.test_fake, args.nfolds, args.seed,
                args.fold_subset, args.valid_fraction, args.meta)
    except (MetaError, DataDirError, ValueError) as e:
        print(f"data_prep.py: {e}", file=sys.stderr)
        return 1
    print(summary(args.data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
