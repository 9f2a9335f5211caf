"""The fused closed-form scores (sphere, circle, flat torus) and the one-evaluation Bessel ratio.

Compared with independent computations: mpmath's Bessel functions at 40 digits for the ratio,
and the general (unfused) posterior path of :class:`Manifold` for the scores.
"""

from __future__ import annotations

import numpy as np
import pytest

import magt_theory as mt
from magt_theory.manifolds import Manifold
from magt_theory.manifolds import spheres as S

mp = pytest.importorskip("mpmath")

#: concentrations crossing every branch: series (< 1e-4), ive, coth (p=3, >= 1), Hankel
#: quotient (p=2, >= 50), Hankel (p >= 4, > 1e7)
KAPPAS = np.concatenate([np.geomspace(1e-7, 1e11, 120),
                         [1e-4, 0.999999, 1.0, 1.000001, 49.9999, 50.0, 50.0001, 1e7, 1.0001e7]])


@pytest.mark.parametrize("p", [2, 3, 4, 5, 11])
def test_bessel_ratio_against_mpmath(p):
    mp.mp.dps = 40
    ref = np.array([float(mp.besseli(p / 2, mp.mpf(k)) / mp.besseli(p / 2 - 1, mp.mpf(k))
                          / mp.mpf(k)) for k in KAPPAS])
    got = S._ratio_over_kappa(p, KAPPAS)
    # a few ulp per Bessel evaluation (the new p = 2, 3 branches); the generic ive ratio of
    # higher orders loses a little more near the series switch
    tol = 4e-15 if p <= 3 else 2e-14
    np.testing.assert_allclose(got, ref, rtol=tol, atol=0)


def _queries(M, n, rng, alpha, sigma):
    y = alpha * M.sample(n, rng) + sigma * rng.standard_normal((n, M.ambient_dim))
    y[0] = 0.0  # kappa = 0: the series branch
    y[1] *= 1e-6  # tiny kappa
    y[2] *= 1e4  # far away: large kappa
    return y


CASES = [("circle", {}, None), ("circle", {}, 9), ("sphere", {}, None), ("sphere", {}, 7),
         ("sphere", {"k": 4, "radius": 2.0}, 11), ("flat_torus", {}, None),
         ("flat_torus", {"radii": (1.0, 0.5, 2.0)}, 13)]


@pytest.mark.parametrize("name,kw,D", CASES)
@pytest.mark.parametrize("sigma,alpha", [(0.1, 1.0), (0.3, 0.8), (2.0, 0.5), (1e-3, 1.0)])
def test_fused_scores_equal_the_general_path(name, kw, D, sigma, alpha):
    M = mt.manifolds.make(name, ambient_dim=D, **kw)
    rng = np.random.default_rng(5)
    y = _queries(M, 3001, rng, alpha, sigma)  # more than one row block for small D
    mean_ref = Manifold.posterior(M, y, sigma, alpha)[0]  # general path (not fused)
    score_ref = (alpha * mean_ref - y) / sigma**2
    mean = M.posterior_mean(y, sigma, alpha)
    score = M.smoothed_score(y, sigma, alpha)
    assert mean.shape == score.shape == y.shape and score.dtype == np.float64
    scale = (np.max(np.abs(y), axis=1, keepdims=True)
             + alpha * np.max(np.abs(mean_ref), axis=1, keepdims=True)) / sigma**2 + 1.0
    np.testing.assert_allclose(mean, mean_ref, rtol=0, atol=1e-13 * M.ambient_dim)
    # the score differs from the general one by round-off of (|y| + alpha |m|) / sigma^2
    assert np.all(np.abs(score - score_ref) <= 1e-13 * M.ambient_dim * scale)


def test_fused_path_validates_like_the_general_path():
    M = mt.manifolds.make("circle", ambient_dim=5)
    y = M.sample(4, 0)
    bad = y.copy()
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match="y contains NaN"):
        M.smoothed_score(bad, 0.1)
    with pytest.raises(ValueError, match="sigma"):
        M.smoothed_score(y, -1.0)
    with pytest.raises(TypeError, match="sigma"):
        M.smoothed_score(y, None)
    with pytest.raises(ValueError, match="alpha"):
        M.posterior_mean(y, 0.1, alpha=1.5)
    with pytest.raises(ValueError, match=r"shape \(n, 5\)"):
        M.smoothed_score(y[:, :4], 0.1)
    # other dtypes and a single point go through the general path, same numbers
    np.testing.assert_allclose(M.smoothed_score(y.astype(np.float32), 0.1),
                               M.smoothed_score(y.astype(np.float32).astype(np.float64), 0.1))
    np.testing.assert_allclose(M.smoothed_score(y[0], 0.1), M.smoothed_score(y[:1], 0.1))
