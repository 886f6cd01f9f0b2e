"""Fit the anomaly-detection proxy (a Gaussian of real frames) on a training data dir.

    python -m avdf.bin.fit_anomaly --config conf/probe/anomaly.yaml \\
        --train_data data/ssl/wav2vec2/fold1/train --exp_dir exp/probe/wav2vec2_anomaly_fold1

Only the real videos (``utt2label`` bonafide) of ``--train_data`` are used. Writes
``<exp_dir>/config.yaml`` and ``model.pt`` in the trainer's layout, so that
``python -m avdf.bin.score_probe`` scores it like a trained linear probe.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from avdf.backend.anomaly import fit_gaussian, real_frames
from avdf.data.datadir import DataDirError
from avdf.tasks import build_task
from avdf.train import checkpoint as ckpt
from avdf.utils.config import ConfigError, load_config, save_config
from avdf.utils.fileio import atomic_open
from avdf.utils.log import setup_logging
from avdf.bin import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--train_data", required=True)
    parser.add_argument("--exp_dir", required=True, type=Path)
    parser.add_argument("--max_frames", type=int, default=200_000, help="real frames kept for the fit")
    args, overrides = parser.parse_known_args(argv)
    setup_logging()
    try:
        cfg = load_config(args.config, overrides)
        task = build_task(cfg, {"test": args.train_data})  # "test": no trainer statistics wanted
        model = task.build_model()
        if not hasattr(model, "precision_chol"):
            raise ValueError(f"{args.config}: model {cfg['model'].get('name')!r} is not a Gaussian anomaly model")
        frames = real_frames(task.dataset("test"), args.max_frames, int(cfg.get("seed", 0)))
        info = fit_gaussian(model, frames)
    except (ConfigError, DataDirError, ValueError) as e:
        print(f"fit_anomaly: {e}", file=sys.stderr)
        return 1
    args.exp_dir.mkdir(parents=True, exist_ok=True)
    save_config(task.cfg, args.exp_dir / "config.yaml")
    ckpt.save({"model": model.state_dict(), "config": task.cfg}, args.exp_dir / "model.pt")
    with atomic_open(args.exp_dir / "fit.json") as f:
        json.dump({"train_data": args.train_data, **info}, f, indent=2)
    logging.getLogger("fit_anomaly").info("%s: fitted on %d frames", args.exp_dir / "model.pt", int(info["frames"]))
    return 0


if __name__ == "__main__":
    sys.exit(run(main, "fit_anomaly"))
