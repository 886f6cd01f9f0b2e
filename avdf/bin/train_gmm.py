"""Train a GMM countermeasure (LFCC-GMM, CQCC-GMM): one diagonal GMM per class.

    python -m avdf.bin.train_gmm --config conf/lfcc_gmm.yaml --exp_dir exp/lfcc_gmm \\
        --train_data data/train [--cpu] [--gmm.n_iter 10 ...]

Reads the training data dir's ``feats.scp`` and ``utt2label``; for each class (bona fide,
spoof) takes every ``gmm.file_step``-th of its utterances (1: all; in the order of
``gmm.utt_order`` when set, else the data dir's sorted order) and all their frames (at
most ``gmm.max_frames``, sampled at random), and fits ``model.n_components`` diagonal
Gaussians by one of two recipes (``gmm.recipe``):

``avdf`` (the default)
    k-means initialisation on ``gmm.init_frames`` random frames (``gmm.kmeans_iter``
    Lloyd iterations from random frames, every variance the global one, uniform
    weights), then ``gmm.n_iter`` EM iterations with variances floored at
    ``gmm.var_floor`` times the mean global variance.
``sklearn``
    What ``sklearn.mixture.GaussianMixture(n_components, covariance_type='diag',
    init_params='kmeans', n_init=1, max_iter=gmm.n_iter, tol=gmm.tol,
    reg_covar=gmm.reg_covar, random_state=gmm.seed).fit(frames)`` computes, on the frames
    in float64: labels of scikit-learn's ``KMeans(n_clusters, n_init=1)`` (on the CPU)
    give the initial weights, means and variances (``reg_covar`` added), then EM
    iterations (``reg_covar`` added to every variance, counts plus ``10 * eps``) until
    ``gmm.n_iter`` of them or until the mean frame log-likelihood changes by less than
    ``gmm.tol``. The EM runs in avdf (batches of ``gmm.batch_size`` frames, on the GPU
    when there is one), so the frames need not fit scikit-learn's ``(frames, components)``
    arrays in memory. This is how the ASVspoof 2021 LA Python GMM baselines train
    (LFCC-GMM and CQCC-GMM, ``gmm.py`` ``train_gmm`` with ``init_only=True``: 512
    components, ``max_iter=10``, scikit-learn's defaults otherwise, every 10th training
    file of each class in the protocol's order, ``random_state=None``).

Writes ``exp_dir/gmm_<class>.pt`` as each class finishes (a re-run resumes from them when
``exp_dir/config.yaml`` has the same ``gmm``, ``model`` and ``frontend`` sections), then
``exp_dir/model.pt`` (the GMM countermeasure's state, read by ``avdf.bin.infer_cm``) and
``exp_dir/config.yaml``.
"""
from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

import kaldiio
import numpy as np
import torch
from tqdm import tqdm

from avdf.backend.gmm import GMM, GMMStats
from avdf.data.datadir import DataDirError, read_kv
from avdf.models import build_model
from avdf.tasks.cm import read_labels
from avdf.train import checkpoint as ckpt
from avdf.utils.config import load_config, save_config
from avdf.utils.log import setup_logging
from avdf.bin import run

logger = logging.getLogger("train_gmm")
GMM_DEFAULTS = {"recipe": "avdf", "n_iter": 10, "kmeans_iter": 10, "init_frames": 100000, "max_frames": 0,
                "batch_size": 20000, "var_floor": 1e-3, "seed": 0, "file_step": 1, "utt_order": None,
                "tol": 1e-3, "reg_covar": 1e-6}
RECIPES = ("avdf", "sklearn")


def ordered_utts(utts: list[str], order_file: str | None) -> list[str]:
    """``utts`` in the order of ``order_file``: on each of its lines the first field that is one of
    ``utts`` (an utterance list, or an ASVspoof protocol ``SPEAKER UTT ...``); those it does not
    name follow in sorted order."""
    if not order_file:
        return utts
    known, seen, out = set(utts), set(), []
    with open(order_file, encoding="utf-8") as f:
        for line in f:
            utt = next((w for w in line.split() if w in known), None)
            if utt is not None and utt not in seen:
                seen.add(utt)
                out.append(utt)
    if not out:
        raise DataDirError(f"{order_file}: names none of the {len(utts)} utterances with features")
    return out + [u for u in utts if u not in seen]


def class_frames(data_dir: Path, cls: int, max_frames: int, rng: np.random.Generator, file_step: int = 1,
                 utt_order: str | None = None) -> torch.Tensor:
    """The frames of every ``file_step``-th utterance labelled ``cls`` (1 bona fide, 0 spoof), as one (N, D) tensor."""
    scp = data_dir / "feats.scp"
    if not scp.is_file():
        raise DataDirError(f"{scp}: missing: run the feature stage first")
    if file_step < 1:
        raise ValueError(f"gmm.file_step must be >= 1, got {file_step}")
    utts = list(read_kv(scp))
    labels = read_labels(data_dir, utts)
    chosen = [u for u in ordered_utts(utts, utt_order) if labels[u] == cls][::file_step]
    if not chosen:
        raise DataDirError(f"{data_dir}/utt2label: no {'bonafide' if cls else 'spoof'} utterance with features")
    feats = kaldiio.load_scp(str(scp))
    parts = [np.asarray(feats[u], dtype=np.float32)
             for u in tqdm(chosen, desc=f"loading {'bonafide' if cls else 'spoof'} frames", mininterval=10, disable=None)]
    x = np.concatenate(parts)
    logger.info("%s: %d utterances (1 in %d), %d frames", "bonafide" if cls else "spoof", len(chosen),
                file_step, x.shape[0])
    if max_frames and x.shape[0] > max_frames:
        x = x[np.sort(rng.choice(x.shape[0], max_frames, replace=False))]
    if not np.isfinite(x).all():
        raise DataDirError(f"{scp}: features contain NaN or inf")
    return torch.from_numpy(x)


def train_class(frames: torch.Tensor, n_components: int, g: dict, device: torch.device) -> GMM:
    """The ``avdf`` recipe (module docstring)."""
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


def sklearn_update(stats: GMMStats, reg_covar: float) -> GMM:
    """scikit-learn's diagonal-covariance M-step from sufficient statistics (float64)."""
    n = stats.n + 10 * torch.finfo(torch.float64).eps
    means = stats.f / n[:, None]
    covars = stats.s / n[:, None] - means ** 2 + reg_covar
    if bool((covars <= 0).any()):
        raise ValueError("GMM: ill-defined empirical covariance (scikit-learn's error); increase gmm.reg_covar")
    return GMM(n / n.sum(), means, covars)


def train_class_sklearn(frames: torch.Tensor, n_components: int, g: dict, device: torch.device) -> GMM:
    """The ``sklearn`` recipe (module docstring): scikit-learn's ``GaussianMixture.fit``, EM in torch."""
    from sklearn.cluster import KMeans

    x = frames.double()
    if x.shape[0] < max(n_components, 2):
        raise ValueError(f"{x.shape[0]} frames cannot initialise {n_components} Gaussians")
    reg, bs = float(g["reg_covar"]), int(g["batch_size"])
    labels = KMeans(n_clusters=n_components, n_init=1, random_state=np.random.RandomState(int(g["seed"]))
                    ).fit(x.numpy()).labels_
    # the k-means labels as one-hot responsibilities; weights divided by the frame count, not renormalised
    lab = torch.from_numpy(labels.astype(np.int64))
    stats = GMMStats(torch.bincount(lab, minlength=n_components).double(),
                     torch.zeros(n_components, x.shape[1], dtype=torch.float64).index_add_(0, lab, x),
                     torch.zeros(n_components, x.shape[1], dtype=torch.float64).index_add_(0, lab, x * x))
    init = sklearn_update(stats, reg)
    n = stats.n + 10 * torch.finfo(torch.float64).eps
    gmm = GMM(n / x.shape[0], init.means, init.covars).to(device)
    x = x.to(device)
    lower = -math.inf
    for it in range(int(g["n_iter"])):
        stats = gmm.zero_stats()
        for i in range(0, x.shape[0], bs):
            gmm.accumulate(x[i:i + bs], stats)
        prev, lower = lower, stats.llk / stats.frames
        gmm = sklearn_update(stats, reg)
        logger.info("GMM C=%d iteration %d/%d: mean log-likelihood %.5f (change %.5f)", n_components, it + 1,
                    int(g["n_iter"]), lower, lower - prev)
        if abs(lower - prev) < float(g["tol"]):
            logger.info("converged (change below gmm.tol %g)", float(g["tol"]))
            break
    else:
        logger.warning("did not converge in %d iterations (as scikit-learn's ConvergenceWarning)", int(g["n_iter"]))
    return gmm.to("cpu")


def _same_setup(old: dict, new: dict) -> bool:
    return all(old.get(k) == new.get(k) for k in ("gmm", "model", "frontend"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--exp_dir", required=True, type=Path)
    parser.add_argument("--train_data", required=True, type=Path)
    parser.add_argument("--cpu", action="store_true", help="do not use a GPU even if there is one")
    parser.add_argument("--verbose", type=int, default=0)
    args, overrides = parser.parse_known_args(argv)
    setup_logging(args.verbose)
    cfg = load_config(args.config, overrides, defaults={"gmm": GMM_DEFAULTS})
    g = {**GMM_DEFAULTS, **(cfg.get("gmm") or {})}
    if g["recipe"] not in RECIPES:
        print(f"train_gmm: gmm.recipe {g['recipe']!r}: one of {', '.join(RECIPES)}", file=sys.stderr)
        return 1
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    model = build_model(cfg["model"])
    if not hasattr(model, "set_gmm"):
        print(f"train_gmm: model {cfg['model']['name']!r} is not a GMM countermeasure", file=sys.stderr)
        return 1
    partial = [args.exp_dir / f"gmm_{c}.pt" for c in ("bonafide", "spoof")]
    if any(p.is_file() for p in partial) and (args.exp_dir / "config.yaml").is_file() \
            and not _same_setup(load_config(args.exp_dir / "config.yaml"), cfg):
        print(f"train_gmm: {args.exp_dir} holds GMMs trained with other gmm/model/frontend settings "
              f"({args.exp_dir / 'config.yaml'}); give another --exp_dir or remove its gmm_*.pt", file=sys.stderr)
        return 1
    args.exp_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, args.exp_dir / "config.yaml")
    rng = np.random.default_rng(int(g["seed"]))
    fit = train_class_sklearn if g["recipe"] == "sklearn" else train_class
    try:
        for cls, name in ((1, "bonafide"), (0, "spoof")):
            path = args.exp_dir / f"gmm_{name}.pt"
            if path.is_file():
                logger.info("%s: already trained, reusing", path)
                gmm = GMM.load(path)
            else:
                frames = class_frames(args.train_data, cls, int(g["max_frames"]), rng, int(g["file_step"]),
                                      g["utt_order"])
                logger.info("%s: %d frames of dim %d, %d components on %s (%s recipe)", name, frames.shape[0],
                            frames.shape[1], model.n_components, device, g["recipe"])
                gmm = fit(frames, model.n_components, g, device)
                gmm.save(path)
            model.set_gmm(name, gmm)
    except (DataDirError, ValueError) as e:
        print(f"train_gmm: {e}", file=sys.stderr)
        return 1
    ckpt.save({"model": model.state_dict(), "config": cfg}, args.exp_dir / "model.pt")
    logger.info("wrote %s", args.exp_dir / "model.pt")
    return 0


if __name__ == "__main__":
    sys.exit(run(main, "train_gmm"))
