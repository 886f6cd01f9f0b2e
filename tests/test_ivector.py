"""The torch i-vector code against the plain NumPy reference (avdf.backend.ivector_ref):
posteriors, statistics, T after one EM iteration, i-vectors; and that EM learns speakers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from avdf.backend import ivector_ref as ref
from avdf.backend.gmm import GMM
from avdf.backend.ivector import IVectorExtractor, frame_posteriors, utterance_stats


def _utts(n_spk=4, per_spk=3, frames=60, d=3, seed=0):
    rng = np.random.default_rng(seed)
    comps = rng.normal(scale=3, size=(5, d))
    out, spk = [], []
    for s in range(n_spk):
        shift = rng.normal(scale=1.0, size=d)   # a speaker shifts every component
        for _ in range(per_spk):
            z = rng.integers(0, 5, frames)
            out.append(comps[z] + shift + rng.normal(size=(frames, d)) @ np.diag([1.0, 0.5, 0.8])[:d, :d])
            spk.append(s)
    return [torch.from_numpy(x) for x in out], np.array(spk)


@pytest.fixture(scope="module")
def setup():
    utts, spk = _utts()
    frames = torch.cat(utts)
    ubm = GMM.init_from_frames(frames, 6, "diag", seed=0, kmeans_iter=3)
    ubm.fit(frames, n_iter=5, progress=False)
    ubm = ubm.to_full()
    ubm.fit(frames, n_iter=2, progress=False)
    return ubm, utts, spk


@pytest.mark.parametrize("gselect,min_post", [(3, 0.025), (6, 0.0), (2, 0.3)])
def test_posteriors_and_stats_match_reference(setup, gselect, min_post):
    ubm, utts, _ = setup
    w, m, S = (t.numpy() for t in (ubm.weights, ubm.means, ubm.covars))
    x = utts[0]
    np.testing.assert_allclose(frame_posteriors(ubm, x, gselect, min_post).numpy(),
                               ref.frame_posteriors(w, m, S, x.numpy(), gselect, min_post), atol=1e-10)
    N, F = utterance_stats(ubm, utts[:2], gselect, min_post)
    for i in range(2):
        n_ref, f_ref = ref.utterance_stats(w, m, S, utts[i].numpy(), gselect, min_post)
        np.testing.assert_allclose(N[i].numpy(), n_ref, atol=1e-9)
        np.testing.assert_allclose(F[i].numpy(), f_ref, atol=1e-8)


def test_em_and_extraction_match_reference(setup):
    ubm, utts, _ = setup
    S = ubm.covars.numpy()
    N, F = utterance_stats(ubm, utts, 4, 0.025)
    ext = IVectorExtractor.init_random(ubm, 2, seed=3)
    T0 = ext.T.numpy().copy()
    ext.em_iteration([(N[:5], F[:5]), (N[5:], F[5:])])   # two batches: same as one
    stats = [(N[i].numpy(), F[i].numpy()) for i in range(len(utts))]
    T1 = ref.em_iteration(T0, S, stats)
    np.testing.assert_allclose(ext.T.numpy(), T1, rtol=1e-8, atol=1e-10)
    iv = ext.extract(N, F, batch_size=4).numpy()
    for i in range(len(utts)):
        mean, _ = ref.ivector_posterior(T1, S, *stats[i])
        np.testing.assert_allclose(iv[i], mean, rtol=1e-8, atol=1e-10)


def test_em_learns_speakers(setup, tmp_path):
    ubm, utts, spk = setup
    N, F = utterance_stats(ubm, utts, 6, 0.0)
    ext = IVectorExtractor.init_random(ubm, 3, seed=0)
    for _ in range(6):
        info = ext.em_iteration([(N, F)])
    assert abs(info["prior_trace_per_dim"] - 1) < 0.5
    iv = torch.nn.functional.normalize(ext.extract(N, F), dim=1).numpy()
    sim = iv @ iv.T
    same = spk[:, None] == spk[None, :]
    off = ~np.eye(len(spk), dtype=bool)
    assert sim[same & off].mean() > sim[~same].mean() + 0.3
    ext.save(tmp_path / "ext.pt")
    ext2 = IVectorExtractor.load(tmp_path / "ext.pt")
    np.testing.assert_allclose(ext2.extract(N, F).numpy(), ext.extract(N, F).numpy(), rtol=1e-9, atol=1e-12)


def test_needs_full_ubm(setup):
    ubm, _, _ = setup
    with pytest.raises(ValueError, match="full-covariance"):
        IVectorExtractor(ubm.to_diag(), torch.zeros(6, 3, 2))
