#!/usr/bin/env python3
"""VoxCeleb1/2 data preparation (DATASETS.md section 3), shared by v1, v2 and v3.

    python local/prepare_data.py --db_root DB --out data [--train_sets vox2_dev] \\
        [--trials auto|O,E,H] [--skip_bad false]

DB holds ``voxceleb1/`` (``dev/wav/`` and ``test/wav/``, or one merged ``wav/``; with
``vox1_meta.csv`` and the trial lists beside them) and/or ``voxceleb2/`` (``dev/aac/``,
``test/aac/``, ``vox2_meta.csv``); a part that a run does not need may be absent.

Writes, for every part present, ``data/{vox1_dev,vox1_test,vox2_dev,vox2_test}``
(wav.scp, utt2spk, spk2utt, spk2gender); ``data/train``, the union of ``--train_sets``;
and ``data/vox1``, the evaluation set: every utterance of the trial lists written, with
``trials_O`` / ``trials_E`` / ``trials_H`` (``<enroll> <test> target|nontarget``, the
list's order), ``trials`` (a copy of the first of them) and ``trial_lists`` (which file
each came from). For each of O/E/H the cleaned list (``veri_test2.txt``,
``list_test_all2.txt``, ``list_test_hard2.txt``) is used when present, else the original.

Utterance ids follow Kaldi: ``<spk>-<youtube id>-<clip>`` (``id10270-x6uYqmx31kE-00001``);
speaker-prefixed, so utt2spk and spk2utt sort alike. VoxCeleb2 m4a files are decoded by an
ffmpeg pipe in wav.scp, as Kaldi does. The meta files are read tolerantly (tabs or
commas, spaces inside fields, trailing spaces, BOM, quoted lines, CRLF).

Vox1-E and Vox1-H contain VoxCeleb1 dev speakers, and Vox1-O the test speakers: a
training pool that overlaps the evaluated lists is an error (choose ``--trials``).
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import sys
from collections import OrderedDict
from pathlib import Path

from avdf.data.audio import pipe_command
from avdf.data.datadir import (DataDirError, utt2spk_to_spk2utt, validate_data_dir, write_kv, write_list,
                               write_trials)
from avdf.utils.log import setup_logging

logger = logging.getLogger("prepare_data")

TRAIN_SETS = ("vox1_dev", "vox1_test", "vox2_dev", "vox2_test")
# (name, cleaned list, original list)
TRIAL_LISTS = (("O", "veri_test2.txt", "veri_test.txt"),
               ("E", "list_test_all2.txt", "list_test_all.txt"),
               ("H", "list_test_hard2.txt", "list_test_hard.txt"))
# Vox1 test speakers are id10270..id10309 (used for a merged wav/ tree without vox1_meta.csv)
VOX1_TEST_RANGE = (10270, 10309)
_ID_RE = re.compile(r"^id\d+$")


class PrepError(RuntimeError):
    pass


# -- metadata -----------------------------------------------------------------------------
def read_meta(path: Path) -> dict[str, list[str]]:
    """``{speaker id: [fields after the id]}`` from vox1_meta.csv / vox2_meta.csv, whatever
    the mirror did to it. The header (a first field that is not an id) is skipped."""
    out: dict[str, list[str]] = {}
    first: dict[str, int] = {}
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    for n, raw in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), 1):
        line = raw.strip()
        if not line:
            continue
        if len(line) >= 2 and line[0] == line[-1] == '"' and line.count('"') == 2:
            line = line[1:-1]
        sep = "\t" if "\t" in line else ","
        fields = [f.strip().strip('"').strip() for f in line.split(sep)]
        if not _ID_RE.match(fields[0]):
            if out:
                raise PrepError(f"{path}:{n}: expected a speaker id (idNNNNN) in the first field, got {fields[0]!r}")
            continue  # header
        if len(fields) < 3:
            raise PrepError(f"{path}:{n}: expected at least 3 fields, got {len(fields)}: {raw!r}")
        if fields[0] in out:
            if out[fields[0]] != fields[1:]:  # an identical repeat is harmless; a conflict is not
                raise PrepError(f"{path}:{n}: speaker {fields[0]} again, with other fields than on line "
                                f"{first[fields[0]]} ({', '.join(fields[1:])} vs {', '.join(out[fields[0]])})")
            continue
        out[fields[0]] = fields[1:]
        first[fields[0]] = n
    if not out:
        raise PrepError(f"{path}: no speaker rows")
    return out


def meta_gender_and_set(meta: dict[str, list[str]]) -> tuple[dict[str, str], dict[str, str]]:
    """(speaker -> m|f, speaker -> dev|test) from either meta file: gender is the first field
    that is m/f, the set the last field."""
    gender, split = {}, {}
    for spk, fields in meta.items():
        g = next((f.lower() for f in fields if f.lower() in ("m", "f")), None)
        if g:
            gender[spk] = g
        else:
            logger.warning("speaker %s: no m/f gender field in its meta row (%s): no spk2gender entry",
                           spk, ", ".join(fields))
        if fields[-1].lower() in ("dev", "test"):
            split[spk] = fields[-1].lower()
    return gender, split


# -- audio trees ----------------------------------------------------------------------------
def scan_tree(root: Path, ext: str) -> "OrderedDict[str, Path]":
    """``{<spk>/<ytid>/<clip>: path}`` for ``root/<spk>/<ytid>/<clip>.<ext>``."""
    out: dict[str, Path] = {}
    with os.scandir(root) as spks:
        for s in spks:
            if not (s.is_dir() and _ID_RE.match(s.name)):
                continue
            with os.scandir(s.path) as recs:
                for r in recs:
                    if not r.is_dir():
                        continue
                    with os.scandir(r.path) as clips:
                        for c in clips:
                            if c.name.endswith("." + ext) and c.is_file():
                                out[f"{s.name}/{r.name}/{c.name[:-len(ext) - 1]}"] = Path(c.path)
    return OrderedDict(sorted(out.items()))


def utt_id(rel: str) -> str:
    """``id10270/x6uYqmx31kE/00001(.wav)`` -> ``id10270-x6uYqmx31kE-00001``."""
    rel = rel[:-4] if rel.endswith(".wav") else rel
    parts = rel.split("/")
    if len(parts) != 3:
        raise ValueError(f"expected <spk>/<ytid>/<clip>.wav, got {rel!r}")
    return "-".join(parts)


def vox1_parts(vox1: Path, split_of: dict[str, str]) -> dict[str, "OrderedDict[str, Path]"]:
    """{'dev': files, 'test': files} from dev/wav + test/wav, or a merged wav/."""
    parts: dict[str, OrderedDict[str, Path]] = {}
    for name in ("dev", "test"):
        if (vox1 / name / "wav").is_dir():
            parts[name] = scan_tree(vox1 / name / "wav", "wav")
    if (vox1 / "wav").is_dir():
        merged = scan_tree(vox1 / "wav", "wav")

        def split(rel: str) -> str:
            spk = rel.split("/")[0]
            if spk in split_of:
                return split_of[spk]
            return "test" if VOX1_TEST_RANGE[0] <= int(spk[2:]) <= VOX1_TEST_RANGE[1] else "dev"

        for rel, p in merged.items():
            parts.setdefault(split(rel), OrderedDict())[rel] = p
    return parts


def vox2_parts(vox2: Path) -> dict[str, "OrderedDict[str, Path]"]:
    parts = {}
    for name in ("dev", "test"):
        for sub in (vox2 / name / "aac", vox2 / name):  # test archives unzip to test/aac
            if sub.is_dir() and any(_ID_RE.match(p.name) for p in sub.iterdir()):
                parts[name] = scan_tree(sub, "m4a")
                break
    return parts


def write_set(out: Path, files: dict[str, Path], gender: dict[str, str], m4a: bool) -> int:
    wav, u2s = {}, {}
    for rel, path in files.items():
        u = utt_id(rel)
        ap = str(path.resolve())
        if not m4a and any(c.isspace() for c in ap):
            raise PrepError(f"{ap}: audio path contains whitespace, which a wav.scp file entry cannot hold")
        wav[u] = (pipe_command("ffmpeg", "-nostdin", "-v", "8", "-i", ap, "-f", "wav", "-acodec", "pcm_s16le",
                               "-ac", "1", "-ar", "16000", "-") if m4a else ap)
        u2s[u] = rel.split("/")[0]
    out.mkdir(parents=True, exist_ok=True)
    write_kv(out / "wav.scp", wav)
    write_kv(out / "utt2spk", u2s)
    write_kv(out / "spk2utt", utt2spk_to_spk2utt(u2s))
    spks = sorted(set(u2s.values()))
    if all(s in gender for s in spks):
        write_kv(out / "spk2gender", {s: gender[s] for s in spks})
    return len(wav)


def combine(out: Path, dirs: list[Path]) -> int:
    from avdf.data.datadir import read_kv

    wav, u2s, gen = {}, {}, {}
    for d in dirs:
        wav.update(read_kv(d / "wav.scp"))
        u2s.update(read_kv(d / "utt2spk"))
        if (d / "spk2gender").is_file():
            gen.update(read_kv(d / "spk2gender"))
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("feats.scp", "vad.scp", "utt2num_frames"):
        (out / stale).unlink(missing_ok=True)
    write_kv(out / "wav.scp", wav)
    write_kv(out / "utt2spk", u2s)
    write_kv(out / "spk2utt", utt2spk_to_spk2utt(u2s))
    if gen and set(u2s.values()) <= set(gen):
        write_kv(out / "spk2gender", {s: gen[s] for s in set(u2s.values())})
    return len(wav)


# -- trials ---------------------------------------------------------------------------------
def find_list(db_root: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        for d in (db_root / "voxceleb1", db_root / "voxceleb1" / "meta", db_root):
            if (d / name).is_file():
                return d / name
    return None


def read_trial_list(path: Path, files: dict[str, Path], skip_bad: bool) -> tuple[list[tuple[str, str, str]], int]:
    """Kaldi trials from a VGG list ``LABEL PATH1 PATH2``; (trials, number dropped)."""
    trials, dropped = [], 0
    text = path.read_bytes().decode("utf-8-sig")
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        f = line.split()
        where = f"{path}:{n}"
        try:
            if len(f) != 3:
                raise PrepError(f"{where}: expected 'LABEL PATH1 PATH2', got {len(f)} fields: {raw!r}")
            if f[0] not in ("0", "1"):
                raise PrepError(f"{where}: label {f[0]!r} is not 1 (target) or 0 (nontarget)")
            keys = []
            for p in f[1:]:
                rel = p[:-4] if p.endswith(".wav") else p
                if rel not in files:
                    raise PrepError(f"{where}: no audio for trial utterance {p} under voxceleb1/"
                                    "{dev,test}/wav (or wav/)")
                keys.append(utt_id(rel))
        except PrepError as e:
            if not skip_bad:
                raise
            logger.warning("skipping trial: %s", e)
            dropped += 1
            continue
        trials.append((keys[0], keys[1], "target" if f[0] == "1" else "nontarget"))
    return trials, dropped


# -- main -----------------------------------------------------------------------------------
def prepare(db_root: Path, out: Path, train_sets: list[str], trials_wanted: str, skip_bad: bool) -> None:
    bad = [s for s in train_sets if s not in TRAIN_SETS]
    if bad:
        raise PrepError(f"--train_sets: unknown {bad}; choose from {', '.join(TRAIN_SETS)} "
                        "(wespeaker: vox2_dev; kaldi: vox2_dev,vox2_test,vox1_dev; espnet: vox1_dev,vox2_dev)")
    vox1, vox2 = db_root / "voxceleb1", db_root / "voxceleb2"
    if not vox1.is_dir() and not vox2.is_dir():
        raise PrepError(f"{db_root}: neither voxceleb1/ nor voxceleb2/ is there")
    gender: dict[str, str] = {}
    split_of: dict[str, str] = {}
    for meta in (vox1 / "vox1_meta.csv", vox2 / "vox2_meta.csv"):
        if meta.is_file():
            g, s = meta_gender_and_set(read_meta(meta))
            gender.update(g)
            split_of.update(s)
            logger.info("%s: %d speakers", meta, len(g))
    parts: dict[str, OrderedDict[str, Path]] = {}
    if vox1.is_dir():
        parts.update({f"vox1_{k}": v for k, v in vox1_parts(vox1, split_of).items()})
    if vox2.is_dir():
        parts.update({f"vox2_{k}": v for k, v in vox2_parts(vox2).items()})
    if any(k.startswith("vox2") for k in parts) and shutil.which("ffmpeg") is None:
        raise PrepError("VoxCeleb2 m4a files are read through ffmpeg, which is not on PATH (apt-get install ffmpeg)")
    for name, files in sorted(parts.items()):
        n = write_set(out / name, files, gender, m4a=name.startswith("vox2"))
        validate_data_dir(out / name)
        logger.info("data/%s: %d utterances, %d speakers", name, n, len({r.split('/')[0] for r in files}))

    # which trial lists
    names = [t[0] for t in TRIAL_LISTS]
    if trials_wanted == "auto":
        wanted = [t for t in TRIAL_LISTS if find_list(db_root, t[1:])]
    else:
        req = [x.strip() for x in trials_wanted.split(",") if x.strip()]
        unknown = [x for x in req if x not in names]
        if unknown:
            raise PrepError(f"--trials: unknown {unknown}; use auto or a list of O, E, H")
        wanted = [t for t in TRIAL_LISTS if t[0] in req]
        for t in wanted:
            if not find_list(db_root, t[1:]):
                raise PrepError(f"--trials {t[0]}: neither {t[1]} nor {t[2]} under {vox1} or {db_root}")
    overlap = [s for s in train_sets if s.startswith("vox1")]
    eh = [t[0] for t in wanted if t[0] in ("E", "H")]
    if overlap and eh:
        raise PrepError(f"--train_sets {','.join(train_sets)} trains on VoxCeleb1, but Vox1-{'/'.join(eh)} "
                        f"trials draw on all VoxCeleb1 speakers: evaluate only O (--trials O) or drop "
                        f"{','.join(overlap)}")
    if "vox1_test" in train_sets and any(t[0] == "O" for t in wanted):
        raise PrepError("--train_sets includes vox1_test, whose speakers are the Vox1-O test speakers")

    # training pool
    missing = [s for s in train_sets if s not in parts]
    if missing:
        where = {"vox1_dev": vox1 / "dev/wav", "vox1_test": vox1 / "test/wav",
                 "vox2_dev": vox2 / "dev/aac", "vox2_test": vox2 / "test/aac"}
        raise PrepError(f"--train_sets {','.join(missing)}: no audio at {', '.join(str(where[m]) for m in missing)}")
    if train_sets:
        n = combine(out / "train", [out / s for s in train_sets])
        validate_data_dir(out / "train")
        logger.info("data/train = %s: %d utterances", "+".join(train_sets), n)

    # evaluation set and trials
    if not wanted:
        logger.warning("no trial list found under %s: data/vox1 not written", vox1)
        return
    vox1_files = OrderedDict()
    for k in ("vox1_dev", "vox1_test"):
        vox1_files.update(parts.get(k, {}))
    eval_dir = out / "vox1"
    eval_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("feats.scp", "vad.scp", "utt2num_frames"):
        (eval_dir / stale).unlink(missing_ok=True)
    used: set[str] = set()
    record = []
    first = None
    for name, cleaned, original in TRIAL_LISTS:
        if name not in [t[0] for t in wanted]:
            (eval_dir / f"trials_{name}").unlink(missing_ok=True)
            continue
        path = find_list(db_root, (cleaned, original))
        trials, dropped = read_trial_list(path, vox1_files, skip_bad)
        if not trials:
            raise PrepError(f"{path}: no usable trials")
        kind = "cleaned" if path.name == cleaned else "original"
        write_trials(eval_dir / f"trials_{name}", trials)
        n_tgt = sum(t[2] == "target" for t in trials)
        record.append(f"{name} {path} {kind} {len(trials)} {n_tgt} {len(trials) - n_tgt} {dropped}")
        logger.info("trials_%s: %s (%s list): %d trials, %d target, %d nontarget%s", name, path, kind, len(trials),
                    n_tgt, len(trials) - n_tgt, f", {dropped} dropped (--skip_bad)" if dropped else "")
        used.update(u for t in trials for u in t[:2])
        first = first or trials
    with open(eval_dir / ".trial_lists.tmp", "w", encoding="utf-8") as f:
        f.write("# name list kind trials target nontarget dropped\n" + "\n".join(record) + "\n")
    os.replace(eval_dir / ".trial_lists.tmp", eval_dir / "trial_lists")
    write_trials(eval_dir / "trials", first)
    rel_of = {utt_id(r): r for r in vox1_files}
    write_kv(eval_dir / "wav.scp", {u: str(vox1_files[rel_of[u]].resolve()) for u in used})
    u2s = {u: rel_of[u].split("/")[0] for u in used}
    write_kv(eval_dir / "utt2spk", u2s)
    write_kv(eval_dir / "spk2utt", utt2spk_to_spk2utt(u2s))
    spks = set(u2s.values())
    if spks <= set(gender):
        write_kv(eval_dir / "spk2gender", {s: gender[s] for s in spks})
    write_list(eval_dir / "trial_sets", [r.split()[0] for r in record], sort=False)
    validate_data_dir(eval_dir)
    logger.info("data/vox1: %d utterances of %d speakers in the trials", len(used), len(spks))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db_root", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--train_sets", default="vox2_dev",
                   help="comma-separated pool among vox1_dev, vox1_test, vox2_dev, vox2_test ('' for none)")
    p.add_argument("--trials", default="auto", help="auto (every list present) or a subset of O,E,H")
    p.add_argument("--skip_bad", default="false", choices=["true", "false"],
                   help="drop trials with missing audio (logged) instead of stopping")
    args = p.parse_args(argv)
    setup_logging()
    try:
        prepare(args.db_root, args.out, [s for s in args.train_sets.split(",") if s], args.trials,
                args.skip_bad == "true")
    except (PrepError, DataDirError, OSError, ValueError) as e:
        print(f"prepare_data: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
