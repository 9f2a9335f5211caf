"""Tests of magt_theory.metrics.

Independent references: POT used directly, sorted-sample closed forms in 1-D
(scipy.stats.wasserstein_distance), the 2x2 identity tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)),
scipy.linalg.subspace_angles, and the Fournier–Guillin / Weed–Bach rates (docs/conventions.md §7).
"""

from __future__ import annotations

import numpy as np
import ot
import pytest
import scipy.linalg as sl
import scipy.stats as st
import torch

from magt_theory.metrics import (
    bootstrap_ci,
    gaussian_w2,
    noise_floor,
    off_manifold_rate,
    principal_angles,
    sin_theta_max,
    wasserstein,
)

torch.set_num_threads(1)
TEST_SEED = 20240611


def _sphere_sampler(k):
    """Uniform on the unit k-sphere in R^{k+1} (normalised Gaussians)."""

    def sample(n, rng):
        g = rng.standard_normal((n, k + 1))
        return g / np.linalg.norm(g, axis=1, keepdims=True)

    return sample


def _clouds(n=120, m=90, D=3, seed=TEST_SEED):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, D)), 1.5 * rng.standard_normal((m, D)) + 0.4


# ----------------------------------------------------------------------------- exact W_p
@pytest.mark.parametrize("p", [1, 2])
def test_exact_equals_pot_directly(p):
    x, y = _clouds()
    rng = np.random.default_rng(3)
    a, b = rng.uniform(0.5, 1.5, x.shape[0]), rng.uniform(0.5, 1.5, y.shape[0])
    a, b = a / a.sum(), b / b.sum()
    M = ot.dist(x, y, metric="sqeuclidean" if p == 2 else "euclidean")
    ref = ot.emd2(a, b, M, numItermax=10**7) ** (1.0 / p)
    assert abs(wasserstein(x, y, p=p, a=a, b=b) - ref) < 1e-12 * ref
    ref_u = ot.emd2(ot.unif(len(x)), ot.unif(len(y)), M, numItermax=10**7) ** (1.0 / p)
    assert abs(wasserstein(x, y, p=p) - ref_u) < 1e-12 * ref_u


def test_exact_1d_closed_forms():
    rng = np.random.default_rng(TEST_SEED)
    x = rng.standard_normal(400)
    y = 2.0 * rng.standard_normal(400) + 1.0
    w1 = st.wasserstein_distance(x, y)
    w2 = np.sqrt(np.mean((np.sort(x) - np.sort(y)) ** 2))
    assert abs(wasserstein(x[:, None], y[:, None], p=1) - w1) < 1e-12 * w1
    assert abs(wasserstein(x[:, None], y[:, None], p=2) - w2) < 1e-12 * w2
    # unequal sizes, p = 1
    w1u = st.wasserstein_distance(x, y[:250])
    assert abs(wasserstein(x[:, None], y[:250, None], p=1) - w1u) < 1e-12 * w1u


def test_exact_raises_instead_of_returning_non_optimal_value():
    x, y = _clouds(200, 200)
    with pytest.raises(RuntimeError, match="numItermax"):
        wasserstein(x, y, numItermax=50)


def test_exact_w2_of_gaussian_samples_approaches_bures():
    # |W(mu_n, nu_n) - W(mu, nu)| <= W(mu_n, mu) + W(nu_n, nu) (triangle inequality), and
    # W(mu_n, mu) <~ W(mu_n, mu'_n) (docs/conventions.md §7): tolerance = the two measured noise floors.
    m1, S1 = np.array([0.0, 0.0]), np.array([[1.0, 0.5], [0.5, 1.0]])
    m2, S2 = np.array([1.0, -0.5]), np.array([[2.0, -0.3], [-0.3, 0.5]])
    n = 2000
    rng = np.random.default_rng(TEST_SEED)
    x = rng.multivariate_normal(m1, S1, n)
    y = rng.multivariate_normal(m2, S2, n)
    f1 = noise_floor(lambda k, r: r.multivariate_normal(m1, S1, k), n, rng).mean
    f2 = noise_floor(lambda k, r: r.multivariate_normal(m2, S2, k), n, rng).mean
    exact = gaussian_w2(m1, S1, m2, S2)
    assert abs(wasserstein(x, y) - exact) < f1 + f2
    assert f1 + f2 < 0.25 * exact  # the check is informative at this n


# ----------------------------------------------------------------------------- Gaussian closed form
def test_gaussian_w2_1d_formula():
    # W2^2 = (m1 - m2)^2 + (s1 - s2)^2
    assert abs(gaussian_w2([0.3], [[4.0]], [-1.2], [[0.25]]) - np.hypot(1.5, 1.5)) < 1e-14
    assert abs(gaussian_w2([1.0], 9.0, [1.0], 1.0) - 2.0) < 1e-14


def test_gaussian_w2_commuting_formula():
    rng = np.random.default_rng(TEST_SEED)
    Q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    l1, l2 = rng.uniform(0.1, 3, 5), rng.uniform(0.1, 3, 5)
    l1[0] = 0.0  # singular (Gaussian on a subspace)
    S1, S2 = (Q * l1) @ Q.T, (Q * l2) @ Q.T
    m1, m2 = rng.standard_normal(5), rng.standard_normal(5)
    ref = np.sqrt(np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(l1) - np.sqrt(l2)) ** 2))
    assert abs(gaussian_w2(m1, S1, m2, S2) - ref) < 1e-12 * ref


def test_gaussian_w2_non_commuting_2x2_identity():
    # for 2x2 PSD M: tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)); M = S1^1/2 S2 S1^1/2 has
    # tr M = tr(S1 S2) and det M = det S1 det S2.
    S1 = np.array([[1.0, 0.5], [0.5, 1.0]])
    S2 = np.array([[2.0, -0.3], [-0.3, 0.5]])
    dm = np.array([1.0, -0.5])
    cross = np.sqrt(np.trace(S1 @ S2) + 2 * np.sqrt(np.linalg.det(S1) * np.linalg.det(S2)))
    ref = np.sqrt(dm @ dm + np.trace(S1) + np.trace(S2) - 2 * cross)
    assert abs(gaussian_w2(np.zeros(2), S1, dm, S2) - ref) < 1e-12 * ref
    assert abs(gaussian_w2(dm, S2, np.zeros(2), S1) - ref) < 1e-12 * ref  # symmetric


def test_gaussian_w2_bad_input():
    with pytest.raises(ValueError, match="symmetric"):
        gaussian_w2([0, 0], [[1, 0.5], [0, 1]], [0, 0], np.eye(2))
    with pytest.raises(ValueError, match="semidefinite"):
        gaussian_w2([0, 0], [[1, 0], [0, -1]], [0, 0], np.eye(2))
    with pytest.raises(ValueError, match="S2"):
        gaussian_w2([0, 0], np.eye(2), [0, 0], np.eye(3))
    with pytest.raises(ValueError, match="m1"):
        gaussian_w2([0, 0], np.eye(2), [0, 0, 0], np.eye(2))


# ----------------------------------------------------------------------------- Sinkhorn / sliced
def test_sinkhorn_divergence_brackets_exact_w2():
    # deterministic bracket (docstring):
    # W^2 - reg (log n + log m)/2 <= S <= W^2 + reg min(log n, log m)
    x, y = _clouds(150, 100)
    w2 = wasserstein(x, y) ** 2
    errs = []
    for reg in (0.3, 0.1, 0.03):
        s = wasserstein(x, y, method="sinkhorn", reg=reg) ** 2
        assert s >= 0
        lo = w2 - reg * (np.log(150) + np.log(100)) / 2 - 1e-5
        hi = w2 + reg * np.log(100) + 1e-5
        assert lo <= s <= hi, (reg, s, w2)
        errs.append(abs(s - w2))
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 0.02 * w2  # measured 1.5 % at reg = 0.03 (cost scale ~ 2)


def test_sinkhorn_matches_pot_debiased_divergence():
    # POT's own debiased divergence (alternating Sinkhorn for all three terms), moderate reg
    x, y = _clouds(60, 50)
    reg = 1.0
    ref = ot.solve_sample(x, y, reg=reg, debias=True, max_iter=20000, tol=1e-11).value
    ours = wasserstein(x, y, method="sinkhorn", reg=reg, tol=1e-10) ** 2
    assert abs(ours - ref) < 1e-7 * abs(ref)


def test_sinkhorn_is_zero_for_identical_clouds_and_raises_when_not_converged():
    x, _ = _clouds(40, 40)
    assert wasserstein(x, x, method="sinkhorn", reg=0.1) < 1e-3
    x, y = _clouds(80, 80)
    with pytest.raises(RuntimeError, match="converge"):
        wasserstein(x, y, method="sinkhorn", reg=1e-3, max_iter=5)


@pytest.mark.parametrize("p", [1, 2])
def test_sliced_is_at_most_exact(p):
    # every projection is 1-Lipschitz: W_p^p(theta#mu, theta#nu) <= W_p^p(mu, nu), so SW_p <= W_p
    for seed in range(3):
        x, y = _clouds(100, 80, D=4, seed=seed)
        sw = wasserstein(x, y, p=p, method="sliced", n_projections=100, seed=seed)
        assert 0 < sw <= wasserstein(x, y, p=p) * (1 + 1e-12)
        ref = ot.sliced_wasserstein_distance(x, y, n_projections=100, p=p, seed=seed)
        assert abs(sw - ref) < 1e-12 * ref


def test_sliced_in_1d_equals_exact():
    rng = np.random.default_rng(TEST_SEED)
    x, y = rng.standard_normal((300, 1)), rng.standard_normal((300, 1)) + 0.5
    assert abs(wasserstein(x, y, method="sliced", n_projections=5) - wasserstein(x, y)) < 1e-12


# ----------------------------------------------------------------------------- noise floor
def _floor_slope(k, grid, repeats, seed):
    vals = [noise_floor(_sphere_sampler(k), n, rng=seed + n, repeats=repeats).mean for n in grid]
    return st.linregress(np.log(grid), np.log(vals)).slope


def test_noise_floor_rate_on_circle():
    # docs/conventions.md §7: d = 1 -> E W2 ~ n^{-1/2}. Band +-0.12 (measured slopes -0.47..-0.51 over
    # seeds; per-fit standard error ~0.03).
    slope = _floor_slope(1, [50, 100, 200, 400, 800], repeats=24, seed=TEST_SEED)
    assert abs(slope + 0.5) < 0.12, slope


def test_noise_floor_rate_on_3_sphere():
    # docs/conventions.md §7: d = 3 -> E W2 ~ n^{-1/3}. Band +-0.12 (measured -0.30..-0.33; se ~0.01).
    slope = _floor_slope(3, [50, 100, 200, 400, 800, 1600], repeats=4, seed=TEST_SEED)
    assert abs(slope + 1.0 / 3.0) < 0.12, slope


def test_noise_floor_output():
    res = noise_floor(_sphere_sampler(2), 50, rng=0, repeats=5)
    assert res.values.shape == (5,) and np.all(res.values > 0)
    assert res.mean == pytest.approx(res.values.mean())
    assert res.std == pytest.approx(res.values.std(ddof=1))
    # reproducible from an int seed
    assert np.array_equal(noise_floor(_sphere_sampler(2), 50, rng=0, repeats=5).values, res.values)
    with pytest.raises(TypeError):
        noise_floor("not callable", 10, 0)
    with pytest.raises(ValueError, match="n"):
        noise_floor(_sphere_sampler(2), 0, 0)
    with pytest.raises(ValueError, match="rows"):
        noise_floor(lambda n, r: r.standard_normal((n + 1, 2)), 10, 0)


# ----------------------------------------------------------------------------- bootstrap
def test_bootstrap_ci_matches_normal_theory_for_the_mean():
    rng = np.random.default_rng(TEST_SEED)
    x = rng.standard_normal(400)
    ci = bootstrap_ci(x, n_boot=4000, seed=1)
    half = 1.959964 * x.std(ddof=1) / np.sqrt(len(x))
    assert ci.estimate == pytest.approx(x.mean())
    assert ci.low < ci.estimate < ci.high
    assert abs((ci.high - ci.low) / (2 * half) - 1) < 0.1
    assert abs((ci.low + ci.high) / 2 - x.mean()) < 0.1 * half


def test_bootstrap_ci_coverage():
    # 300 datasets of n = 60 from Exp(1): a 90 % percentile interval covers the mean 1 in
    # ~0.88-0.90 of them; binomial se = 0.017, band 5 se below and 3 se above nominal.
    rng = np.random.default_rng(TEST_SEED)
    hits = 0
    R = 300
    for _ in range(R):
        ci = bootstrap_ci(rng.exponential(size=60), level=0.9, n_boot=300, seed=rng)
        hits += ci.low <= 1.0 <= ci.high
    cov = hits / R
    se = np.sqrt(0.9 * 0.1 / R)
    assert 0.9 - 5 * se < cov < 0.9 + 3 * se, cov


def test_bootstrap_ci_point_cloud_statistic():
    # statistic of whole rows: the mean radius of a point cloud
    rng = np.random.default_rng(TEST_SEED)
    pts = rng.standard_normal((200, 3))
    ci = bootstrap_ci(pts, statistic=lambda r: np.linalg.norm(r, axis=1).mean(), n_boot=500, seed=0)
    assert ci.low < np.linalg.norm(pts, axis=1).mean() < ci.high
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci(pts[:, 0], level=1.0)
    with pytest.raises(ValueError, match="data"):
        bootstrap_ci([1.0])
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_ci(pts[:, 0], n_boot=3)


# ----------------------------------------------------------------------------- off-manifold rate
class _UnitCircle:
    ambient_dim = 2

    def distance(self, x):
        return np.abs(np.linalg.norm(x, axis=1) - 1.0)


def test_off_manifold_rate_with_fake_manifold():
    r = np.array([1.0, 1.05, 1.2, 0.85, 0.95, 0.5, 1.0999, 1.1001])
    x = np.c_[r * np.cos(r), r * np.sin(r)]
    # independent count: |r - 1| > 0.1 -> 1.2, 0.85, 0.5, 1.1001
    assert off_manifold_rate(x, _UnitCircle(), threshold=0.1) == pytest.approx(4 / 8)
    assert off_manifold_rate(x, _UnitCircle(), threshold=0.6) == 0.0
    with pytest.raises(ValueError, match="threshold"):
        off_manifold_rate(x, _UnitCircle(), threshold=0.0)
    with pytest.raises(ValueError, match="x"):
        off_manifold_rate(np.zeros((3, 3)), _UnitCircle())
    with pytest.raises(TypeError, match="distance"):
        off_manifold_rate(x, object())


def test_off_manifold_rate_with_registered_circle():
    mt = pytest.importorskip("magt_theory")
    try:
        M = mt.manifolds.make("circle")
    except Exception as exc:  # pragma: no cover - manifolds not in this checkout
        pytest.skip(f"circle manifold unavailable: {exc}")
    rng = np.random.default_rng(TEST_SEED)
    th = rng.uniform(0, 2 * np.pi, 500)
    delta = rng.uniform(-0.3, 0.3, 500)  # radial offset = distance to the unit circle
    x = (1 + delta)[:, None] * np.c_[np.cos(th), np.sin(th)]
    assert off_manifold_rate(x, M, threshold=0.1) == pytest.approx(np.mean(np.abs(delta) > 0.1))


# ----------------------------------------------------------------------------- principal angles
def test_principal_angles_vs_scipy():
    rng = np.random.default_rng(TEST_SEED)
    for k, l in ((3, 2), (2, 3), (4, 4), (1, 1)):
        A = rng.standard_normal((6, 9, k))
        B = rng.standard_normal((6, 9, l))
        ang = principal_angles(A, B)
        assert ang.shape == (6, min(k, l))
        for i in range(6):
            ref = np.sort(sl.subspace_angles(A[i], B[i]))
            np.testing.assert_allclose(ang[i], ref, rtol=0, atol=1e-12)
        assert np.all(np.diff(ang, axis=1) >= 0)
        np.testing.assert_allclose(sin_theta_max(A, B), np.sin(ang[:, -1]), rtol=1e-14)


def test_principal_angles_small_and_right_angles_accurate():
    rng = np.random.default_rng(TEST_SEED)
    A = rng.standard_normal((1, 7, 2))
    q, _ = np.linalg.qr(A[0])
    perp = rng.standard_normal(7)
    perp -= q @ (q.T @ perp)
    perp /= np.linalg.norm(perp)
    eps = 1e-9
    B = q.copy()
    B[:, 0] = np.cos(eps) * q[:, 0] + np.sin(eps) * perp  # rotate one direction by eps
    ang = principal_angles(A, B[None])
    np.testing.assert_allclose(ang[0], [0.0, eps], rtol=1e-6, atol=1e-15)
    ang2 = principal_angles(q[None, :, :1], perp[None, :, None])
    np.testing.assert_allclose(ang2, [[np.pi / 2]], rtol=1e-14)
    # sin_theta_max = |(I - Q_A Q_A^T) Q_B|_2
    ref = np.linalg.norm(B - q @ (q.T @ B), 2)
    np.testing.assert_allclose(sin_theta_max(A, B[None]), [ref], rtol=1e-6)


def test_principal_angles_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="share"):
        principal_angles(rng.standard_normal((2, 5, 2)), rng.standard_normal((3, 5, 2)))
    with pytest.raises(ValueError, match="rank"):
        principal_angles(np.ones((1, 5, 2)), rng.standard_normal((1, 5, 2)))
    with pytest.raises(ValueError, match="k <= D"):
        principal_angles(rng.standard_normal((1, 2, 3)), rng.standard_normal((1, 2, 1)))


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(p=3), ValueError, "p"),
        (dict(p=True), ValueError, "p"),
        (dict(method="emd"), ValueError, "method"),
        (dict(a=np.ones(5)), ValueError, "a"),
        (dict(b=-np.ones(8)), ValueError, "b"),
        (dict(numItermax=0), ValueError, "numItermax"),
        (dict(method="sinkhorn", reg=0.0), ValueError, "reg"),
        (dict(method="sliced", n_projections=0), ValueError, "n_projections"),
        (dict(foo=1), TypeError, "foo"),
    ],
)
def test_wasserstein_bad_arguments(kwargs, exc, match):
    x, y = _clouds(6, 8)
    with pytest.raises(exc, match=match):
        wasserstein(x, y, **kwargs)


def test_wasserstein_bad_samples():
    x, y = _clouds(6, 8)
    with pytest.raises(ValueError, match="same dimension"):
        wasserstein(x, y[:, :2])
    xn = x.copy()
    xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="x"):
        wasserstein(xn, y)
    with pytest.raises(ValueError, match="at least one"):
        wasserstein(np.zeros((0, 3)), y)


def test_package_reexports_the_names_of_the_former_module():
    """``metrics`` is a package of private modules; the names the rest of the code imports are
    re-exported from it (``wasserstein_to_law`` and ``LawDistance`` from ``law_distance``)."""
    from magt_theory import law_distance, metrics
    from magt_theory.metrics import _exact, _geometry, _uncertainty, _wasserstein

    where = {_wasserstein: ["wasserstein", "gaussian_w2"],
             _exact: ["ASSIGNMENT_MAX_N", "DEFAULT_MAX_DENSE_BYTES", "DENSE_BYTES_PER_PAIR"],
             _uncertainty: ["NoiseFloor", "noise_floor", "BootstrapCI", "bootstrap_ci"],
             _geometry: ["off_manifold_rate", "principal_angles", "sin_theta_max"],
             law_distance: ["LawDistance", "wasserstein_to_law"]}
    for module, names in where.items():
        for name in names:
            assert getattr(metrics, name) is getattr(module, name), name
            assert name in metrics.__all__, name
