"""Score a data dir with a probe (linear probe or anomaly model) on frame features.

    python -m avdf.bin.score_probe --exp_dir exp/probe/wav2vec2_linear_fold1 \\
        --data data/ssl/wav2vec2/fold1/test --out exp/probe/wav2vec2_linear_fold1/scores/test.txt \\
        [--frame_scores exp/probe/wav2vec2_linear_fold1/scores/test_frames]

Writes ``<utt> <score>`` lines (higher = more real) and, with ``--frame_scores X``, the
per-frame scores as kaldiio vectors ``X.ark`` / ``X.scp`` (for plots over time).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import kaldiio
import torch
from tqdm import tqdm

from avdf.data.datadir import DataDirError
from avdf.tasks import build_task
from avdf.train.trainer import load_trained_model
from avdf.utils.config import ConfigError, load_config
from avdf.utils.fileio import atomic_open
from avdf.utils.log import setup_logging


@torch.no_grad()
def score(exp_dir: Path, data: str, out: Path, frame_scores: Path | None, device: str) -> int:
    """Score every video of ``data``; return how many."""
    cfg = load_config(exp_dir / "config.yaml")
    task = build_task(cfg, {"test": data})
    model = load_trained_model(exp_dir, task, device)
    ds = task.dataset("test")
    lines = []
    writer = None
    if frame_scores:
        ark, scp = Path(f"{frame_scores}.ark"), Path(f"{frame_scores}.scp")
        tmp_ark, tmp_scp = ark.parent / f".{ark.name}.tmp", ark.parent / f".{scp.name}.tmp"
        ark.parent.mkdir(parents=True, exist_ok=True)
        writer = kaldiio.WriteHelper(f"ark,scp:{tmp_ark},{tmp_scp}")
    try:
        for utt in tqdm(ds.utts, desc=f"scoring {data}", mininterval=10, disable=None):
            x = torch.from_numpy(ds.load(utt))[None].to(device)
            video, frames = model(x, torch.tensor([x.shape[1]], device=device))
            lines.append(f"{utt} {float(video[0]):.6f}\n")
            if writer:
                writer(utt, frames[0].float().cpu().numpy())
        if writer:
            writer.close()
            text = tmp_scp.read_text().replace(str(tmp_ark), str(ark))
            with atomic_open(scp) as f:
                f.write(text)
            os.replace(tmp_ark, ark)
    finally:
        if writer:
            writer.close()
            tmp_ark.unlink(missing_ok=True)
            tmp_scp.unlink(missing_ok=True)
    with atomic_open(out) as f:
        f.writelines(lines)
    return len(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp_dir", required=True, type=Path)
    parser.add_argument("--data", required=True, help="data dir with feats.scp")
    parser.add_argument("--out", required=True, type=Path, help="score file to write")
    parser.add_argument("--frame_scores", type=Path, help="write per-frame scores to this .ark/.scp pair")
    parser.add_argument("--cpu", action="store_true")
    args = parser.parse_args(argv)
    setup_logging()
    device = "cuda" if torch.cuda.is_available() and not args.cpu else "cpu"
    try:
        n = score(args.exp_dir, args.data, args.out, args.frame_scores, device)
    except (ConfigError, DataDirError, ValueError, FileNotFoundError) as e:
        print(f"score_probe: {e}", file=sys.stderr)
        return 1
    logging.getLogger("score_probe").info("%s: %d videos", args.out, n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
