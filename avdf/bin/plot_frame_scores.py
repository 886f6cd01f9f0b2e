"""Plot scores over time for chosen videos, one PNG per video, one panel per system.

    python -m avdf.bin.plot_frame_scores --data data/ssl/wav2vec2/fold1/test \\
        --scores wav2vec2=exp/a/scores/test.frames.txt resnet18=exp/b/scores/test.frames.txt \\
        --out_dir exp/plots [--utts U1 U2 | --per_group 1]

Score files hold ``<utt> <seconds> <score>`` lines (``score_probe --frame_scores``, or
``infer_av``'s ``.chunks.txt``). Without ``--utts``, the first ``--per_group`` videos (in
sorted order) of every category (``utt2category``, else ``utt2label``) scored by all systems
are drawn. Each panel shows the system's scores (higher = more real), and the title the
video's label, category and attack where the data dir has them.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections import defaultdict
from pathlib import Path

from avdf.data.datadir import DataDirError, read_kv
from avdf.utils.fileio import atomic_path
from avdf.utils.log import setup_logging
from avdf.bin import run

logger = logging.getLogger("plot_frame_scores")


def read_time_scores(path: Path) -> dict[str, tuple[list[float], list[float]]]:
    """``{utt: (seconds, scores)}`` of a ``<utt> <seconds> <score>`` file."""
    out: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if len(parts) != 3:
                raise DataDirError(f"{path}:{n}: expected '<utt> <seconds> <score>', got {len(parts)} fields")
            try:
                t, s = float(parts[1]), float(parts[2])
            except ValueError:
                raise DataDirError(f"{path}:{n}: seconds and score must be numbers: {line.strip()!r}") from None
            out[parts[0]][0].append(t)
            out[parts[0]][1].append(s)
    return dict(out)


def choose(data: Path, candidates: set[str], per_group: int) -> list[str]:
    """The first ``per_group`` candidates of each category (or label), in sorted order."""
    name = "utt2category" if (data / "utt2category").is_file() else "utt2label"
    groups: dict[str, list[str]] = defaultdict(list)
    for utt, g in read_kv(data / name).items():
        if utt in candidates and len(groups[g]) < per_group:
            groups[g].append(utt)
    return [u for g in sorted(groups) for u in groups[g]]


def plot(data: Path, systems: dict[str, Path], out_dir: Path, utts: list[str] | None, per_group: int) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {name: read_time_scores(p) for name, p in systems.items()}
    common = set.intersection(*(set(s) for s in series.values()))
    if utts is None:
        utts = choose(data, common, per_group)
    missing = [u for u in utts if u not in common]
    if missing:
        raise DataDirError(f"video {missing[0]!r} is not scored by every system")
    info = {n: read_kv(data / n) for n in ("utt2label", "utt2category", "utt2attack") if (data / n).is_file()}
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for utt in utts:
        fig, axes = plt.subplots(len(series), 1, figsize=(8, 1.8 * len(series) + 0.6), sharex=True, squeeze=False)
        for ax, (name, s) in zip(axes[:, 0], series.items()):
            t, y = s[utt]
            ax.plot(t, y, lw=1.2)
            ax.set_ylabel(name, fontsize=8)
            ax.grid(alpha=0.3)
        axes[-1, 0].set_xlabel("time (s)")
        desc = ", ".join(f"{k[4:]} {v[utt]}" for k, v in info.items() if utt in v)
        fig.suptitle(f"{utt}\n{desc}  (higher = more real)", fontsize=8)
        fig.tight_layout()
        path = out_dir / f"{utt}.png"
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--scores", nargs="+", required=True, metavar="NAME=PATH")
    parser.add_argument("--out_dir", required=True, type=Path)
    parser.add_argument("--utts", nargs="+")
    parser.add_argument("--per_group", type=int, default=1)
    args = parser.parse_args(argv)
    setup_logging()
    systems = {}
    for item in args.scores:
        name, sep, path = item.partition("=")
        if not sep:
            parser.error(f"--scores {item!r}: expected NAME=PATH")
        systems[name] = Path(path)
    try:
        written = plot(args.data, systems, args.out_dir, args.utts, args.per_group)
    except (DataDirError, OSError) as e:
        print(f"plot_frame_scores: {e}", file=sys.stderr)
        return 1
    for p in written:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(run(main, "plot_frame_scores"))
