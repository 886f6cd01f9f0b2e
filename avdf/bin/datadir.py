"""The data-dir tools behind the Kaldi-named wrappers in ``utils/``:

    python -m avdf.bin.datadir validate [--check-files] [--no-feats] [--no-wav] DIR
    python -m avdf.bin.datadir fix DIR
    python -m avdf.bin.datadir subset (--utt-list F | --spk-list F | --first N | --last N
                                       | --random N [--seed S]) SRC DEST
    python -m avdf.bin.datadir combine DEST SRC1 SRC2 ...
    python -m avdf.bin.datadir split [--per-utt] DIR N
    python -m avdf.bin.datadir utt2spk_to_spk2utt [utt2spk]      (stdin if no file)
    python -m avdf.bin.datadir spk2utt_to_utt2spk [spk2utt]
    python -m avdf.bin.datadir filter_scp [--exclude] [-f N] ID_LIST [IN.scp ...]

Each tool fails with one line ``<tool>: <file>:<line>: <reason>`` and exit status 1.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

from avdf.data import datadir as dd
from avdf.bin import run

# verb -> the wrapper in utils/ that users call (used in messages)
TOOLS = {
    "validate": "validate_data_dir.sh",
    "fix": "fix_data_dir.sh",
    "subset": "subset_data_dir.sh",
    "combine": "combine_data.sh",
    "split": "split_data.sh",
    "utt2spk_to_spk2utt": "utt2spk_to_spk2utt.pl",
    "spk2utt_to_utt2spk": "spk2utt_to_utt2spk.pl",
    "filter_scp": "filter_scp.pl",
}


def _path(name: str) -> Path:
    return Path("/dev/stdin" if name == "-" else name)


def _inputs(files: list[str]) -> list[Path]:
    return [_path(f) for f in files] or [Path("/dev/stdin")]


def cmd_validate(args: argparse.Namespace) -> None:
    ignore = [n for n, flag in (("feats.scp", args.no_feats), ("wav.scp", args.no_wav)) if flag]
    utts = dd.validate_data_dir(args.dir, check_files=args.check_files, ignore=ignore)
    print(f"{TOOLS['validate']}: {args.dir}: OK ({len(utts)} utterances)")


def cmd_fix(args: argparse.Namespace) -> None:
    for line in dd.fix_data_dir(args.dir):
        print(f"{TOOLS['fix']}: {line}")


def cmd_subset(args: argparse.Namespace) -> None:
    if args.utt_list:
        utts = dd.read_list(_path(args.utt_list))
    elif args.spk_list:
        utts = dd.utts_of_speakers(args.src, dd.read_list(_path(args.spk_list)))
    else:
        all_utts = dd.validate_data_dir(args.src)
        n = args.first or args.last or args.random
        if n > len(all_utts):
            raise dd.DataDirError(f"{args.src}: asked for {n} utterances, it has {len(all_utts)}")
        if args.first:
            utts = all_utts[:n]
        elif args.last:
            utts = all_utts[-n:]
        else:
            utts = random.Random(args.seed).sample(all_utts, n)
    missing = dd.subset_data_dir(args.src, args.dest, utts)
    if missing:
        print(f"{TOOLS['subset']}: warning: {len(missing)} listed utterances are not in {args.src} "
              f"(first: {missing[0]})", file=sys.stderr)
    print(f"{TOOLS['subset']}: {args.dest}: {len(dd.read_kv(_first_utt_file(args.dest)))} utterances from {args.src}")


def _first_utt_file(path: str) -> Path:
    return Path(path) / dd.per_utt_files(path)[0]


def cmd_combine(args: argparse.Namespace) -> None:
    for warning in dd.combine_data_dirs(args.dest, args.srcs):
        print(f"{TOOLS['combine']}: warning: {warning}", file=sys.stderr)
    print(f"{TOOLS['combine']}: {args.dest}: {len(dd.read_kv(_first_utt_file(args.dest)))} utterances "
          f"from {len(args.srcs)} data dirs")


def cmd_split(args: argparse.Namespace) -> None:
    out = dd.split_data_dir(args.dir, args.num_jobs, per_utt=args.per_utt)
    print(f"{TOOLS['split']}: {out}/1..{args.num_jobs}")


def cmd_utt2spk_to_spk2utt(args: argparse.Namespace) -> None:
    utt2spk: dict[str, str] = {}
    for path in _inputs(args.files):
        utt2spk.update(dd.read_kv(path))
    for spk, utts in dd.utt2spk_to_spk2utt(utt2spk).items():
        sys.stdout.write(f"{spk} {' '.join(utts)}\n")


def cmd_spk2utt_to_utt2spk(args: argparse.Namespace) -> None:
    spk2utt: dict[str, str] = {}
    for path in _inputs(args.files):
        spk2utt.update(dd.read_kv(path))
    for utt, spk in dd.spk2utt_to_utt2spk(spk2utt).items():
        sys.stdout.write(f"{utt} {spk}\n")


def cmd_filter_scp(args: argparse.Namespace) -> None:
    if args.field < 1:
        raise dd.DataDirError(f"-f {args.field}: fields are numbered from 1")
    ids = set()
    with open(_path(args.id_list), "rb") as f:
        for line in f:
            fields = line.split()
            if fields:
                ids.add(fields[0])
    out = sys.stdout.buffer
    for path in _inputs(args.scp):
        with open(path, "rb") as f:
            for n, line in enumerate(f, 1):
                fields = line.split()
                if len(fields) < args.field:
                    raise dd.DataDirError(f"{path}:{n}: has {len(fields)} fields, -f {args.field} needs more")
                if (fields[args.field - 1] in ids) != args.exclude:
                    out.write(line if line.endswith(b"\n") else line + b"\n")


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m avdf.bin.datadir", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="verb", required=True)

    p = sub.add_parser("validate", prog=TOOLS["validate"],
                       help="check a data dir; fail with file, line and reason")
    p.add_argument("--check-files", action="store_true", help="also check that files named in *.scp exist")
    p.add_argument("--no-feats", action="store_true", help="ignore feats.scp")
    p.add_argument("--no-wav", action="store_true", help="ignore wav.scp")
    p.add_argument("--no-text", action="store_true", help="accepted for Kaldi compatibility (text is optional)")
    p.add_argument("dir")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("fix", prog=TOOLS["fix"],
                       help="keep the utterances that every file agrees on; report what was dropped and why")
    p.add_argument("dir")
    p.set_defaults(func=cmd_fix)

    p = sub.add_parser("subset", prog=TOOLS["subset"], help="copy a subset of utterances to a new data dir")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--utt-list", metavar="FILE", help="the utterances listed (one a line)")
    how.add_argument("--spk-list", metavar="FILE", help="the utterances of the speakers listed")
    how.add_argument("--first", type=_positive, metavar="N", help="the first N utterances (sorted order)")
    how.add_argument("--last", type=_positive, metavar="N", help="the last N utterances")
    how.add_argument("--random", type=_positive, metavar="N", help="N utterances drawn at random")
    p.add_argument("--seed", type=int, default=0, help="random seed for --random (default 0)")
    p.add_argument("src")
    p.add_argument("dest")
    p.set_defaults(func=cmd_subset)

    p = sub.add_parser("combine", prog=TOOLS["combine"], help="the union of several data dirs")
    p.add_argument("dest")
    p.add_argument("srcs", nargs="+")
    p.set_defaults(func=cmd_combine)

    p = sub.add_parser("split", prog=TOOLS["split"], help="DIR/splitN/1..N, by speaker or by utterance")
    p.add_argument("--per-utt", action="store_true", help="split by utterance (into DIR/splitNutt)")
    p.add_argument("dir")
    p.add_argument("num_jobs", type=_positive, metavar="N")
    p.set_defaults(func=cmd_split)

    for verb, what in (("utt2spk_to_spk2utt", "utt2spk -> spk2utt"), ("spk2utt_to_utt2spk", "spk2utt -> utt2spk")):
        p = sub.add_parser(verb, prog=TOOLS[verb], help=f"{what}, sorted as LC_ALL=C, to stdout")
        p.add_argument("files", nargs="*", help="input files (stdin if none)")
        p.set_defaults(func=globals()[f"cmd_{verb}"])

    p = sub.add_parser("filter_scp", prog=TOOLS["filter_scp"],
                       help="print the lines of IN.scp whose field N is (not) the first field of a line of ID_LIST")
    p.add_argument("--exclude", action="store_true", help="print the lines whose id is NOT in the list")
    p.add_argument("-f", dest="field", type=int, default=1, help="field of IN.scp to match (1-based)")
    p.add_argument("id_list")
    p.add_argument("scp", nargs="*", help="input files (stdin if none)")
    p.set_defaults(func=cmd_filter_scp)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except BrokenPipeError:  # `... | head` closed the pipe: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (dd.DataDirError, OSError) as e:
        print(f"{TOOLS[args.verb]}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run(main, "datadir"))
