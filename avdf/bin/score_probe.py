"""Score a data dir with a probe (linear probe or anomaly model) on frame features.

    python -m avdf.bin.score_probe --exp_dir exp/probe/wav2vec2_linear_fold1 \\
        --data data/ssl/wav2vec2/fold1/test --out exp/probe/wav2vec2_linear_fold1/scores/test.txt [--frame_scores]
    # several data dirs: <out_dir>/<data dir name>.txt
    python -m avdf.bin.score_probe --exp_dir E --data D/valid D/test --out_dir E/scores [--frame_scores]

Writes ``<utt> <score>`` lines (higher = more real) and, with ``--frame_scores``, one
``<utt> <seconds> <score>`` line per frame to ``<score file stem>.frames.txt`` (times from
the data dir's ``utt2frame_rate``), the format of infer_av's chunk scores, for
``python -m avdf.bin.plot_frame_scores``.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from avdf.data.datadir import DataDirError, read_kv
from avdf.tasks import build_task
from avdf.train.trainer import load_trained_model
from avdf.utils.config import ConfigError, load_config
from avdf.utils.fileio import atomic_open
from avdf.utils.log import setup_logging
from avdf.bin import run


@torch.no_grad()
def score(exp_dir: Path, data: str, out: Path, frame_scores: Path | None, device: str) -> int:
    """Score every video of ``data``; return how many."""
    cfg = load_config(exp_dir / "config.yaml")
    task = build_task(cfg, {"test": data})
    model = load_trained_model(exp_dir, task, device)
    ds = task.dataset("test")
    rate = None
    if frame_scores:
        rate_file = Path(data) / "utt2frame_rate"
        if not rate_file.is_file():
            raise DataDirError(f"{rate_file}: missing: --frame_scores needs the frame rate of the features")
        rate = {u: float(v) for u, v in read_kv(rate_file).items()}
    lines, frame_lines = [], []
    for utt in tqdm(ds.utts, desc=f"scoring {data}", mininterval=10, disable=None):
        x = torch.from_numpy(ds.load(utt))[None].to(device)
        video, frames = model(x, torch.tensor([x.shape[1]], device=device))
        lines.append(f"{utt} {float(video[0]):.6f}\n")
        if rate is not None:
            frame_lines += [f"{utt} {t / rate[utt]:.3f} {float(s):.6f}\n" for t, s in enumerate(frames[0].cpu())]
    with atomic_open(out) as f:
        f.writelines(lines)
    if frame_scores:
        with atomic_open(frame_scores) as f:
            f.writelines(frame_lines)
    return len(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp_dir", required=True, type=Path)
    parser.add_argument("--data", required=True, nargs="+", help="data dir(s) with feats.scp")
    parser.add_argument("--out", type=Path, help="score file to write (one --data)")
    parser.add_argument("--out_dir", type=Path, help="several --data: write <out_dir>/<data dir name>.txt")
    parser.add_argument("--frame_scores", action="store_true",
                        help="also write per-frame scores (<utt> <seconds> <score>) to <score file stem>.frames.txt")
    parser.add_argument("--cpu", action="store_true")
    args = parser.parse_args(argv)
    if (args.out is None) == (args.out_dir is None) or (args.out and len(args.data) > 1):
        parser.error("give --out with one --data, or --out_dir")
    setup_logging()
    device = "cuda" if torch.cuda.is_available() and not args.cpu else "cpu"
    try:
        for data in args.data:
            out = args.out or args.out_dir / f"{Path(data).name}.txt"
            frames = out.with_name(f"{out.stem}.frames.txt") if args.frame_scores else None
            n = score(args.exp_dir, data, out, frames, device)
            logging.getLogger("score_probe").info("%s: %d videos", out, n)
    except (ConfigError, DataDirError, ValueError, FileNotFoundError) as e:
        print(f"score_probe: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run(main, "score_probe"))
