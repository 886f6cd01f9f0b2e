"""ASV scoring throughput: cosine and PLDA scores of a Vox1-E-sized trial list (580k
trials over 145k utterances) with avdf.backend, against a per-trial loop on a subset
measured in the same run.

    python -m bench.score [--trials 580000] [--utts 145160] [--dim 192] [--lda_dim 150]
        [--baseline_trials 20000] [--threads 1]

Embeddings are synthetic (speaker + session Gaussians); LDA and PLDA are trained on
20k of them. avdf scores every trial (vectorised, chunked); the baseline computes each
trial on its own (cosine: two norms and a dot product; PLDA: the closed-form LLR per
pair), on --baseline_trials trials. Prints wall-clock and process CPU (user+sys)
seconds, trials per second, and the speed ratio per trial. Scores must agree.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from threadpoolctl import threadpool_limits

from avdf.backend.cosine import CosineScorer, length_normalize
from avdf.backend.lda import LDA
from avdf.backend.plda import PLDA


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=580000)
    p.add_argument("--utts", type=int, default=145160)
    p.add_argument("--dim", type=int, default=192)
    p.add_argument("--lda_dim", type=int, default=150)
    p.add_argument("--baseline_trials", type=int, default=20000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="BLAS threads")
    a = p.parse_args()
    threadpool_limits(a.threads)
    rng = np.random.default_rng(a.seed)
    n_spk = 1251
    spk = rng.integers(0, n_spk, a.utts)
    emb = (rng.normal(size=(n_spk, a.dim)) * 2)[spk] + rng.normal(size=(a.utts, a.dim))
    ie, it = rng.integers(0, a.utts, a.trials), rng.integers(0, a.utts, a.trials)
    train = slice(0, 20000)
    mean = emb[train].mean(0)
    lda = LDA.fit(emb[train] - mean, spk[train], a.lda_dim)
    prep = lambda x: length_normalize(lda.transform(x - mean), scale_to_sqrt_dim=True)
    plda = PLDA.fit(prep(emb[train]), spk[train], n_iter=3)
    cos = CosineScorer(mean)

    s_cos, t_cos, c_cos = timed(lambda: cos.score_pairs(emb, emb, ie, it))
    s_plda, t_plda, c_plda = timed(lambda: plda.llr_pairs(prep(emb), prep(emb), ie, it))

    nb = min(a.baseline_trials, a.trials)

    def loop_cosine():
        out = np.empty(nb)
        for k in range(nb):
            x, y = emb[ie[k]] - mean, emb[it[k]] - mean
            out[k] = x @ y / (np.linalg.norm(x) * np.linalg.norm(y))
        return out

    def loop_plda():
        psi, V = plda.psi, plda.transform_mat
        var1, var0 = 1 + psi / (psi + 1), 1 + psi
        out = np.empty(nb)
        for k in range(nb):
            u = (prep(emb[ie[k]][None])[0] - plda.mean) @ V
            v = (prep(emb[it[k]][None])[0] - plda.mean) @ V
            mu = psi / (psi + 1) * u
            out[k] = np.sum(-0.5 * np.log(var1) - (v - mu) ** 2 / (2 * var1) + 0.5 * np.log(var0) + v ** 2 / (2 * var0))
        return out

    b_cos, tb_cos, cb_cos = timed(loop_cosine)
    b_plda, tb_plda, cb_plda = timed(loop_plda)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {a.threads} BLAS thread(s)")
    print(f"{a.trials} trials over {a.utts} embeddings of dim {a.dim} (PLDA after LDA {lda.proj.shape[1]})")
    print(f"{'scorer':<8}{'avdf wall s':>12}{'avdf cpu s':>12}{'avdf trials/s':>15}{'loop trials/s':>15}{'ratio':>9}")
    for name, t, c, tb in (("cosine", t_cos, c_cos, tb_cos), ("plda", t_plda, c_plda, tb_plda)):
        print(f"{name:<8}{t:>12.3f}{c:>12.3f}{a.trials / t:>15.0f}{nb / tb:>15.0f}{(a.trials / t) / (nb / tb):>8.0f}x")
    print(f"max |avdf - loop| on the first {nb} trials: cosine {np.abs(s_cos[:nb] - b_cos).max():.2e}, "
          f"plda {np.abs(s_plda[:nb] - b_plda).max():.2e}")


if __name__ == "__main__":
    main()
