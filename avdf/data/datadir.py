"""Kaldi data directories: the contract between recipe stages (ARCHITECTURE.md).

A data dir holds sorted (``LC_ALL=C``), space-separated text files, one utterance a line,
key first. This module reads and writes them, and checks them; the shell tools in
``utils/`` are thin wrappers over it. Every error names the file, the line and the reason.
"""
from __future__ import annotations

import os
import re
import shutil
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from avdf.utils.fileio import atomic_open

# Files keyed by utterance whose value is free text (a path, a command, a label, numbers).
UTT_FILES = (
    "wav.scp", "video.scp", "utt2spk", "utt2label", "utt2label_audio", "utt2label_video",
    "utt2attack", "utt2dur", "utt2num_frames", "utt2original", "utt2category", "text",
    "feats.scp", "faces.scp", "lips.scp", "audio.scp", "xvector.scp", "ivector.scp",
)
LABEL_WORDS = ("bonafide", "spoof")
TRIAL_WORDS = ("target", "nontarget", "spoof")
_LABEL_FILES = ("utt2label", "utt2label_audio", "utt2label_video")
_NUMERIC_FILES = {"utt2dur": float, "utt2num_frames": int}


class DataDirError(ValueError):
    """A data-dir file is malformed; the message is ``file:line: reason``."""


def c_key(s: str) -> bytes:
    """Sort key matching ``LC_ALL=C sort``: byte order of the UTF-8 encoding."""
    return s.encode("utf-8")


def _lines(path: Path) -> Iterable[tuple[int, str]]:
    try:
        f = open(path, encoding="utf-8")
    except FileNotFoundError:
        raise DataDirError(f"{path}: file does not exist") from None
    with f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if line.endswith("\r"):
                raise DataDirError(f"{path}:{n}: line ends with CR (Windows line ending)")
            yield n, line


def read_kv(path: str | os.PathLike, *, allow_empty_value: bool = False,
            check_sorted: bool = False) -> "OrderedDict[str, str]":
    """Read ``<key> <value...>`` lines into an ordered dict (value = rest of the line).

    Fails on an empty line, a duplicate key, a missing value, and (with ``check_sorted``)
    on a key out of ``LC_ALL=C`` order.
    """
    path = Path(path)
    out: OrderedDict[str, str] = OrderedDict()
    prev: str | None = None
    for n, line in _lines(path):
        if not line.strip():
            raise DataDirError(f"{path}:{n}: empty line")
        if line[0].isspace():
            raise DataDirError(f"{path}:{n}: line starts with whitespace")
        parts = line.split(None, 1)
        key = parts[0]
        value = parts[1].strip() if len(parts) > 1 else ""
        if not value and not allow_empty_value:
            raise DataDirError(f"{path}:{n}: key {key!r} has no value")
        if key in out:
            raise DataDirError(f"{path}:{n}: duplicate key {key!r}")
        if check_sorted and prev is not None and c_key(key) < c_key(prev):
            raise DataDirError(f"{path}:{n}: not sorted: {key!r} comes after {prev!r} "
                               "(sort with LC_ALL=C sort -k1,1)")
        out[key] = value
        prev = key
    return out


def read_list(path: str | os.PathLike) -> list[str]:
    """Read one token a line (an utterance or speaker list); blank lines are errors."""
    path = Path(path)
    out = []
    for n, line in _lines(path):
        tok = line.strip()
        if not tok or len(tok.split()) != 1:
            raise DataDirError(f"{path}:{n}: expected exactly one token, got {line!r}")
        out.append(tok)
    return out


def write_kv(path: str | os.PathLike, items: Mapping[str, object] | Iterable[tuple[str, object]],
             sort: bool = True) -> None:
    """Write ``<key> <value>`` lines atomically, sorted as ``LC_ALL=C`` unless ``sort=False``.

    Values that are lists or tuples are joined with spaces (``spk2utt``).
    """
    pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
    for key, _ in pairs:
        if not key or any(c.isspace() for c in key):
            raise DataDirError(f"{path}: key {key!r} is empty or contains whitespace")
    if sort:
        pairs.sort(key=lambda kv: c_key(kv[0]))
    with atomic_open(path) as f:
        for key, value in pairs:
            if isinstance(value, (list, tuple)):
                value = " ".join(str(v) for v in value)
            f.write(f"{key} {value}\n")


def write_list(path: str | os.PathLike, items: Iterable[str], sort: bool = True) -> None:
    """Write one token a line, atomically."""
    items = list(items)
    if sort:
        items.sort(key=c_key)
    with atomic_open(path) as f:
        for it in items:
            f.write(f"{it}\n")


def utt2spk_to_spk2utt(utt2spk: Mapping[str, str]) -> "OrderedDict[str, list[str]]":
    """Invert ``utt2spk``; speakers and their utterances in ``LC_ALL=C`` order."""
    spk2utt: dict[str, list[str]] = {}
    for utt, spk in utt2spk.items():
        spk2utt.setdefault(spk, []).append(utt)
    return OrderedDict((s, sorted(spk2utt[s], key=c_key)) for s in sorted(spk2utt, key=c_key))


def spk2utt_to_utt2spk(spk2utt: Mapping[str, str | Sequence[str]]) -> "OrderedDict[str, str]":
    """Expand ``spk2utt`` (values as space-separated strings or lists) into ``utt2spk``."""
    out: dict[str, str] = {}
    for spk, utts in spk2utt.items():
        for utt in (utts.split() if isinstance(utts, str) else utts):
            out[utt] = spk
    return OrderedDict((u, out[u]) for u in sorted(out, key=c_key))


def read_trials(path: str | os.PathLike) -> list[tuple[str, str, str]]:
    """Read Kaldi trials ``<enroll> <test> target|nontarget|spoof``."""
    path = Path(path)
    out = []
    for n, line in _lines(path):
        f = line.split()
        if len(f) != 3:
            raise DataDirError(f"{path}:{n}: expected 3 fields '<enroll> <test> <label>', got {len(f)}")
        if f[2] not in TRIAL_WORDS:
            raise DataDirError(f"{path}:{n}: label {f[2]!r} is not one of {'|'.join(TRIAL_WORDS)}")
        out.append((f[0], f[1], f[2]))
    return out


def write_trials(path: str | os.PathLike, trials: Iterable[tuple[str, str, str]]) -> None:
    """Write trials in the given order (trial lists are not re-sorted), atomically."""
    with atomic_open(path) as f:
        for e, t, lab in trials:
            f.write(f"{e} {t} {lab}\n")


class DataDir:
    """A Kaldi data directory; files are read on first access and cached."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_dir():
            raise DataDirError(f"{self.path}: data directory does not exist")
        self._cache: dict[str, OrderedDict[str, str]] = {}

    def has(self, name: str) -> bool:
        return (self.path / name).is_file()

    def read(self, name: str) -> "OrderedDict[str, str]":
        """The key -> value map of file ``name`` (for example ``utt2label``)."""
        if name not in self._cache:
            self._cache[name] = read_kv(self.path / name)
        return self._cache[name]

    def utts(self) -> list[str]:
        """Utterance keys, from the first of wav.scp / video.scp / utt2spk / utt2label present."""
        for name in ("wav.scp", "video.scp", "utt2spk", "utt2label", "feats.scp"):
            if self.has(name):
                return list(self.read(name))
        raise DataDirError(f"{self.path}: no wav.scp, video.scp, utt2spk, utt2label or feats.scp")

    def __repr__(self) -> str:
        return f"DataDir({str(self.path)!r})"


_KEY_RE = re.compile(r"^\S+$")
# Kaldi's per-speaker scp files; every other *.scp and every utt2* file is per utterance.
SPK_SCP_FILES = ("cmvn.scp", "spk_xvector.scp", "spk_ivector.scp")


def per_utt_files(path: str | os.PathLike) -> list[str]:
    """Names of the per-utterance files in a data dir: those of :data:`UTT_FILES` in that
    order (``wav.scp`` first, the reference), then any other ``utt2*`` or ``*.scp``."""
    names = _data_file_names(path)
    known = [n for n in UTT_FILES if n in names]
    other = [n for n in sorted(names) if n not in UTT_FILES and n not in SPK_SCP_FILES
             and (n.startswith("utt2") or n.endswith(".scp"))]
    return known + other


def per_spk_files(path: str | os.PathLike) -> list[str]:
    """Names of the per-speaker files other than ``spk2utt`` (``spk2gender``, ``cmvn.scp``)."""
    return [n for n in sorted(_data_file_names(path))
            if (n.startswith("spk2") and n != "spk2utt") or n in SPK_SCP_FILES]


def _data_file_names(path: str | os.PathLike) -> set[str]:
    d = Path(path)
    if not d.is_dir():
        raise DataDirError(f"{d}: data directory does not exist")
    return {p.name for p in d.iterdir() if p.is_file() and not p.name.startswith(".")}


def validate_data_dir(path: str | os.PathLike, *, check_files: bool = False,
                      require: Sequence[str] = (), ignore: Sequence[str] = ()) -> list[str]:
    """Check a data dir; raise :class:`DataDirError` (``file:line: reason``) at the first problem.

    Checks that every per-utterance file (:func:`per_utt_files`, minus ``ignore``) is
    sorted with unique, printable keys and no empty values, and that they all cover the
    same utterances; label files use ``bonafide|spoof``; ``spk2utt`` is the inverse of
    ``utt2spk`` and per-speaker files cover its speakers; numeric files parse; ``trials``
    is well formed; and, with ``check_files``, that every file named in an scp (a plain
    path or a kaldiio ``file.ark:offset``) exists. Returns the sorted utterance list.
    """
    d = Path(path)
    if not d.is_dir():
        raise DataDirError(f"{d}: data directory does not exist")
    for name in require:
        if not (d / name).is_file():
            raise DataDirError(f"{d}/{name}: required file is missing")
    present = [n for n in per_utt_files(d) if n not in ignore]
    if not present:
        raise DataDirError(f"{d}: no data files (expected wav.scp, video.scp, utt2spk, ...)")
    maps = {n: read_kv(d / n, check_sorted=True) for n in present}
    ref_name = present[0]
    for name in present:
        _check_keys(d / name, maps[name])
        if name != ref_name:
            _check_same_keys(d / name, maps[name], d / ref_name, maps[ref_name])
    for name in present:
        if name in _LABEL_FILES:
            _check_values(d / name, maps[name], lambda v: v in LABEL_WORDS, "is not bonafide|spoof")
        elif name in _NUMERIC_FILES:
            _check_values(d / name, maps[name], _parses(_NUMERIC_FILES[name]), "is not a number")
        elif name == "utt2spk":
            _check_values(d / name, maps[name], lambda v: _KEY_RE.match(v) is not None,
                          "speaker id is empty or has whitespace")
    if (d / "spk2utt").is_file() and "utt2spk" not in maps:
        raise DataDirError(f"{d}/spk2utt: present without utt2spk "
                           "(make it with utils/spk2utt_to_utt2spk.pl, or run utils/fix_data_dir.sh)")
    if "utt2spk" in maps:
        expect = utt2spk_to_spk2utt(maps["utt2spk"])
        if (d / "spk2utt").is_file():
            _check_spk2utt(d / "spk2utt", expect)
        for name in per_spk_files(d):
            if name not in ignore:
                spk_map = read_kv(d / name, check_sorted=True)
                _check_same_keys(d / name, spk_map, d / "utt2spk", expect, what="speaker")
    if (d / "trials").is_file():
        read_trials(d / "trials")
    if check_files:
        for name in present:
            if name.endswith(".scp"):
                _check_paths(d / name, maps[name])
    return list(maps[ref_name])


def _check_keys(path: Path, mapping: Mapping[str, str]) -> None:
    for n, key in enumerate(mapping, 1):
        if not key.isprintable():
            raise DataDirError(f"{path}:{n}: key {key!r} has a non-printable character")


def _check_same_keys(path: Path, keys: Mapping[str, str], ref_path: Path, ref: Mapping[str, str],
                     what: str = "utterance") -> None:
    """Both files are sorted: walk them together and report the first difference by line."""
    if keys.keys() == ref.keys():
        return
    mine, theirs = list(keys), list(ref)
    i = j = 0
    while i < len(mine) and j < len(theirs) and mine[i] == theirs[j]:
        i, j = i + 1, j + 1
    n_missing = len(set(theirs) - set(mine))
    n_extra = len(set(mine) - set(theirs))
    if j < len(theirs) and (i == len(mine) or c_key(theirs[j]) < c_key(mine[i])):
        raise DataDirError(f"{path}:{i + 1}: no line for {what} {theirs[j]!r}, which is in "
                           f"{ref_path.name}:{j + 1} ({n_missing} missing in all)")
    raise DataDirError(f"{path}:{i + 1}: {what} {mine[i]!r} is not in {ref_path.name} "
                       f"({n_extra} extra in all)")


def _check_spk2utt(path: Path, expect: Mapping[str, list[str]]) -> None:
    spk2utt = read_kv(path, check_sorted=True)
    for n, (spk, utts) in enumerate(spk2utt.items(), 1):
        if spk not in expect:
            raise DataDirError(f"{path}:{n}: speaker {spk!r} is not in utt2spk")
        if utts.split() != expect[spk]:
            raise DataDirError(f"{path}:{n}: utterances of {spk!r} do not match utt2spk "
                               "(regenerate with utils/utt2spk_to_spk2utt.pl)")
    if len(spk2utt) != len(expect):
        miss = next(s for s in expect if s not in spk2utt)
        n = 1 + sum(c_key(s) < c_key(miss) for s in spk2utt)
        raise DataDirError(f"{path}:{n}: no line for speaker {miss!r} of utt2spk")


def _parses(typ):
    def ok(v: str) -> bool:
        try:
            typ(v)
            return True
        except ValueError:
            return False
    return ok


def _check_values(path: Path, mapping: Mapping[str, str], ok, reason: str) -> None:
    for n, (key, value) in enumerate(mapping.items(), 1):
        if not ok(value):
            raise DataDirError(f"{path}:{n}: value {value!r} of {key!r} {reason}")


_ARK_OFFSET = re.compile(r":\d+(\[[^\]]*\])?$")


def _check_paths(path: Path, mapping: Mapping[str, str]) -> None:
    for n, (key, value) in enumerate(mapping.items(), 1):
        if value.endswith("|"):
            continue  # a pipe: the command is checked when it runs
        file = value if os.path.isfile(value) else _ARK_OFFSET.sub("", value)
        if not os.path.isfile(file):
            raise DataDirError(f"{path}:{n}: file {file!r} of {key!r} does not exist")


# ----------------------------------------------------------------------------------------
# Whole-directory operations behind fix_data_dir.sh, subset_data_dir.sh, combine_data.sh
# and split_data.sh. A directory is loaded into memory, changed, and written back file by
# file with write_kv (atomic), spk2utt always regenerated from utt2spk.

@dataclass
class _Loaded:
    utt: dict[str, "OrderedDict[str, str]"]   # per-utterance files (utt2spk included)
    spk: dict[str, "OrderedDict[str, str]"]   # per-speaker files other than spk2utt
    trials: list[tuple[str, str, str]] | None

    def speakers(self) -> set[str]:
        return set(self.utt["utt2spk"].values()) if "utt2spk" in self.utt else set()

    def utts(self) -> list[str]:
        return list(next(iter(self.utt.values())))


def _load(path: Path) -> _Loaded:
    """Validate, then load, a data dir."""
    validate_data_dir(path)
    trials = read_trials(path / "trials") if (path / "trials").is_file() else None
    return _Loaded({n: read_kv(path / n) for n in per_utt_files(path)},
                   {n: read_kv(path / n) for n in per_spk_files(path)}, trials)


def _subset(data: _Loaded, keep: set[str], with_trials: bool = True) -> _Loaded:
    """The utterances in ``keep``, their speakers, and the trials whose both sides remain
    (a side that names no utterance or speaker of ``data`` refers elsewhere and is kept)."""
    utt = {n: OrderedDict((k, v) for k, v in m.items() if k in keep) for n, m in data.utt.items()}
    out = _Loaded(utt, {}, None)
    spks = out.speakers()
    out.spk = {n: OrderedDict((k, v) for k, v in m.items() if k in spks) for n, m in data.spk.items()}
    if with_trials and data.trials is not None:
        known = set(data.utts()) | data.speakers()
        kept = keep | spks
        out.trials = [t for t in data.trials if all(s in kept or s not in known for s in t[:2])]
    return out


def _write(dest: Path, data: _Loaded) -> None:
    """Write every file of ``data`` into ``dest`` and remove the data files that ``data`` no
    longer has (they would disagree with the rest)."""
    dest.mkdir(parents=True, exist_ok=True)
    stale = set(per_utt_files(dest)) | set(per_spk_files(dest)) | {"spk2utt", "trials"}
    for name, mapping in {**data.utt, **data.spk}.items():
        write_kv(dest / name, mapping)
        stale.discard(name)
    if "utt2spk" in data.utt:
        write_kv(dest / "spk2utt", utt2spk_to_spk2utt(data.utt["utt2spk"]))
        stale.discard("spk2utt")
    if data.trials is not None:
        write_trials(dest / "trials", data.trials)
        stale.discard("trials")
    for name in stale:
        (dest / name).unlink(missing_ok=True)


def subset_data_dir(src: str | os.PathLike, dest: str | os.PathLike, utts: Iterable[str]) -> list[str]:
    """Write the utterances ``utts`` of ``src`` (every per-utterance file, spk2utt, the
    per-speaker files and the trials whose both sides remain) to ``dest``.
    Returns the requested utterances that ``src`` does not have."""
    data = _load(Path(src))
    have = set(data.utts())
    wanted = set(utts)
    if not wanted & have:
        raise DataDirError(f"{src}: none of the {len(wanted)} requested utterances is in this data dir")
    _write(Path(dest), _subset(data, wanted & have))
    return sorted(wanted - have, key=c_key)


def utts_of_speakers(path: str | os.PathLike, speakers: Iterable[str]) -> list[str]:
    """The utterances of ``speakers`` according to ``path/utt2spk``."""
    spks = set(speakers)
    return [u for u, s in read_kv(Path(path) / "utt2spk").items() if s in spks]


def combine_data_dirs(dest: str | os.PathLike, srcs: Sequence[str | os.PathLike]) -> list[str]:
    """Write the union of ``srcs`` to ``dest``. A file is combined when every source has
    it (the others are skipped, with a warning returned); a key in two sources is an error."""
    loaded = [(Path(s), _load(Path(s))) for s in srcs]
    warnings = []
    out = _Loaded({}, {}, None)
    for kind in ("utt", "spk"):
        names = {n for _, d in loaded for n in getattr(d, kind)}
        for name in sorted(names, key=lambda n: ((UTT_FILES + (n,)).index(n), n)):
            lacking = [str(p) for p, d in loaded if name not in getattr(d, kind)]
            if lacking:
                warnings.append(f"{name} skipped: not in {', '.join(lacking)}")
                continue
            getattr(out, kind)[name] = _union(name, [(p, getattr(d, kind)[name]) for p, d in loaded],
                                              allow_same=(kind == "spk"))
    if not out.utt:
        raise DataDirError(f"no per-utterance file is in all of {', '.join(map(str, srcs))}")
    if all(d.trials is not None for _, d in loaded):
        out.trials = [t for _, d in loaded for t in d.trials]
    elif any(d.trials is not None for _, d in loaded):
        warnings.append("trials skipped: not in every source")
    _write(Path(dest), out)
    return warnings


def _union(name: str, parts: list[tuple[Path, Mapping[str, str]]], allow_same: bool) -> "OrderedDict[str, str]":
    out: dict[str, str] = {}
    origin: dict[str, Path] = {}
    for path, mapping in parts:
        for key, value in mapping.items():
            if key in out and not (allow_same and out[key] == value):
                raise DataDirError(f"{path}/{name}: key {key!r} is also in {origin[key]}/{name}; "
                                   "combined data dirs must not share keys")
            out[key], origin[key] = value, path
    return OrderedDict(sorted(out.items(), key=lambda kv: c_key(kv[0])))


def split_data_dir(path: str | os.PathLike, num_jobs: int, per_utt: bool = False) -> Path:
    """Kaldi's split: ``path/splitN/1..N`` (``splitNutt`` with ``per_utt``), each a data dir.

    By speaker (the default) a speaker's utterances stay in one part: whole speakers, in
    sorted order, go into N contiguous groups of near-equal utterance counts. With
    ``per_utt``, the sorted utterances are cut into N contiguous near-equal slices.
    """
    d = Path(path)
    data = _load(d)
    utts = data.utts()
    if num_jobs < 1:
        raise DataDirError(f"{d}: cannot split into {num_jobs} parts")
    if per_utt:
        if num_jobs > len(utts):
            raise DataDirError(f"{d}: cannot split {len(utts)} utterances into {num_jobs} parts")
        groups = [utts[i * len(utts) // num_jobs:(i + 1) * len(utts) // num_jobs] for i in range(num_jobs)]
    else:
        if "utt2spk" not in data.utt:
            raise DataDirError(f"{d}: no utt2spk, so it cannot be split by speaker (use --per-utt)")
        spk2utt = utt2spk_to_spk2utt(data.utt["utt2spk"])
        if num_jobs > len(spk2utt):
            raise DataDirError(f"{d}: cannot split {len(spk2utt)} speakers into {num_jobs} parts "
                               "without splitting a speaker (use fewer jobs, or --per-utt)")
        groups = [[u for s in spks for u in spk2utt[s]]
                  for spks in _balanced_groups(list(spk2utt), [len(v) for v in spk2utt.values()], num_jobs)]
    out = d / f"split{num_jobs}{'utt' if per_utt else ''}"
    for i, group in enumerate(groups, 1):
        _write(out / str(i), _subset(data, set(group), with_trials=False))
    return out


def _balanced_groups(items: list[str], sizes: list[int], n: int) -> list[list[str]]:
    """Cut ``items`` into ``n`` non-empty contiguous groups whose summed sizes are near
    ``total / n``: each cut goes where the running total is closest to its target."""
    cum = [0]
    for s in sizes:
        cum.append(cum[-1] + s)
    cuts = [0]
    for k in range(1, n):
        lo, hi = cuts[-1] + 1, len(items) - (n - k)
        target = cum[-1] * k / n
        cuts.append(min(range(lo, hi + 1), key=lambda i: (abs(cum[i] - target), i)))
    cuts.append(len(items))
    return [items[a:b] for a, b in zip(cuts, cuts[1:])]


def fix_data_dir(path: str | os.PathLike) -> list[str]:
    """Make a data dir valid by keeping what is consistent (Kaldi's fix_data_dir.sh).

    Lines that do not parse are dropped and files re-sorted; an utterance stays only if
    every per-utterance file has it (with a valid label / number / speaker) and its
    speaker is in every per-speaker file; a key given twice with different values is
    dropped. spk2utt is regenerated; trials naming a dropped utterance or speaker go.
    A valid dir is left as it is; otherwise the old files are kept in ``path/.backup/``,
    with the dropped utterances and why in ``.backup/dropped``. Returns the report lines.
    """
    d = Path(path)
    try:
        return [f"{d}: valid, nothing to fix ({len(validate_data_dir(d))} utterances)"]
    except DataDirError:
        pass
    names = per_utt_files(d)
    report: list[str] = []
    maps: dict[str, OrderedDict[str, str]] = {}
    why: dict[str, str] = {}  # dropped utterance -> first reason
    if "utt2spk" not in names and (d / "spk2utt").is_file():
        spk2utt, _ = _read_lenient(d / "spk2utt", report)
        maps["utt2spk"] = spk2utt_to_utt2spk(spk2utt)
        report.append("utt2spk: made from spk2utt")
    for name in names:
        maps[name], conflicts = _read_lenient(d / name, report)
        for key in conflicts:
            why.setdefault(key, f"{name} has it twice with different values")
    if not maps:
        raise DataDirError(f"{d}: no data files (expected wav.scp, video.scp, utt2spk, ...)")
    everything = set().union(*maps.values())
    for name, mapping in maps.items():
        for key in everything - mapping.keys():
            why.setdefault(key, f"not in {name}")
        ok = _value_check(name)
        for key, value in mapping.items():
            if ok is not None and not ok(value):
                why.setdefault(key, f"{name} value {value!r} is not valid")
    spk_maps = {n: _read_lenient(d / n, report)[0] for n in per_spk_files(d)}
    if "utt2spk" in maps:
        for name, mapping in spk_maps.items():
            for utt, spk in maps["utt2spk"].items():
                if spk not in mapping:
                    why.setdefault(utt, f"speaker {spk!r} not in {name}")
    keep = everything - why.keys()
    if not keep:
        raise DataDirError(f"{d}: no utterance would remain (e.g. {next(iter(why.items()), ('-', '-'))}); "
                           "nothing changed")
    known = _Loaded({n: OrderedDict(sorted(m.items(), key=lambda kv: c_key(kv[0]))) for n, m in maps.items()},
                    spk_maps, _read_trials_lenient(d / "trials", report) if (d / "trials").is_file() else None)
    fixed = _subset(known, keep)
    backup = d / ".backup"
    backup.mkdir(exist_ok=True)
    for name in [*names, *spk_maps, "spk2utt", "trials"]:
        if (d / name).is_file():
            shutil.copy2(d / name, backup / name)
    write_kv(backup / "dropped", why)
    _write(d, fixed)
    if known.trials is not None and len(fixed.trials) != len(known.trials):
        report.append(f"trials: dropped {len(known.trials) - len(fixed.trials)} trials of dropped utterances or speakers")
    dropped = sorted(everything - keep, key=c_key)
    report.insert(0, f"{d}: kept {len(keep)} of {len(everything)} utterances, dropped {len(dropped)}"
                     + (f" (all listed in {backup}/dropped; old files in {backup}/)" if dropped else ""))
    report += [f"dropped {u}: {why[u]}" for u in dropped[:20]]
    if len(dropped) > 20:
        report.append(f"... and {len(dropped) - 20} more")
    return report


def _value_check(name: str):
    if name in _LABEL_FILES:
        return lambda v: v in LABEL_WORDS
    if name in _NUMERIC_FILES:
        return _parses(_NUMERIC_FILES[name])
    if name == "utt2spk":
        return lambda v: _KEY_RE.match(v) is not None
    return None


def _read_lenient(path: Path, report: list[str]) -> tuple["OrderedDict[str, str]", set[str]]:
    """Read ``<key> <value>`` lines, dropping what does not parse (noted in ``report``).
    Returns (mapping, keys given twice with different values)."""
    out: OrderedDict[str, str] = OrderedDict()
    conflicts: set[str] = set()
    notes: list[str] = []
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\r\n")
            parts = line.split(None, 1)
            if len(parts) < 2 or not parts[1].strip():
                notes.append(f"{path}:{n}: dropped line {line!r} (no key and value)")
                continue
            key, value = parts[0], parts[1].strip()
            if key in out and out[key] != value:
                conflicts.add(key)
            elif key in out:
                notes.append(f"{path}:{n}: dropped repeated line for {key!r}")
            out[key] = value
    report += notes[:20] + ([f"{path}: ... and {len(notes) - 20} more dropped lines"] if len(notes) > 20 else [])
    return out, conflicts


def _read_trials_lenient(path: Path, report: list[str]) -> list[tuple[str, str, str]]:
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            fields = line.split()
            if len(fields) == 3 and fields[2] in TRIAL_WORDS:
                out.append((fields[0], fields[1], fields[2]))
            elif line.strip():
                report.append(f"{path}:{n}: dropped malformed trial {line.rstrip()!r}")
    return out
