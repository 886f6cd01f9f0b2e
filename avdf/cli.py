"""The ``avdf`` command: a trained or imported model on your own files (see avdf.api).

    avdf cm --model pretrained/aasist_clovaai a.wav b.flac dir/ data/eval/wav.scp
    avdf asv --model exp/ecapa_speechbrain enroll.wav test.wav
    avdf asv --model exp/ecapa_speechbrain --embed dir/ --out emb/x.ark

(``python -m avdf.cli`` is the same command.) Nothing here imports torch before a model is
needed, so ``--help`` is fast.
"""
from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import sys
from pathlib import Path
from typing import Callable

#: what a directory INPUT contributes: every file under it with one of these extensions
MEDIA_EXTENSIONS = frozenset(
    ".wav .flac .ogg .oga .opus .mp3 .m4a .aac .wma .aiff .aif .aifc .au .snd .sph .amr .ac3 .mka .caf .w64 "
    ".mp4 .m4v .mkv .webm .avi .mov .flv .mpg .mpeg .ts .3gp .wmv".split())

EXAMPLE_MODEL = "pretrained/aasist_clovaai"

INPUT_HELP = ("a file (any format ffmpeg/PyAV reads: wav, flac, mp3, m4a, mp4 ...), a directory (every audio/video "
              "file under it, by extension, sorted, hidden ones skipped) or a Kaldi wav.scp (any *.scp: its keys "
              "are printed, its values may be pipes 'CMD |', which are run). A file name is never run.")

CM_EPILOG = f"""\
One line per input, in the order given: '<input> <score>' (6 decimals; a directory's files
as DIR/relative/path, a wav.scp's utterances by key), higher = bona fide; the score is what
'python -m avdf.bin.infer_cm' writes for the same audio in a data dir (0 is not a calibrated
threshold). Another sample rate is resampled to the model's, channels are averaged. An input
that cannot be read gets one line on stderr and the exit status is 1; the others are scored.

examples:
  avdf cm --model {EXAMPLE_MODEL} speech.wav "my recording.m4a"
  avdf cm --model {EXAMPLE_MODEL} --json recordings/ > scores.jsonl
  avdf cm --model {EXAMPLE_MODEL} --device cpu data/eval/wav.scp > scores.txt
"""

ASV_EPILOG = """\
ENROLL TEST: prints the cosine of their embeddings (higher = same speaker; no back-end).
--embed INPUT... --out x.ark: writes the embeddings with kaldiio, x.ark and x.scp beside it,
keys = the inputs as given (a wav.scp's keys), as avdf.bin.extract_embeddings writes them;
an input whose key would contain whitespace cannot be a Kaldi key (put it in a wav.scp).
The model is an ASV experiment dir (ECAPA-TDNN, x-vector; e.g. one written by
'python -m avdf.bin.import_model --format speechbrain_ecapa').

examples:
  avdf asv --model exp/ecapa_speechbrain enroll.wav test.flac
  avdf asv --model exp/ecapa_speechbrain --embed speakers/ --out emb/speakers.ark
"""

MAIN_EPILOG = f"""\
examples:
  avdf cm --model {EXAMPLE_MODEL} a.wav b.flac        # a countermeasure score per file
  avdf asv --model exp/ecapa_speechbrain enroll.wav test.wav   # a speaker-verification score
  avdf cm --help

From Python: m = avdf.load("{EXAMPLE_MODEL}"); m.score("a.wav")
"""


class UsageError(ValueError):
    """A model of the other task for this subcommand."""


class Entry:
    """One thing to score: its printed key and a source for ``avdf.api`` (a path, or a
    callable returning ``(samples, rate)`` or raising the reason it cannot be read)."""

    def __init__(self, key: str, source):
        self.key, self.source = key, source


def _failing(message: str) -> Callable:
    def fail():
        from avdf.data.audio import AudioError
        raise AudioError(message)
    return fail


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def expand(inputs: list[str]) -> list[Entry]:
    """INPUT arguments -> entries, in order (see INPUT_HELP)."""
    entries: list[Entry] = []
    for inp in inputs:
        p = Path(inp)
        if p.is_dir():
            files = sorted((f.relative_to(p) for f in p.rglob("*")
                            if f.suffix.lower() in MEDIA_EXTENSIONS and f.is_file()),
                           key=lambda r: r.as_posix())
            files = [r for r in files if not _hidden(r)]
            if not files:
                hint = f" (it has a wav.scp: give {os.path.join(inp, 'wav.scp')})" if (p / "wav.scp").is_file() else ""
                entries.append(Entry(inp, _failing(f"{inp}: no audio or video files under this directory{hint}")))
            entries.extend(Entry(os.path.join(inp, str(r)), os.path.join(inp, str(r))) for r in files)
        elif p.suffix == ".scp" and p.is_file():
            from avdf.data.audio import WavScp
            from avdf.data.datadir import DataDirError
            try:
                scp = WavScp(p)
            except (DataDirError, OSError, UnicodeDecodeError) as e:
                entries.append(Entry(inp, _failing(str(e))))
                continue
            entries.extend(Entry(utt, functools.partial(scp.read, utt)) for utt in scp.keys())
        else:
            entries.append(Entry(inp, inp))  # a file: read_audio says if it is missing or unreadable
    return entries


def _message(key: str, err: BaseException) -> str:
    msg = " ".join(str(err).split("\n"))
    return msg if msg.startswith(key) else f"{key}: {msg}"


def _load(args):
    from avdf import api
    return api.load(args.model, args.device)


def _progress(n: int, desc: str):
    from tqdm import tqdm
    return tqdm(total=n, desc=desc, unit="file", file=sys.stderr, disable=n <= 10, dynamic_ncols=True)


def _out(line: str, bar) -> None:
    if bar.disable:
        print(line, flush=True)
    else:
        bar.write(line, file=sys.stdout)
        sys.stdout.flush()


def _err(line: str, bar=None) -> None:
    if bar is None or bar.disable:
        print(line, file=sys.stderr, flush=True)
    else:
        bar.write(line, file=sys.stderr)


def cmd_cm(args) -> int:
    entries = expand(args.inputs)
    model = _load(args)
    if model.task != "cm":
        raise UsageError(f"{args.model}: a {model.task} model; 'avdf cm' needs a countermeasure (task: cm)")
    rc = 0
    bar = _progress(len(entries), "scoring")
    with bar:
        results = model.iter_scores([e.source for e in entries], names=[e.key for e in entries],
                                    batch_size=args.batch_size)
        for i, res in results:
            key = entries[i].key
            if isinstance(res, Exception):
                _err(f"avdf cm: {_message(key, res)}", bar)
                rc = 1
            elif args.json:
                _out(json.dumps({"input": key, "score": res}, ensure_ascii=False), bar)
            else:
                _out(f"{key} {res:.6f}", bar)
            bar.update(1)
    return rc


def cmd_asv(args) -> int:
    from avdf.data.audio import AudioError

    if args.embed is None:
        if len(args.trial) != 2:
            raise SystemExit(_usage_error(args, f"give ENROLL and TEST (got {len(args.trial)} inputs), "
                                                "or --embed INPUT... --out x.ark"))
        model = _asv_model(args)
        embs = []
        for inp in args.trial:
            try:
                embs.append(model.embed(inp))
            except AudioError as e:
                _err(f"avdf asv: {_message(inp, e)}")
        if len(embs) < 2:
            return 1
        from avdf.api import cosine
        s = cosine(*embs)
        print(json.dumps({"enroll": args.trial[0], "test": args.trial[1], "score": s}, ensure_ascii=False)
              if args.json else f"{s:.6f}")
        return 0
    if args.trial:
        raise SystemExit(_usage_error(args, f"ENROLL TEST and --embed do not go together (got {args.trial})"))
    if args.out is None or Path(args.out).suffix != ".ark":
        raise SystemExit(_usage_error(args, "--embed needs --out FILE.ark (FILE.scp is written beside it)"))
    import numpy as np
    from avdf.utils.fileio import atomic_ark_scp

    entries = expand(args.embed)
    model = _asv_model(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rc, seen, n = 0, set(), 0
    bar = _progress(len(entries), "embedding")
    with bar, atomic_ark_scp(out, out.with_suffix(".scp")) as writer:
        for e in entries:
            bar.update(1)
            if not e.key or any(c.isspace() for c in e.key):
                _err(f"avdf asv: {e.key!r}: a Kaldi key cannot contain whitespace: list it in a wav.scp "
                     "with a key of your own", bar)
                rc = 1
                continue
            if e.key in seen:
                _err(f"avdf asv: {e.key}: given twice: embedded once", bar)
                rc = 1
                continue
            try:
                emb = model.embed(e.source, name=e.key)
            except AudioError as err:
                _err(f"avdf asv: {_message(e.key, err)}", bar)
                rc = 1
                continue
            seen.add(e.key)
            writer(e.key, emb.astype(np.float32))
            n += 1
    _err(f"avdf asv: {n} embeddings in {out} ({out.with_suffix('.scp')})")
    return rc


def _asv_model(args):
    model = _load(args)
    if model.task != "asv":
        raise UsageError(f"{args.model}: a {model.task} model; 'avdf asv' needs a speaker-embedding model (task: asv)")
    return model


def _usage_error(args, msg: str) -> int:
    args.parser.print_usage(sys.stderr)
    print(f"{args.parser.prog}: error: {msg}", file=sys.stderr)
    return 2


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="avdf", formatter_class=fmt, epilog=MAIN_EPILOG,
                                     description="Score your own files with an avdf experiment dir "
                                                 "(a trained model, or one of pretrained/).")
    from avdf import __version__
    parser.add_argument("--version", action="version", version=f"avdf {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{cm,asv}")

    def common(p):
        p.add_argument("--model", required=True, metavar="DIR",
                       help="experiment dir: config.yaml + model.pt (e.g. pretrained/aasist_clovaai)")
        p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                       help="auto (default): the GPU if torch sees one, else the CPU")
        p.add_argument("--json", action="store_true", help="one JSON object per line instead of text")
        p.add_argument("-v", "--verbose", action="store_true", help="log more (to stderr)")

    cm = sub.add_parser("cm", help="countermeasure scores (bona fide vs spoof), one line per file",
                        formatter_class=fmt, epilog=CM_EPILOG,
                        description="Countermeasure scores of files, directories or wav.scp entries.")
    common(cm)
    cm.add_argument("--batch_size", type=int, default=None,
                    help="files per forward pass (default: the config's valid_batch_size)")
    cm.add_argument("inputs", nargs="+", metavar="INPUT", help=INPUT_HELP)
    cm.set_defaults(func=cmd_cm, parser=cm)

    asv = sub.add_parser("asv", help="speaker verification: score a pair, or write embeddings",
                         formatter_class=fmt, epilog=ASV_EPILOG,
                         description="Speaker-verification score of ENROLL against TEST, or embeddings of inputs.")
    common(asv)
    asv.add_argument("trial", nargs="*", metavar="ENROLL TEST", help="two audio files")
    asv.add_argument("--embed", nargs="+", metavar="INPUT", help="embed these instead: " + INPUT_HELP)
    asv.add_argument("--out", metavar="FILE.ark", help="with --embed: the ark to write (FILE.scp beside it)")
    asv.set_defaults(func=cmd_asv, parser=asv)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    # (no force: run in-process, by a test or a program with its own logging, that logging stays)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="avdf: %(message)s", stream=sys.stderr)

    def command() -> int:
        try:
            return args.func(args)
        except BrokenPipeError:  # avdf cm ... | head
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1

    from avdf.bin import run  # avdf's own errors (model dir, config, device ...): one line, exit 1
    return run(command, f"avdf {args.command}")


if __name__ == "__main__":
    sys.exit(main())
