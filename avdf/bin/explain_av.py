"""Stage 6 of the audio-visual recipes: pictures that explain a model's decisions.

    python -m avdf.bin.explain_av --exp_dir exp/fgi --data data/<tag>/test \\
        --chunks exp/fgi/scores/test.chunks.txt --out_dir exp/fgi/explain [--num 3] [--utts a,b]

For each chosen video (``--utts``, or the ``--num`` most fake-looking fakes and most
real-looking reals by mean chunk score, or the first ones of each class without scores):

- ``<utt>.scores.png``: the chunk scores (1 - p(fake)) over time, with the video's mean;
- ``<utt>.maps.png`` (models that expose them, e.g. fgi): for the chunk scored most fake,
  its middle face frame beside the distance map, the attention map and their product, and
  the product laid over the face (as Figure 8 of Astrid et al., BMVC 2024).

Prints the PNG paths. Videos are read from the preprocessed data dir; nothing is re-encoded.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import torch

from avdf.data.datadir import DataDirError, read_kv
from avdf.tasks import build_task
from avdf.tasks.av import AVData
from avdf.train.trainer import load_trained_model
from avdf.utils.config import ConfigError, load_config
from avdf.utils.fileio import atomic_path
from avdf.utils.log import setup_logging
from avdf.bin import run

logger = logging.getLogger("explain_av")


def read_chunks(path: Path) -> dict[str, list[tuple[float, float]]]:
    """``<utt> <start seconds> <score>`` lines -> {utt: [(t, score), ...]}."""
    out: dict[str, list[tuple[float, float]]] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        f = line.split()
        if len(f) != 3:
            raise DataDirError(f"{path}:{n}: expected '<utt> <start seconds> <score>'")
        out.setdefault(f[0], []).append((float(f[1]), float(f[2])))
    return out


def choose(data: AVData, chunks: dict[str, list[tuple[float, float]]] | None, num: int) -> list[str]:
    """The ``num`` lowest-scored fakes and highest-scored reals (or the first of each class)."""
    real = [u for u in data.utts if data.labels[u][0] == 0]
    fake = [u for u in data.utts if data.labels[u][0] == 1]
    if chunks:
        mean = {u: float(np.mean([s for _, s in c])) for u, c in chunks.items()}
        fake = sorted((u for u in fake if u in mean), key=lambda u: mean[u])
        real = sorted((u for u in real if u in mean), key=lambda u: -mean[u])
    return fake[:num] + real[:num]


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)


def plot_scores(utt: str, label: str, rows: list[tuple[float, float]], chunk_s: float, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.array([r[0] for r in rows])
    s = np.array([r[1] for r in rows])
    fig, ax = plt.subplots(figsize=(6, 2.6))
    ax.step(np.append(t, t[-1] + chunk_s), np.append(s, s[-1]), where="post", color="tab:blue", label="chunk score")
    ax.axhline(s.mean(), color="tab:orange", ls="--", label=f"video score {s.mean():.3f}")
    ax.axhline(0.5, color="grey", lw=0.6)
    ax.set(ylim=(-0.02, 1.02), xlabel="time (s)", ylabel="1 - p(fake)", title=f"{utt} ({label})")
    ax.legend(loc="lower right", fontsize=7)
    _save(fig, path)


def plot_maps(utt: str, label: str, frame: np.ndarray, out: dict, score: float, t0: float, path: Path) -> None:
    import cv2
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    maps = [("distance", out["distance"])]
    if out.get("attention") is not None:
        maps += [("attention", out["attention"]), ("distance x attention", out["product"])]
    fig, axes = plt.subplots(1, len(maps) + 2, figsize=(3 * (len(maps) + 2), 3.2))
    axes[0].imshow(frame)
    axes[0].set_title(f"input frame at {t0:.1f} s")
    for ax, (name, m) in zip(axes[1:], maps):
        im = ax.imshow(m, cmap="viridis")
        ax.set_title(name)
        fig.colorbar(im, ax=ax, fraction=0.046)
    last = maps[-1][1]
    heat = cv2.resize((last - last.min()) / (np.ptp(last) + 1e-12), frame.shape[1::-1], interpolation=cv2.INTER_CUBIC)
    axes[-1].imshow(frame)
    axes[-1].imshow(heat, cmap="jet", alpha=0.45)
    axes[-1].set_title(f"{maps[-1][0]} on the frame")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{utt} ({label}), chunk score {score:.3f}")
    _save(fig, path)


@torch.no_grad()
def explain(exp_dir: Path, data_dir: Path, out_dir: Path, utts: list[str] | None, chunks_path: Path | None,
            num: int, overrides: list[str]) -> list[Path]:
    cfg = load_config(exp_dir / "config.yaml", overrides)
    task = build_task(cfg, {})
    model = load_trained_model(exp_dir, task, "cpu")
    data = task.av_data(data_dir)
    chunks = read_chunks(chunks_path) if chunks_path and chunks_path.is_file() else None
    chosen = utts or choose(data, chunks, num)
    unknown = [u for u in chosen if u not in data.visual]
    if unknown:
        raise DataDirError(f"{data_dir}: no video {unknown[0]!r}")
    attacks = read_kv(data_dir / "utt2attack") if (data_dir / "utt2attack").is_file() else {}
    written = []
    for utt in chosen:
        label = "real" if data.labels[utt][0] == 0 else (f"fake: {attacks[utt]}" if utt in attacks else "fake")
        chunk_s = data.chunk_frames / data.fps[utt]
        rows = (chunks or {}).get(utt)
        if rows:
            p = out_dir / f"{utt}.scores.png"
            plot_scores(utt, label, rows, chunk_s, p)
            written.append(p)
        start_s, score = min(rows, key=lambda r: r[1]) if rows else (0.0, float("nan"))
        start = int(round(start_s * data.fps[utt]))
        video, audio = data.chunk(utt, start)
        out = model(torch.from_numpy(video)[None], torch.from_numpy(audio)[None])
        if out.get("distance") is None:
            continue
        maps = {k: (v[0].float().numpy() if isinstance(v, torch.Tensor) else v) for k, v in out.items()
                if k in ("distance", "attention", "product")}
        if np.isnan(score):
            score = float(1 - torch.sigmoid(out["logit"].float())[0])
        p = out_dir / f"{utt}.maps.png"
        plot_maps(utt, label, video[len(video) // 2], maps, score, start_s, p)
        written.append(p)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp_dir", required=True, type=Path)
    parser.add_argument("--data", required=True, type=Path, help="preprocessed data dir")
    parser.add_argument("--out_dir", required=True, type=Path)
    parser.add_argument("--chunks", type=Path, help="chunk scores from avdf.bin.infer_av (<out stem>.chunks.txt)")
    parser.add_argument("--utts", default="", help="comma-separated videos (default: chosen by score)")
    parser.add_argument("--num", type=int, default=2, help="how many fakes and how many reals to explain")
    args, overrides = parser.parse_known_args(argv)
    setup_logging()
    try:
        paths = explain(args.exp_dir, args.data, args.out_dir, [u for u in args.utts.split(",") if u] or None,
                        args.chunks, args.num, overrides)
    except (DataDirError, ConfigError, ValueError, FileNotFoundError) as e:
        print(f"explain_av: {e}", file=sys.stderr)
        return 1
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(run(main, "explain_av"))
