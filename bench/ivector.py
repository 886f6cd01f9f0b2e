"""i-vector throughput: one T-matrix EM iteration and i-vector extraction in torch
(avdf.backend.ivector) against the plain NumPy reference (avdf.backend.ivector_ref), on
the same synthetic data, one run each.

    python -m bench.ivector [--components 64] [--dim 24] [--ivector_dim 50] [--utts 40]
        [--frames 300] [--device auto|cpu|cuda] [--threads 1]

Both sides start from the same full-covariance UBM and the same initial T and compute:
Baum-Welch statistics (pruned posteriors), one EM iteration of T (with minimum
divergence), and the i-vectors of all utterances under the new T. Prints wall-clock and
process CPU (user+sys) seconds per part, the torch/NumPy speed ratio, and the largest
difference between the two T matrices and i-vectors (they must agree). Both sides use
--threads CPU threads (torch intra-op and the NumPy BLAS), so that a busy machine does
not penalise one side's thread pool more than the other's.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from avdf.backend import ivector_ref as ref
from avdf.backend.gmm import GMM
from avdf.backend.ivector import IVectorExtractor, utterance_stats


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--components", type=int, default=64)
    p.add_argument("--dim", type=int, default=24)
    p.add_argument("--ivector_dim", type=int, default=50)
    p.add_argument("--utts", type=int, default=40)
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--gselect", type=int, default=20)
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    threadpool_limits(a.threads)
    device = torch.device("cuda" if a.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if a.device == "auto" else a.device))
    rng = np.random.default_rng(a.seed)
    centers = rng.normal(scale=3, size=(a.components, a.dim))
    utts = []
    for _ in range(a.utts):
        shift = rng.normal(scale=0.5, size=a.dim)
        z = rng.integers(0, a.components, a.frames)
        utts.append(centers[z] + shift + rng.normal(size=(a.frames, a.dim)))
    frames = torch.from_numpy(np.concatenate(utts))
    ubm = GMM.init_from_frames(frames, a.components, "diag", seed=a.seed)
    ubm.fit(frames, n_iter=3, progress=False)
    ubm = ubm.to_full()
    ubm.fit(frames, n_iter=1, progress=False)
    ext0 = IVectorExtractor.init_random(ubm, a.ivector_dim, seed=a.seed)
    T0 = ext0.T.numpy()
    w, m, S = (t.numpy() for t in (ubm.weights, ubm.means, ubm.covars))

    # torch
    ubm_d = ubm.to(device)
    ext = IVectorExtractor(ubm_d, torch.from_numpy(T0).to(device))
    xs = [torch.from_numpy(u).to(device) for u in utts]
    (N, F), t_stats, c_stats = timed(lambda: utterance_stats(ubm_d, xs, a.gselect, 0.025))
    _, t_em, c_em = timed(lambda: ext.em_iteration([(N, F)]))
    iv, t_ext, c_ext = timed(lambda: ext.extract(N, F))

    # NumPy reference
    stats, r_stats, rc_stats = timed(lambda: [ref.utterance_stats(w, m, S, u, a.gselect, 0.025) for u in utts])
    T1, r_em, rc_em = timed(lambda: ref.em_iteration(T0, S, stats))
    iv_ref, r_ext, rc_ext = timed(lambda: np.stack([ref.ivector_posterior(T1, S, n, f)[0] for n, f in stats]))

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {a.threads} thread(s), torch device {device}"
          f"{' (' + torch.cuda.get_device_name(device) + ')' if device.type == 'cuda' else ''}")
    print(f"data: {a.utts} utterances x {a.frames} frames, D={a.dim}, C={a.components} full-covariance, "
          f"R={a.ivector_dim}, gselect {a.gselect}")
    print(f"{'part':<22}{'torch wall s':>14}{'torch cpu s':>13}{'numpy wall s':>14}{'numpy cpu s':>13}{'ratio':>9}")
    for name, tt, tc, rt, rc in (("statistics", t_stats, c_stats, r_stats, rc_stats),
                                 ("T-matrix EM iteration", t_em, c_em, r_em, rc_em),
                                 ("i-vector extraction", t_ext, c_ext, r_ext, rc_ext)):
        print(f"{name:<22}{tt:>14.4f}{tc:>13.4f}{rt:>14.4f}{rc:>13.4f}{rt / tt:>8.1f}x")
    tot_t, tot_r = t_stats + t_em + t_ext, r_stats + r_em + r_ext
    print(f"{'total':<22}{tot_t:>14.4f}{'':>13}{tot_r:>14.4f}{'':>13}{tot_r / tot_t:>8.1f}x")
    print(f"extraction throughput: torch {a.utts / t_ext:.1f} utt/s, numpy {a.utts / r_ext:.1f} utt/s")
    print(f"max |T_torch - T_numpy| = {np.abs(ext.T.cpu().numpy() - T1).max():.3g}; "
          f"max |ivec_torch - ivec_numpy| = {np.abs(iv.cpu().numpy() - iv_ref).max():.3g}")


if __name__ == "__main__":
    main()
