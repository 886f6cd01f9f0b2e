"""Train a GMM countermeasure (LFCC-GMM, CQCC-GMM): one diagonal GMM per class by EM.

    python -m avdf.bin.train_gmm --config conf/lfcc_gmm.yaml --exp_dir exp/lfcc_gmm \\
        --train_data data/train [--cpu] [--gmm.n_iter 10 ...]

Reads the training data dir's ``feats.scp`` and ``utt2label``; for each class
(bona fide, spoof) initialises ``model.n_components`` Gaussians by k-means on a random
subset of its frames (``gmm.init_frames``, ``gmm.kmeans_iter`` Lloyd iterations) and
runs ``gmm.n_iter`` EM iterations over all its frames (at most ``gmm.max_frames``,
sampled at random), in batches, on the GPU when there is one. Writes
``exp_dir/gmm_<class>.pt`` as each class finishes (a re-run resumes from them), then
``exp_dir/model.pt`` (the ``lfcc_gmm`` model's state, read by ``avdf.bin.infer_cm``) and
``exp_dir/config.yaml``.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import kaldiio
import numpy as np
import torch
from tqdm import tqdm

from avdf.backend.gmm import GMM
from avdf.data.datadir import DataDirError, read_kv
from avdf.models import build_model
from avdf.tasks.cm import read_labels
from avdf.train import checkpoint as ckpt
from avdf.utils.config import load_config, save_config
from avdf.utils.log import setup_logging

logger = logging.getLogger("train_gmm")
GMM_DEFAULTS = {"n_iter": 10, "kmeans_iter": 10, "init_frames": 100000, "max_frames": 0,
                "batch_size": 20000, "var_floor": 1e-3, "seed": 0}


def class_frames(data_dir: Path, cls: int, max_frames: int, rng: np.random.Generator) -> torch.Tensor:
    """All frames of the utterances labelled ``cls`` (1 bona fide, 0 spoof), as one (N, D) tensor."""
    scp = data_dir / "feats.scp"
    if not scp.is_file():
        raise DataDirError(f"{scp}: missing: run the feature stage first")
    utts = list(read_kv(scp))
    labels = read_labels(data_dir, utts)
    chosen = [u for u in utts if labels[u] == cls]
    if not chosen:
        raise DataDirError(f"{data_dir}/utt2label: no {'bonafide' if cls else 'spoof'} utterance with features")
    feats = kaldiio.load_scp(str(scp))
    parts = [np.asarray(feats[u], dtype=np.float32)
             for u in tqdm(chosen, desc=f"loading {'bonafide' if cls else 'spoof'} frames", mininterval=10, disable=None)]
    x = np.concatenate(parts)
    if max_frames and x.shape[0] > max_frames:
        x = x[np.sort(rng.choice(x.shape[0], max_frames, replace=False))]
    if not np.isfinite(x).all():
        raise DataDirError(f"{scp}: features contain NaN or inf")
    return torch.from_numpy(x)


def train_class(frames: torch.Tensor, n_components: int, g: dict, device: torch.device) -> GMM:
    rng = np.random.default_rng(int(g["seed"]))
    init = frames
    if frames.shape[0] > int(g["init_frames"]):
        init = frames[torch.from_numpy(rng.choice(frames.shape[0], int(g["init_frames"]), replace=False))]
    if init.shape[0] < n_components:
        raise ValueError(f"{init.shape[0]} frames cannot initialise {n_components} Gaussians")
    gmm = GMM.init_from_frames(init.to(device), n_components, "diag", seed=int(g["seed"]),
                               kmeans_iter=int(g["kmeans_iter"]))
    gmm.fit(frames.to(device), n_iter=int(g["n_iter"]), batch_size=int(g["batch_size"]),
            var_floor=float(g["var_floor"]))
    return gmm.to("cpu")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--exp_dir", required=True, type=Path)
    parser.add_argument("--train_data", required=True, type=Path)
    parser.add_argument("--cpu", action="store_true", help="do not use a GPU even if there is one")
    parser.add_argument("--verbose", type=int, default=0)
    args, overrides = parser.parse_known_args(argv)
    setup_logging(args.verbose)
    cfg = load_config(args.config, overrides)
    g = {**GMM_DEFAULTS, **(cfg.get("gmm") or {})}
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    model = build_model(cfg["model"])
    if not hasattr(model, "set_gmm"):
        print(f"train_gmm: model {cfg['model']['name']!r} is not a GMM countermeasure", file=sys.stderr)
        return 1
    args.exp_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, args.exp_dir / "config.yaml")
    rng = np.random.default_rng(int(g["seed"]))
    try:
        for cls, name in ((1, "bonafide"), (0, "spoof")):
            path = args.exp_dir / f"gmm_{name}.pt"
            if path.is_file():
                logger.info("%s: already trained, reusing", path)
                gmm = GMM.load(path)
            else:
                frames = class_frames(args.train_data, cls, int(g["max_frames"]), rng)
                logger.info("%s: %d frames of dim %d, %d components on %s", name, frames.shape[0],
                            frames.shape[1], model.n_components, device)
                gmm = train_class(frames, model.n_components, g, device)
                gmm.save(path)
            model.set_gmm(name, gmm.to(dtype=torch.float32))
    except (DataDirError, ValueError) as e:
        print(f"train_gmm: {e}", file=sys.stderr)
        return 1
    ckpt.save({"model": model.state_dict(), "config": cfg}, args.exp_dir / "model.pt")
    logger.info("wrote %s", args.exp_dir / "model.pt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
