"""Compare systems scored on the same videos: AUC of each, correlation of every pair, and
what fusing a pair gains.

    python -m avdf.bin.compare_scores --data data/ssl/wav2vec2/fold1/test \\
        --scores wav2vec2=exp/a/scores/test.txt resnet18=exp/b/scores/test.txt \\
        [--fused wav2vec2+resnet18=exp/fusion/test.txt] --out_json X.json [--out_md X.md]

Correlations (Pearson on the scores, Spearman on their ranks) are over the videos both
systems scored. A fused system ``a+b`` (e.g. from ``python -m avdf.bin.fuse``, trained on
a validation split) is reported with its AUC and its gain over the better of ``a`` and
``b`` on the same videos. Higher scores = more real (AUC with real as the positive class).
"""
from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
from pathlib import Path

import numpy as np
from scipy import stats

from avdf.data.datadir import DataDirError, read_kv
from avdf.metrics import MetricError, auc
from avdf.metrics.scorefile import ScoreFileError, read_scores
from avdf.utils.fileio import atomic_open
from avdf.utils.log import setup_logging
from avdf.bin import run


def _named(items: list[str], flag: str) -> dict[str, Path]:
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"{flag} {item!r}: expected NAME=PATH")
        out[name] = Path(path)
    return out


def _auc(scores: dict[str, float], labels: dict[str, str], utts: list[str]) -> float:
    real = np.array([scores[u] for u in utts if labels[u] == "bonafide"])
    fake = np.array([scores[u] for u in utts if labels[u] == "spoof"])
    return auc(real, fake)


def compare(data: Path, systems: dict[str, Path], fused: dict[str, Path]) -> dict:
    """The report as a dict (see the module docstring)."""
    labels = read_kv(data / "utt2label")
    scores = {}
    for name, path in {**systems, **fused}.items():
        s, _ = read_scores(path)
        unknown = [u for u in s if u not in labels]
        if unknown:
            raise DataDirError(f"{path}: video {unknown[0]!r} is not in {data}/utt2label")
        scores[name] = s
    rep: dict = {"data": str(data), "systems": {}, "pairs": [], "fusion": []}
    for name in systems:
        utts = sorted(scores[name])
        rep["systems"][name] = {"auc": _auc(scores[name], labels, utts), "n": len(utts), "scores": str(systems[name])}
    for a, b in itertools.combinations(systems, 2):
        common = sorted(set(scores[a]) & set(scores[b]))
        if len(common) < 3:
            raise ValueError(f"{a} and {b} share {len(common)} videos: too few to correlate")
        x, y = np.array([scores[a][u] for u in common]), np.array([scores[b][u] for u in common])
        rep["pairs"].append({"a": a, "b": b, "n": len(common), "pearson": float(stats.pearsonr(x, y)[0]),
                             "spearman": float(stats.spearmanr(x, y)[0])})
    for name in fused:
        parts = name.split("+")
        missing = [p for p in parts if p not in systems]
        if missing:
            raise ValueError(f"--fused {name}: {missing[0]!r} is not one of the --scores systems")
        common = sorted(set(scores[name]).intersection(*(scores[p] for p in parts)))
        single = {p: _auc(scores[p], labels, common) for p in parts}
        fused_auc = _auc(scores[name], labels, common)
        best = max(single, key=single.get)
        rep["fusion"].append({"systems": parts, "n": len(common), "auc": fused_auc, "best_single": best,
                              "best_single_auc": single[best], "gain": fused_auc - single[best],
                              "scores": str(fused[name])})
    return rep


def to_markdown(rep: dict) -> str:
    out = [f"Videos of `{rep['data']}`; AUC with real as the positive class.", "",
           "| system | AUC | videos |", "|---|---|---|"]
    out += [f"| {n} | {r['auc']:.4f} | {r['n']} |" for n, r in rep["systems"].items()]
    if rep["pairs"]:
        out += ["", "| pair | Pearson | Spearman | videos |", "|---|---|---|---|"]
        out += [f"| {p['a']} / {p['b']} | {p['pearson']:.3f} | {p['spearman']:.3f} | {p['n']} |" for p in rep["pairs"]]
    if rep["fusion"]:
        out += ["", "| fusion | AUC | best single (AUC) | gain |", "|---|---|---|---|"]
        out += [f"| {' + '.join(f['systems'])} | {f['auc']:.4f} | {f['best_single']} ({f['best_single_auc']:.4f}) "
                f"| {f['gain']:+.4f} |" for f in rep["fusion"]]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path, help="data dir with utt2label")
    parser.add_argument("--scores", nargs="+", required=True, metavar="NAME=PATH")
    parser.add_argument("--fused", nargs="*", default=[], metavar="A+B=PATH")
    parser.add_argument("--out_json", required=True, type=Path)
    parser.add_argument("--out_md", type=Path)
    args = parser.parse_args(argv)
    setup_logging()
    try:
        rep = compare(args.data, _named(args.scores, "--scores"), _named(args.fused, "--fused"))
    except (DataDirError, ScoreFileError, MetricError, ValueError) as e:
        print(f"compare_scores: {e}", file=sys.stderr)
        return 1
    with atomic_open(args.out_json) as f:
        json.dump(rep, f, indent=2)
    text = to_markdown(rep)
    if args.out_md:
        with atomic_open(args.out_md) as f:
            f.write(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(run(main, "compare_scores"))
