"""avdf.backend.gmm: EM against scikit-learn's GaussianMixture from the same start."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture

from avdf.backend.gmm import GMM


def _data(n=3000, d=4, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4, size=(3, d))
    x = np.concatenate([c + rng.normal(size=(n // 3, d)) @ rng.normal(size=(d, d)) * 0.5 for c in centers])
    return torch.from_numpy(x)


@pytest.mark.parametrize("cov", ["diag", "full"])
def test_likelihood_matches_scipy(cov):
    x = _data()
    g = GMM.init_from_frames(x, 3, cov, seed=1)
    g.fit(x, n_iter=3, progress=False)
    ref = np.zeros((x.shape[0], 3))
    for c in range(3):
        S = g.covars[c].numpy() if cov == "full" else np.diag(g.covars[c].numpy())
        ref[:, c] = np.log(g.weights[c].item()) + multivariate_normal(g.means[c].numpy(), S).logpdf(x.numpy())
    np.testing.assert_allclose(g.component_log_likelihood(x).numpy(), ref, rtol=1e-9, atol=1e-8)


@pytest.mark.parametrize("cov", ["diag", "full"])
def test_em_matches_sklearn(cov):
    x = _data()
    g = GMM.init_from_frames(x, 3, cov, seed=2, kmeans_iter=3)
    prec = 1 / g.covars.numpy() if cov == "diag" else np.linalg.inv(g.covars.numpy())
    sk = GaussianMixture(3, covariance_type=cov, max_iter=5, tol=0, reg_covar=0.0,
                         weights_init=g.weights.numpy(), means_init=g.means.numpy(), precisions_init=prec)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk.fit(x.numpy())
    hist = g.fit(x, n_iter=5, batch_size=700, var_floor=1e-12, progress=False)
    assert all(b >= a - 1e-9 for a, b in zip(hist, hist[1:])), hist
    np.testing.assert_allclose(g.weights.numpy(), sk.weights_, rtol=1e-6)
    np.testing.assert_allclose(g.means.numpy(), sk.means_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(g.covars.numpy(), sk.covariances_, rtol=1e-5, atol=1e-8)


def test_full_from_diag_save_load(tmp_path):
    x = _data().float()
    g = GMM.init_from_frames(x, 3, "diag", seed=0)
    g.fit(x, n_iter=4, progress=False)
    f = g.to_full()
    np.testing.assert_allclose(f.log_likelihood(x).numpy(), g.log_likelihood(x).numpy(), rtol=1e-4, atol=1e-4)
    before = f.log_likelihood(x).mean()
    f.fit(lambda: iter([x[:1000], x[1000:]]), n_iter=3, progress=False)
    assert f.log_likelihood(x).mean() > before  # full covariances model the correlations
    f.save(tmp_path / "ubm.pt")
    f2 = GMM.load(tmp_path / "ubm.pt")
    assert f2.covariance_type == "full"
    torch.testing.assert_close(f2.log_likelihood(x), f.log_likelihood(x))


def test_bad_shapes():
    with pytest.raises(ValueError, match="covariances"):
        GMM(torch.ones(2) / 2, torch.zeros(2, 3), torch.ones(2, 4))
    with pytest.raises(ValueError, match="N >= 5"):
        GMM.init_from_frames(torch.zeros(3, 2), 5)
