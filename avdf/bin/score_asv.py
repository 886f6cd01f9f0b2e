"""Score ASV trials with a trained back-end (avdf.bin.train_backend).

    python -m avdf.bin.score_asv --backend_dir exp/x/backend --method cosine [plda] \\
        --embeddings exp/x/embeddings/vox1/xvector.scp --trials data/vox1/trials_O [data/vox1/trials_E] \\
        --out_dir exp/x/scores [--score_norm none [snorm] [asnorm]] [--top_n 300]

For every trials file, method and normalisation, writes
``OUT_DIR/<dir>_<list>_<method>_<norm>.txt`` (``vox1_O_cosine_asnorm.txt`` for
``data/vox1/trials_O``): ``<enroll> <test> <score>`` lines in the trials' order (higher =
more likely the same speaker), and prints the written paths. With ``--skip_bad true`` a
trial whose embedding is missing (an utterance skipped earlier) is dropped with a warning,
and the trials actually scored go to ``<score file>.trials``.

``cosine``: cosine after subtracting the training mean. ``plda``: mean subtraction, LDA,
length normalisation, two-covariance PLDA log-likelihood ratio.
``snorm`` / ``asnorm`` normalise with the cohort of training-speaker mean embeddings,
scored by the same method (AS-norm: the ``top_n`` closest cohort scores per side).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from avdf.backend.cosine import CosineScorer, length_normalize, pair_dot
from avdf.backend.lda import LDA
from avdf.backend.plda import PLDA
from avdf.backend.score_norm import METHODS, normalize
from avdf.bin.train_backend import load_embeddings
from avdf.data.datadir import DataDirError, read_kv, read_trials, write_trials
from avdf.utils.fileio import atomic_open
from avdf.utils.log import setup_logging
from avdf.bin import run

logger = logging.getLogger("score_asv")


class Backend:
    """Pair and matrix scoring by ``method`` from a ``backend.npz``."""

    def __init__(self, path: Path, method: str):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no trained back-end (run avdf.bin.train_backend)")
        s = np.load(path)
        self.method = method
        self.cohort = s["cohort"]
        self.cosine = CosineScorer(s["mean"])
        self.mean = s["mean"]
        if method == "plda":
            self.lda, self.plda = LDA.from_state(s), PLDA.from_state(s)

    def prepare(self, x: np.ndarray) -> np.ndarray:
        if self.method == "cosine":
            return self.cosine.transform(x)
        return length_normalize(self.lda.transform(x - self.mean), scale_to_sqrt_dim=True)

    def pairs(self, a: np.ndarray, b: np.ndarray, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
        if self.method == "cosine":
            return pair_dot(a, b, ia, ib)
        return self.plda.llr_pairs(a, b, ia, ib)

    def matrix(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a @ b.T if self.method == "cosine" else self.plda.llr_matrix(a, b)


def score(backend: Backend, embeddings: Path, trials_path: Path, norm: str, top_n: int,
          skip_bad: bool = False) -> tuple[list, np.ndarray, int]:
    """(trials scored, scores, trials dropped because an embedding is missing: only with skip_bad)."""
    trials = read_trials(trials_path)
    dropped = 0
    if skip_bad:
        have = read_kv(embeddings)
        kept = [t for t in trials if t[0] in have and t[1] in have]
        dropped = len(trials) - len(kept)
        if dropped:
            logger.warning("%s: %d trials dropped: no embedding for their enrolment or test utterance",
                           trials_path, dropped)
        trials = kept
    enroll = sorted({t[0] for t in trials})
    test = sorted({t[1] for t in trials})
    _, e = load_embeddings(embeddings, enroll)
    _, t = load_embeddings(embeddings, test)
    ei = {k: i for i, k in enumerate(enroll)}
    ti = {k: i for i, k in enumerate(test)}
    ie = np.array([ei[x[0]] for x in trials])
    it = np.array([ti[x[1]] for x in trials])
    e, t = backend.prepare(e), backend.prepare(t)
    s = backend.pairs(e, t, ie, it)
    if norm != "none":
        c = backend.prepare(backend.cohort)
        s = normalize(s, ie, it, backend.matrix(e, c), backend.matrix(t, c), norm, top_n)
    return trials, s, dropped


def output_name(trials: Path, method: str, norm: str) -> str:
    """``data/vox1/trials_O`` -> ``vox1_O_<method>_<norm>.txt``."""
    name = trials.name[len("trials_"):] if trials.name.startswith("trials_") else trials.name
    return f"{trials.parent.name}_{name}_{method}_{norm}.txt"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend_dir", required=True, type=Path)
    p.add_argument("--method", required=True, nargs="+", choices=["cosine", "plda"])
    p.add_argument("--embeddings", required=True, type=Path)
    p.add_argument("--trials", required=True, nargs="+", type=Path)
    p.add_argument("--out_dir", required=True, type=Path)
    p.add_argument("--score_norm", nargs="+", default=["none"], choices=METHODS)
    p.add_argument("--top_n", type=int, default=300)
    p.add_argument("--skip_bad", default="false", choices=["true", "false"],
                   help="drop trials whose embedding is missing (also written to <score file>.trials)")
    args = p.parse_args(argv)
    setup_logging()
    try:
        for method in args.method:
            backend = Backend(args.backend_dir / "backend.npz", method)
            for trials_path in args.trials:
                for norm in args.score_norm:
                    trials, s, dropped = score(backend, args.embeddings, trials_path, norm, args.top_n,
                                               args.skip_bad == "true")
                    out = args.out_dir / output_name(trials_path, method, norm)
                    with atomic_open(out) as f:
                        for (e, t, _), v in zip(trials, s):
                            f.write(f"{e} {t} {v:.6f}\n")
                    if dropped:  # the trials actually scored, for the metrics stage
                        write_trials(out.with_suffix(".trials"), trials)
                    else:
                        out.with_suffix(".trials").unlink(missing_ok=True)
                    logger.info("%s: %d trials scored (%s, %s)", out, len(trials), method, norm)
                    print(out)
    except (DataDirError, FileNotFoundError, ValueError, OSError) as e:
        print(f"score_asv: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run(main, "score_asv"))
