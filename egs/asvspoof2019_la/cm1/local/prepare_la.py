#!/usr/bin/env python3
"""ASVspoof 2019 LA data preparation: Kaldi data dirs from the official tree.

    python local/prepare_la.py --db_root /path/to/LA --out data [--skip_bad false]
        [--check_files exist] [--flac_pipe false] [--asv true]

Writes ``data/{train,dev,eval}`` (wav.scp, utt2spk, spk2utt, utt2label, utt2attack) from
the CM protocols and, with ``--asv true``, ``data/{dev,eval}_asv`` from the ASV protocols:
the CM test utterances plus the enrolment utterances (wav.scp, utt2spk, spk2utt,
utt2label, utt2attack), ``trials`` (``<speaker> <utt> target|nontarget|spoof`` from the
``gi`` trial list), ``enroll_spk2utt`` (``<speaker> <utt> ...`` from the female and male
``trn`` lists), ``enroll_spk2gender`` and ``asv_scores`` (the organisers' ASV scores as
``<speaker> <utt> <score>``, checked line by line against the trial list).

The root is the directory holding ``ASVspoof2019_LA_cm_protocols/``: ``--db_root`` itself,
or a folder up to three levels below (copies nested as ``LA/LA/``). Protocol lines are
parsed by position, as DATASETS.md section 1.2 says: field 2 is the utterance, the last
field the key, the field before it the attack (``A01``..``A19`` or ``-``), which also reads
the re-cut 4-column copies. A malformed line, a duplicate utterance, a missing or empty
audio file (``--check_files exist``, the default: only the files' sizes are looked at)
and, with ``--check_files true`` (every FLAC opened), audio that is unreadable,
truncated or not 16 kHz stop with ``file:line: reason``; ``--skip_bad true`` logs them to
``data/<set>/bad_utts`` and goes on. ``--check_files false`` touches no audio file at all.
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from avdf.data.audio import pipe_command
from avdf.data.datadir import DataDirError, utt2spk_to_spk2utt, write_kv, write_list
from avdf.utils.log import setup_logging

logger = logging.getLogger("prepare_la")

CM_PROTOCOLS = {"train": "ASVspoof2019.LA.cm.train.trn.txt", "dev": "ASVspoof2019.LA.cm.dev.trl.txt",
                "eval": "ASVspoof2019.LA.cm.eval.trl.txt"}
LETTER = {"train": "T", "dev": "D", "eval": "E"}
ATTACK_RE = re.compile(r"^(A\d\d|-)$")
UTT_RE = re.compile(r"^LA_([TDE])_\d{7}$")
SAMPLE_RATE = 16000


def find_root(db_root: Path) -> Path:
    """The directory that holds ``ASVspoof2019_LA_cm_protocols`` (db_root or up to 3 levels below)."""
    if not db_root.is_dir():
        raise DataDirError(f"{db_root}: --db_root does not exist or is not a directory")
    for depth in range(4):
        hits = sorted(p.parent for p in db_root.glob("/".join(["*"] * depth + ["ASVspoof2019_LA_cm_protocols"]))
                      if p.is_dir())
        if len(hits) > 1:  # two copies (LA/ and LA_old/, say): which one is meant is the user's call
            raise DataDirError(f"{db_root}: {len(hits)} LA roots at the same depth ({', '.join(map(str, hits[:3]))}); "
                               "point --db_root at the one to use")
        if hits:
            return hits[0]
    raise DataDirError(f"{db_root}: no ASVspoof2019_LA_cm_protocols/ here or up to 3 levels below; "
                       "point --db_root at the unpacked LA/ folder of LA.zip")


@dataclass
class Bad:
    """Problems found; raised at once unless ``skip`` (then collected per set)."""

    skip: bool
    items: dict[str, dict[str, str]] = field(default_factory=dict)

    def __call__(self, set_name: str, key: str, msg: str) -> None:
        if not self.skip:
            raise DataDirError(msg)
        logger.warning("skipping %s: %s", key, msg)
        self.items.setdefault(set_name, {})[key] = msg


def _lines(path: Path):
    if not path.is_file():
        raise DataDirError(f"{path}: protocol file is missing")
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                line = raw.decode("ascii")
            except UnicodeDecodeError:
                yield n, None, "not ASCII"
                continue
            yield n, line.strip(), None  # strip() also drops CR of CRLF copies


@dataclass
class CMEntry:
    utt: str
    spk: str
    attack: str
    label: str
    line: int


def parse_cm_protocol(path: Path, split: str, bad: Bad) -> dict[str, CMEntry]:
    """``{utt: CMEntry}`` from one CM protocol (5 columns, or the 4-column re-cuts)."""
    out: dict[str, CMEntry] = {}
    for n, line, err in _lines(path):
        where = f"{path}:{n}"
        if err:
            bad(split, f"{path.name}:{n}", f"{where}: {err}")
            continue
        if not line:
            continue  # a trailing empty line
        f = line.split()
        if len(f) < 4:
            bad(split, f"{path.name}:{n}", f"{where}: expected 'SPEAKER UTT - ATTACK KEY', got {len(f)} fields: {line!r}")
            continue
        spk, utt, attack, label = f[0], f[1], f[-2], f[-1]
        m = UTT_RE.match(utt)
        problem = None
        if not m:
            problem = f"utterance id {utt!r} is not LA_{LETTER[split]}_<7 digits>"
        elif m.group(1) != LETTER[split]:
            problem = f"utterance {utt!r} does not belong to the {split} set (LA_{LETTER[split]}_...)"
        elif label not in ("bonafide", "spoof"):
            problem = f"key {label!r} is not bonafide|spoof"
        elif not ATTACK_RE.match(attack):
            problem = f"attack {attack!r} is not A01..A19 or -"
        elif (label == "bonafide") != (attack == "-"):
            problem = f"{label} utterance with attack {attack!r}"
        elif utt in out:
            problem = f"duplicate utterance {utt!r} (first at line {out[utt].line})"
        if problem:
            bad(split, utt if m else f"{path.name}:{n}", f"{where}: {problem}")
            continue
        out[utt] = CMEntry(utt, spk, attack, label, n)
    if not out:
        raise DataDirError(f"{path}: no usable protocol line")
    return out


def flac_path(root: Path, split: str, utt: str) -> str:
    return f"{root}/ASVspoof2019_LA_{split}/flac/{utt}.flac"  # a string: Path() is slow at 120k files


def check_audio(path: str, level: str) -> str | None:
    """The reason ``path`` is unusable, or None. ``level``: ``false`` (no check), ``exist``
    (missing or empty), ``true`` (also the header and the last samples)."""
    if level == "false":
        return None
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        return "audio file is missing"
    if size == 0:
        return "audio file is empty"
    if level == "exist":
        return None
    import soundfile as sf
    try:
        info = sf.info(path)
        if info.samplerate != SAMPLE_RATE:
            return f"sample rate {info.samplerate} Hz, expected {SAMPLE_RATE}"
        if info.frames <= 0:
            return "no samples"
        with sf.SoundFile(path) as f:  # a truncated FLAC fails when its end is read
            f.seek(max(0, info.frames - 1024))
            if len(f.read(1024, dtype="int16")) == 0:
                return "truncated: cannot read the last samples"
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        return f"unreadable: {e}"
    return None


def wav_entry(path: str, pipe: bool) -> str:
    return pipe_command("sox", path, "-t", "wav", "-") if pipe else str(path)


def write_cm_set(out: Path, split: str, entries: dict[str, CMEntry], root: Path, proto: Path,
                 bad: Bad, check_files: str, pipe: bool) -> None:
    wav, utt2spk, utt2label, utt2attack = {}, {}, {}, {}
    for utt, e in entries.items():
        path = flac_path(root, split, utt)
        reason = check_audio(path, check_files)
        if reason:
            bad(split, utt, f"{proto}:{e.line}: {path}: {reason}")
            continue
        wav[utt] = wav_entry(path, pipe)
        utt2spk[utt] = e.spk
        utt2label[utt] = e.label
        utt2attack[utt] = e.attack
    d = out / split
    d.mkdir(parents=True, exist_ok=True)
    write_kv(d / "wav.scp", wav)
    write_kv(d / "utt2spk", utt2spk)
    write_kv(d / "spk2utt", utt2spk_to_spk2utt(utt2spk))
    write_kv(d / "utt2label", utt2label)
    write_kv(d / "utt2attack", utt2attack)
    if bad.items.get(split):
        write_kv(d / "bad_utts", bad.items[split])
    elif (d / "bad_utts").exists():
        (d / "bad_utts").unlink()
    n_bona = sum(v == "bonafide" for v in utt2label.values())
    attacks = sorted({a for a in utt2attack.values() if a != "-"})
    logger.info("data/%s: %d utterances, %d bona fide, %d speakers, attacks %s", split, len(wav), n_bona,
                len(set(utt2spk.values())), ",".join(attacks))


def parse_enrolment(asv_dir: Path, split: str, set_name: str, bad: Bad) -> tuple[dict[str, list[str]], dict[str, str]]:
    """``({speaker: [enrolment utts]}, {speaker: m|f})`` from the female and male trn lists."""
    enroll: dict[str, list[str]] = {}
    gender: dict[str, str] = {}
    for g, word in (("f", "female"), ("m", "male")):
        path = asv_dir / f"ASVspoof2019.LA.asv.{split}.{word}.trn.txt"
        for n, line, err in _lines(path):
            where = f"{path}:{n}"
            if err:
                bad(set_name, f"{path.name}:{n}", f"{where}: {err}")
                continue
            if not line:
                continue
            f = line.split()
            utts = [u for u in f[1].split(",") if u] if len(f) == 2 else []
            if not utts or any(not UTT_RE.match(u) for u in utts):
                bad(set_name, f"{path.name}:{n}", f"{where}: expected 'SPEAKER utt1,utt2,...', got {line!r}")
                continue
            if f[0] in enroll:
                bad(set_name, f"{path.name}:{n}", f"{where}: speaker {f[0]!r} enrolled twice")
                continue
            enroll[f[0]], gender[f[0]] = utts, g
    return enroll, gender


def write_asv_set(out: Path, split: str, root: Path, cm: dict[str, CMEntry], bad: Bad,
                  check_files: str, pipe: bool) -> None:
    set_name = f"{split}_asv"
    asv_dir = root / "ASVspoof2019_LA_asv_protocols"
    trl = asv_dir / f"ASVspoof2019.LA.asv.{split}.gi.trl.txt"
    scores_path = root / "ASVspoof2019_LA_asv_scores" / f"ASVspoof2019.LA.asv.{split}.gi.trl.scores.txt"
    enroll, gender = parse_enrolment(asv_dir, split, set_name, bad)
    trl_lines = [(n, line) for n, line, err in _lines(trl) if line or err]
    # the organisers' ASV scores: one line per trial line, in the same order
    score_lines = [(n, line) for n, line, err in _lines(scores_path) if line or err]
    if len(score_lines) != len(trl_lines):
        raise DataDirError(f"{scores_path}: {len(score_lines)} lines, but {trl} has {len(trl_lines)} "
                           "(expected one ASV score per trial, in the same order)")
    trials: list[tuple[str, str, str]] = []
    scores: list[str] = []
    for (n, line), (m, score_line) in zip(trl_lines, score_lines):
        where = f"{trl}:{n}"
        f = (line or "").split()
        problem = None
        if line is None:
            problem = "not ASCII"
        elif len(f) != 4:
            problem = f"expected 'SPEAKER UTT ATTACK|bonafide target|nontarget|spoof', got {len(f)} fields"
        elif f[3] not in ("target", "nontarget", "spoof"):
            problem = f"key {f[3]!r} is not target|nontarget|spoof"
        elif (f[2] == "bonafide") == (f[3] == "spoof") or not (f[2] == "bonafide" or re.match(r"^A\d\d$", f[2])):
            problem = f"{f[3]} trial with source {f[2]!r}"
        elif f[1] not in cm:
            problem = f"test utterance {f[1]!r} is not in the {split} CM protocol"
        elif f[0] not in enroll:
            problem = f"claimed speaker {f[0]!r} has no enrolment in the {split} trn lists"
        if problem:
            bad(set_name, f"{trl.name}:{n}", f"{where}: {problem}")
            continue
        s = (score_line or "").split()
        if len(s) != 3 or s[0] != f[2] or s[1] != f[3]:
            raise DataDirError(f"{scores_path}:{m}: {score_line!r} does not match {trl.name}:{n} ({f[2]} {f[3]})")
        try:
            float(s[2])
        except ValueError:
            raise DataDirError(f"{scores_path}:{m}: score {s[2]!r} is not a number") from None
        trials.append((f[0], f[1], f[3]))
        scores.append(s[2])
    if not trials:
        raise DataDirError(f"{trl}: no usable trial")
    # the data dir: test utterances of the trials plus the enrolment utterances
    wav, utt2spk, utt2label, utt2attack = {}, {}, {}, {}
    tests = {t for _, t, _ in trials}
    for utt in tests:
        e = cm[utt]
        wav[utt] = wav_entry(flac_path(root, split, utt), pipe)
        utt2spk[utt], utt2label[utt], utt2attack[utt] = e.spk, e.label, e.attack
    for spk, utts in enroll.items():
        for utt in utts:
            path = flac_path(root, split, utt)
            reason = check_audio(path, check_files)
            if reason:
                bad(set_name, utt, f"{asv_dir}: enrolment utterance of {spk}: {path}: {reason}")
                continue
            wav[utt] = wav_entry(path, pipe)
            utt2spk[utt], utt2label[utt], utt2attack[utt] = spk, "bonafide", "-"
    d = out / set_name
    d.mkdir(parents=True, exist_ok=True)
    write_kv(d / "wav.scp", wav)
    write_kv(d / "utt2spk", utt2spk)
    write_kv(d / "spk2utt", utt2spk_to_spk2utt(utt2spk))
    write_kv(d / "utt2label", utt2label)
    write_kv(d / "utt2attack", utt2attack)
    write_kv(d / "enroll_spk2utt", {s: sorted(u) for s, u in enroll.items()})
    write_kv(d / "enroll_spk2gender", gender)
    write_list(d / "trials", [" ".join(t) for t in trials], sort=False)
    write_list(d / "asv_scores", [f"{e} {t} {s}" for (e, t, _), s in zip(trials, scores)], sort=False)
    if bad.items.get(set_name):
        write_kv(d / "bad_utts", bad.items[set_name])
    counts = {k: sum(1 for *_, lab in trials if lab == k) for k in ("target", "nontarget", "spoof")}
    logger.info("data/%s: %d trials (%s), %d enrolled speakers, %d enrolment utterances", set_name, len(trials),
                ", ".join(f"{v} {k}" for k, v in counts.items()), len(enroll), sum(len(u) for u in enroll.values()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db_root", required=True, type=Path, help="the LA folder (or a folder above it)")
    parser.add_argument("--out", default=Path("data"), type=Path)
    parser.add_argument("--sets", nargs="+", default=["train", "dev", "eval"], choices=list(CM_PROTOCOLS))
    parser.add_argument("--asv", default="true", choices=("true", "false"), help="also write dev_asv and eval_asv")
    parser.add_argument("--skip_bad", default="false", choices=("true", "false"))
    parser.add_argument("--check_files", default="exist", choices=("false", "exist", "true"),
                        help="false: audio is not touched; exist: missing or empty files are bad; "
                        "true: also open every FLAC for its rate, length and truncation (slow on the full set)")
    parser.add_argument("--flac_pipe", default="false", choices=("true", "false"),
                        help="wav.scp through 'sox x.flac -t wav - |' instead of the FLAC path")
    args = parser.parse_args(argv)
    setup_logging()
    bad = Bad(args.skip_bad == "true")
    check, pipe = args.check_files, args.flac_pipe == "true"
    try:
        root = find_root(args.db_root.resolve())
        logger.info("LA root: %s", root)
        for split in args.sets:
            proto = root / "ASVspoof2019_LA_cm_protocols" / CM_PROTOCOLS[split]
            entries = parse_cm_protocol(proto, split, bad)
            write_cm_set(args.out, split, entries, root, proto, bad, check, pipe)
            if args.asv == "true" and split in ("dev", "eval"):
                write_asv_set(args.out, split, root, entries, bad, check, pipe)
    except DataDirError as e:
        print(f"prepare_la: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.getcwd())
    sys.exit(main())
