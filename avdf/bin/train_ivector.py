"""Train an i-vector extractor: diagonal UBM, full-covariance UBM, then the total-variability
matrix, as Kaldi's ``sid/train_diag_ubm.sh``, ``train_full_ubm.sh`` and
``train_ivector_extractor.sh`` do; in torch, on the GPU when there is one.

    python -m avdf.bin.train_ivector --config conf/ivector.yaml --data data/train_mfcc \\
        --exp_dir exp/ivector [--step ubm|tmatrix|all] [--cpu] [--ubm.components 512 ...]

Features are read as the config's ``data:`` section says (feats.scp, VAD, sliding CMN).
``ubm:``: ``components`` (2048), ``diag_iters`` (20 from random frames, Kaldi's
init-from-feats count) then ``full_iters`` (4) on every ``subsample``-th frame (5) of
``max_utts`` random utterances (all when null). ``ivector:``: ``dim`` (400), ``iters``
(5), trained on the ``max_utts`` longest utterances (100000, as Kaldi); statistics are
recomputed each iteration unless they fit in ``cache_gb``. Every EM iteration is
checkpointed under ``exp_dir/ubm`` / ``exp_dir/tmatrix``; a re-run resumes. Outputs:
``exp_dir/ubm/final.pt`` (full UBM), ``exp_dir/extractor.pt``, ``exp_dir/config.yaml``.
"""
from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from avdf.backend.gmm import GMM
from avdf.backend.ivector import IVectorExtractor, batched, utterance_stats
from avdf.data.datadir import DataDirError
from avdf.utils.config import get, load_config, save_config
from avdf.utils.log import setup_logging
from avdf.bin import run

logger = logging.getLogger("train_ivector")

UBM_DEFAULTS = {"components": 2048, "diag_iters": 20, "full_iters": 4, "subsample": 5, "max_utts": None,
                "var_floor": 1e-3, "seed": 0}
IVECTOR_DEFAULTS = {"dim": 400, "iters": 5, "max_utts": 100000, "num_gselect": 20, "min_post": 0.025,
                    "batch_size": 256, "cache_gb": 4.0, "seed": 0}


def _section(cfg: dict, name: str, defaults: dict) -> dict:
    conf = {**defaults, **(cfg.get(name) or {})}
    unknown = set(conf) - set(defaults)
    if unknown:
        raise ValueError(f"{name}: unknown option(s) {sorted(unknown)}; known: {sorted(defaults)}")
    return conf


def _latest(d: Path, prefix: str) -> tuple[int, Path | None]:
    best = (0, None)
    for p in d.glob(f"{prefix}_iter*.pt") if d.is_dir() else []:
        m = re.match(rf"{prefix}_iter(\d+)\.pt$", p.name)
        if m and int(m.group(1)) > best[0]:
            best = (int(m.group(1)), p)
    return best


def _gmm_stage(gmm: GMM, frames: torch.Tensor, d: Path, prefix: str, start: int, n_iter: int, var_floor: float) -> GMM:
    for it in range(start + 1, n_iter + 1):
        hist = gmm.fit(frames, n_iter=1, var_floor=var_floor, progress=False)
        logger.info("%s UBM iteration %d/%d: average log-likelihood %.4f", prefix, it, n_iter, hist[0])
        gmm.save(d / f"{prefix}_iter{it}.pt")
        prev = d / f"{prefix}_iter{it - 1}.pt"
        prev.unlink(missing_ok=True)
    return gmm


def train_ubm(reader, conf: dict, exp_dir: Path, device: torch.device) -> GMM:
    d = exp_dir / "ubm"
    final = d / "final.pt"
    if final.is_file():
        logger.info("%s exists: UBM already trained", final)
        return GMM.load(final, device)
    d.mkdir(parents=True, exist_ok=True)
    utts = reader.utts()
    rng = np.random.default_rng(int(conf["seed"]))
    if conf["max_utts"] and len(utts) > int(conf["max_utts"]):
        utts = sorted(rng.choice(utts, size=int(conf["max_utts"]), replace=False).tolist())
    k = max(1, int(conf["subsample"]))
    frames = torch.cat([torch.from_numpy(reader.read(u)[::k]) for u in tqdm(utts, desc="UBM frames", disable=None)])
    frames = frames.to(device)
    logger.info("UBM: %d frames (every %d-th) of %d utterances, dim %d", len(frames), k, len(utts), frames.shape[1])
    diag_done = d / "diag.pt"
    if diag_done.is_file():
        diag = GMM.load(diag_done, device)
    else:
        start, ck = _latest(d, "diag")
        diag = GMM.load(ck, device) if ck else GMM.init_from_frames(frames, int(conf["components"]), "diag",
                                                                     seed=int(conf["seed"]))
        diag = _gmm_stage(diag, frames, d, "diag", start, int(conf["diag_iters"]), float(conf["var_floor"]))
        diag.save(diag_done)
        (d / f"diag_iter{conf['diag_iters']}.pt").unlink(missing_ok=True)
    start, ck = _latest(d, "full")
    full = GMM.load(ck, device) if ck else diag.to_full()
    full = _gmm_stage(full, frames, d, "full", start, int(conf["full_iters"]), float(conf["var_floor"]))
    full.save(final)
    (d / f"full_iter{conf['full_iters']}.pt").unlink(missing_ok=True)
    return full


def train_tmatrix(reader, ubm: GMM, conf: dict, exp_dir: Path, device: torch.device) -> IVectorExtractor:
    d = exp_dir / "tmatrix"
    final = exp_dir / "extractor.pt"
    if final.is_file():
        logger.info("%s exists: extractor already trained", final)
        return IVectorExtractor.load(final, device)
    d.mkdir(parents=True, exist_ok=True)
    utts = reader.utts()
    if conf["max_utts"] and len(utts) > int(conf["max_utts"]):
        if not reader.dir.has("utt2num_frames"):
            raise DataDirError(f"{reader.dir.path}/utt2num_frames: needed to pick the {conf['max_utts']} longest utterances")
        n = {u: int(v) for u, v in reader.dir.read("utt2num_frames").items()}
        utts = sorted(sorted(utts, key=lambda u: -n.get(u, 0))[: int(conf["max_utts"])])
    gsel, min_post, bs = int(conf["num_gselect"]), float(conf["min_post"]), int(conf["batch_size"])
    ubm = ubm.to(device)

    def stats():
        for part in batched(utts, bs):
            yield utterance_stats(ubm, (torch.from_numpy(reader.read(u)) for u in part), gsel, min_post)

    need_gb = len(utts) * ubm.n_components * (ubm.dim + 1) * 8 / 2 ** 30
    cache = None
    if need_gb <= float(conf["cache_gb"]):
        cache = [(n.cpu(), f.cpu()) for n, f in tqdm(stats(), desc="i-vector stats", disable=None)]
        logger.info("statistics of %d utterances cached (%.2f GB)", len(utts), need_gb)
    start, ck = _latest(d, "extractor")
    ext = IVectorExtractor.load(ck, device) if ck else IVectorExtractor.init_random(ubm, int(conf["dim"]),
                                                                                   seed=int(conf["seed"]))
    for it in range(start + 1, int(conf["iters"]) + 1):
        info = ext.em_iteration(cache if cache is not None else stats())
        logger.info("T-matrix iteration %d/%d: %s", it, conf["iters"],
                    " ".join(f"{k}={v:.4g}" for k, v in info.items()))
        ext.save(d / f"extractor_iter{it}.pt")
        (d / f"extractor_iter{it - 1}.pt").unlink(missing_ok=True)
    ext.save(final)
    (d / f"extractor_iter{conf['iters']}.pt").unlink(missing_ok=True)
    return ext


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True)
    p.add_argument("--data", required=True, type=Path, help="training data dir (feats.scp, vad.scp)")
    p.add_argument("--exp_dir", required=True, type=Path)
    p.add_argument("--step", default="all", choices=["ubm", "tmatrix", "all"])
    p.add_argument("--cpu", action="store_true")
    p.add_argument("--num_threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args, overrides = p.parse_known_args(argv)
    setup_logging()
    try:
        from avdf.tasks.asv import FeatureReader

        cfg = load_config(args.config, overrides)
        ubm_conf, iv_conf = _section(cfg, "ubm", UBM_DEFAULTS), _section(cfg, "ivector", IVECTOR_DEFAULTS)
        if args.num_threads:
            torch.set_num_threads(args.num_threads)
        device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
        args.exp_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, args.exp_dir / "config.yaml")
        reader = FeatureReader(args.data, cfg)
        if get(cfg, "data.input", "feats") != "feats":
            raise ValueError("train_ivector reads feats.scp: set data.input to feats")
        ubm = train_ubm(reader, ubm_conf, args.exp_dir, device) if args.step in ("ubm", "all") else None
        if args.step in ("tmatrix", "all"):
            if ubm is None:
                final = args.exp_dir / "ubm" / "final.pt"
                if not final.is_file():
                    raise FileNotFoundError(f"{final}: train the UBM first (--step ubm)")
                ubm = GMM.load(final, device)
            train_tmatrix(reader, ubm, iv_conf, args.exp_dir, device)
    except (DataDirError, FileNotFoundError, ValueError) as e:
        print(f"train_ivector: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run(main, "train_ivector"))
