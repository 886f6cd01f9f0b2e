"""Train the scoring back-ends of a speaker-embedding system from training embeddings.

    python -m avdf.bin.train_backend --embeddings exp/x/embeddings/train/xvector.scp \\
        --utt2spk data/train/utt2spk --out_dir exp/x/backend [--lda_dim 200] [--plda_iters 10]

Writes ``OUT_DIR/backend.npz``: the training mean (cosine scoring subtracts it), LDA to
``lda_dim`` on mean-subtracted embeddings, a two-covariance PLDA trained on the LDA output
after length normalisation (to norm sqrt(dim), as Kaldi's ``ivector-normalize-length``),
and the score-normalisation cohort: each training speaker's mean embedding (WeSpeaker's
choice). Speakers with fewer than ``--min_utts`` embeddings are left out of LDA/PLDA.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import kaldiio
import numpy as np

from avdf.backend.cosine import length_normalize
from avdf.backend.lda import LDA
from avdf.backend.plda import PLDA
from avdf.data.datadir import DataDirError, read_kv
from avdf.utils.fileio import atomic_path
from avdf.utils.log import setup_logging
from avdf.bin import run

logger = logging.getLogger("train_backend")


def load_embeddings(scp: Path, keys: list[str] | None = None) -> tuple[list[str], np.ndarray]:
    """(keys, matrix) of an xvector.scp / ivector.scp (all entries, or ``keys`` in that order)."""
    table = read_kv(scp)
    keys = list(table) if keys is None else keys
    missing = [k for k in keys if k not in table]
    if missing:
        raise DataDirError(f"{scp}: no embedding for {len(missing)} utterance(s), first {missing[0]!r}")
    return keys, np.stack([np.asarray(kaldiio.load_mat(table[k]), dtype=np.float64).ravel() for k in keys])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--embeddings", required=True, type=Path)
    p.add_argument("--utt2spk", required=True, type=Path)
    p.add_argument("--out_dir", required=True, type=Path)
    p.add_argument("--lda_dim", type=int, default=200)
    p.add_argument("--plda_iters", type=int, default=10)
    p.add_argument("--min_utts", type=int, default=2, help="speakers with fewer embeddings skip LDA/PLDA")
    args = p.parse_args(argv)
    setup_logging()
    try:
        utt2spk = read_kv(args.utt2spk)
        keys, x = load_embeddings(args.embeddings)
        missing = [k for k in keys if k not in utt2spk]
        if missing:
            raise DataDirError(f"{args.utt2spk}: no speaker for {len(missing)} embedded utterance(s), "
                               f"first {missing[0]!r}")
        spk = np.array([utt2spk[k] for k in keys])
        mean = x.mean(0)
        names, counts = np.unique(spk, return_counts=True)
        ok = np.isin(spk, names[counts >= args.min_utts])
        logger.info("%d embeddings of %d speakers (%d with >= %d embeddings)", len(keys), len(names),
                    int((counts >= args.min_utts).sum()), args.min_utts)
        lda = LDA.fit(x[ok] - mean, spk[ok], args.lda_dim)
        y = length_normalize(lda.transform(x[ok] - mean), scale_to_sqrt_dim=True)
        plda = PLDA.fit(y, spk[ok], n_iter=args.plda_iters)
        cohort = np.stack([x[spk == s].mean(0) for s in names])
        args.out_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(args.out_dir / "backend.npz", suffix=".npz") as tmp:
            np.savez(tmp, mean=mean, cohort=cohort, cohort_speakers=names, **lda.state(), **plda.state())
        logger.info("%s: LDA %d -> %d, PLDA, cohort of %d speakers", args.out_dir / "backend.npz",
                    x.shape[1], lda.proj.shape[1], len(cohort))
    except (DataDirError, ValueError, OSError) as e:
        print(f"train_backend: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run(main, "train_backend"))
