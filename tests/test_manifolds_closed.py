"""Closed-form manifolds (spheres, vMF mixtures, flat torus, Gaussian, checkerboard) against
independent computations: scipy.stats densities, adaptive / Gauss–Legendre / periodic trapezoid
quadrature, and mpmath at extreme arguments."""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
import scipy.special as sc
from scipy import integrate, stats

import magt_theory as mt
from magt_theory.manifolds.linear import truncnorm_moments

SEED = 1729


def _rel_close(a, b, rtol):
    a, b = np.asarray(a), np.asarray(b)
    scale = max(1.0, float(np.abs(b).max()))
    np.testing.assert_allclose(a, b, rtol=0, atol=rtol * scale)


# ---------------------------------------------------------------------------- Gaussian
@pytest.mark.parametrize("alpha,sigma", [(1.0, 0.4), (0.7, 0.4), (0.9, 1e-3), (0.5, 10.0)])
def test_gaussian_subspace_matches_multivariate_normal(alpha, sigma):
    mu, scales = np.array([0.3, -0.2]), np.array([1.0, 0.5])
    M = mt.manifolds.make("gaussian_subspace", ambient_dim=5, seed=2, mean=mu, scales=scales)
    Q = M.Q
    rng = np.random.default_rng(SEED)
    y = alpha * M.sample(6, rng) + sigma * rng.standard_normal((6, 5))
    y[-1] = 3.0  # an off-subspace point
    sx = Q @ np.diag(scales**2) @ Q.T  # Cov X in R^D
    sy = alpha**2 * sx + sigma**2 * np.eye(5)
    my = alpha * Q @ mu
    ref_logp = stats.multivariate_normal(my, sy).logpdf(y)
    ref_score = -np.linalg.solve(sy, (y - my).T).T
    gain = alpha * sx @ np.linalg.inv(sy)
    ref_mean = Q @ mu + (gain @ (y - my).T).T
    ref_cov = sx - alpha * gain @ sx
    mean, logp, cov = M.posterior(y, sigma=sigma, alpha=alpha, cov=True)
    _rel_close(logp, ref_logp, 1e-10)
    _rel_close(M.smoothed_score(y, sigma=sigma, alpha=alpha), ref_score, 1e-10)
    _rel_close(mean, ref_mean, 1e-10)
    _rel_close(cov, np.broadcast_to(ref_cov, cov.shape), 1e-10)
    x = M.sample(10, rng)
    ref_ld = stats.multivariate_normal(mu, np.diag(scales**2)).logpdf(x @ Q)
    np.testing.assert_allclose(M.log_density(x), ref_ld, atol=1e-12)


def test_gaussian_generator_normal_base_has_no_tail_saturation():
    M = mt.manifolds.make("gaussian_subspace", mean=[1.0, 2.0], scales=[2.0, 0.5])
    u = np.array([[40.0, -40.0], [0.3, -1.2]])
    np.testing.assert_allclose(M.generator(u), [1.0, 2.0] + np.array([2.0, 0.5]) * u, atol=1e-14)
    v = sc.ndtr(u[1:])
    np.testing.assert_allclose(M.generator(v, base="uniform"), M.generator(u[1:]), atol=1e-12)


# ---------------------------------------------------------------------------- circle / sphere
@pytest.mark.parametrize("alpha", [1.0, 0.7])
@pytest.mark.parametrize("sigma", [0.3, 1.0, 3.0])
def test_circle_posterior_matches_quad(alpha, sigma):
    r = 1.3
    M = mt.manifolds.make("circle", radius=r)
    ys = np.array([[0.9, 0.4], [0.01, -0.02], [2.5, 1.0], [0.0, 0.0], [-0.3, -1.1]])
    mean, logp, cov = M.posterior(ys, sigma=sigma, alpha=alpha, cov=True)
    for i, y in enumerate(ys):
        c = alpha * r * np.linalg.norm(y) / sigma**2  # peak of the exponent

        def w(th, y=y, c=c):
            return np.exp(alpha * r * (y[0] * np.cos(th) + y[1] * np.sin(th)) / sigma**2 - c)

        th0 = float(np.arctan2(y[1], y[0]) % (2 * np.pi))
        opts = dict(epsabs=1e-12, epsrel=1e-12, limit=500, points=[th0])
        z = integrate.quad(w, 0, 2 * np.pi, **opts)[0]
        m1 = integrate.quad(lambda t: np.cos(t) * w(t), 0, 2 * np.pi, **opts)[0] / z
        m2 = integrate.quad(lambda t: np.sin(t) * w(t), 0, 2 * np.pi, **opts)[0] / z
        e_cc = integrate.quad(lambda t: np.cos(t) ** 2 * w(t), 0, 2 * np.pi, **opts)[0] / z
        e_cs = integrate.quad(lambda t: np.cos(t) * np.sin(t) * w(t), 0, 2 * np.pi, **opts)[0] / z
        ref_logp = (
            np.log(z / (2 * np.pi)) + c
            - (y @ y + (alpha * r) ** 2) / (2 * sigma**2) - np.log(2 * np.pi * sigma**2)
        )  # fmt: skip
        np.testing.assert_allclose(mean[i], r * np.array([m1, m2]), atol=1e-10)
        np.testing.assert_allclose(logp[i], ref_logp, atol=1e-10)
        c12 = e_cs - m1 * m2
        ref_cov = r**2 * np.array([[e_cc - m1 * m1, c12], [c12, 1 - e_cc - m2 * m2]])
        np.testing.assert_allclose(cov[i], ref_cov, atol=1e-10)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_sphere_posterior_matches_radial_quadrature(k):
    """Uniform S^k: a posteriori t = <omega, y/|y|> has density ∝ (1-t^2)^{(k-2)/2} e^{kappa t}."""
    p, r = k + 1, 1.3
    M = mt.manifolds.make("sphere", k=k, radius=r, ambient_dim=p + 2, seed=4)
    rng = np.random.default_rng(SEED + k)
    e = M.Q @ (M.Q.T @ rng.standard_normal(p + 2))
    e /= np.linalg.norm(e)
    off = rng.standard_normal(p + 2)
    off -= M.Q @ (M.Q.T @ off)  # a component orthogonal to the sphere's subspace
    expo = (k - 2) / 2.0
    norm_t = sc.beta(0.5, (p - 1) / 2.0)
    for alpha, sigma, rho in [(1.0, 0.2, 1.1), (0.6, 1.0, 0.5), (1.0, 5.0, 2.0), (0.8, 0.5, 1e-6)]:
        y = (rho * e + 0.3 * off)[None]
        kappa = alpha * r * rho / sigma**2

        def mom(g, kappa=kappa):
            return integrate.quad(
                lambda t: g(t) * np.exp(kappa * (t - 1.0)), -1, 1, weight="alg",
                wvar=(expo, expo), epsabs=1e-12, epsrel=1e-12, limit=200,
            )[0]  # fmt: skip

        z = mom(lambda t: 1.0)
        et = mom(lambda t: t) / z
        ett = mom(lambda t: t * t) / z
        mean, logp, cov = M.posterior(y, sigma=sigma, alpha=alpha, cov=True)
        ref_mean = r * et * e
        ee = np.outer(e, e)
        ref_cov = r**2 * ((ett - et**2) * ee + (1 - ett) / (p - 1) * (M.Q @ M.Q.T - ee))
        y2 = float(y[0] @ y[0])
        ref_logp = (
            np.log(z / norm_t) + kappa
            - (y2 + (alpha * r) ** 2) / (2 * sigma**2)
            - 0.5 * (p + 2) * np.log(2 * np.pi * sigma**2)
        )  # fmt: skip
        np.testing.assert_allclose(mean[0], ref_mean, atol=1e-10)
        np.testing.assert_allclose(cov[0], ref_cov, atol=1e-10)
        np.testing.assert_allclose(logp[0], ref_logp, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize(
    "rho,sigma", [(100.0, 1e-3), (1e4, 1e-3), (1.0 + 1e-4, 1e-3), (1e-7, 10.0)]
)
def test_sphere_extreme_arguments_match_mpmath(k, rho, sigma):
    """Large kappa (Hankel regime above 1e7) and tiny kappa (series) vs 50-digit mpmath."""
    mp.mp.dps = 50
    p = k + 1
    M = mt.manifolds.make("sphere", k=k)
    y = np.zeros((1, p))
    y[0, 0] = rho
    kap = mp.mpf(rho) / mp.mpf(sigma) ** 2
    nu = mp.mpf(p) / 2 - 1
    log_mgf = mp.loggamma(nu + 1) - nu * mp.log(kap / 2) + mp.log(mp.besseli(nu, kap))
    ref_logp = (
        -mp.mpf(p) / 2 * mp.log(2 * mp.pi * mp.mpf(sigma) ** 2)
        - (mp.mpf(rho) ** 2 + 1) / (2 * mp.mpf(sigma) ** 2) + log_mgf
    )  # fmt: skip
    ref_a = mp.besseli(nu + 1, kap) / mp.besseli(nu, kap)
    mean, logp, cov = M.posterior(y, sigma=sigma, cov=True)
    assert abs(logp[0] - float(ref_logp)) <= 1e-13 * max(1.0, abs(float(ref_logp)))
    assert abs(mean[0, 0] - float(ref_a)) <= 1e-13
    tang = float(ref_a / kap)  # tangential posterior variance A/kappa
    np.testing.assert_allclose(cov[0, 1, 1], tang, rtol=1e-10)


# ---------------------------------------------------------------------------- vMF mixture
def _sphere_grid(r, n_t=400, n_phi=400):
    """Gauss–Legendre in cos(theta) x periodic trapezoid in phi on the sphere of radius r."""
    t, wt = np.polynomial.legendre.leggauss(n_t)
    phi = 2 * np.pi * np.arange(n_phi) / n_phi
    T, P = np.meshgrid(t, phi, indexing="ij")
    rho = np.sqrt(1 - T**2)
    x = r * np.stack([rho * np.cos(P), rho * np.sin(P), T], axis=-1).reshape(-1, 3)
    w = (wt[:, None] * np.full(n_phi, 2 * np.pi / n_phi)[None]).ravel() * r**2
    return x, w


VMF_CUSTOM = dict(concentration=[2.0, 50.0, 10.0, 5.0], weights=[1.0, 2.0, 3.0, 4.0], radius=1.3)


@pytest.mark.parametrize("params", [{}, VMF_CUSTOM], ids=["default", "custom"])
def test_vmf_mixture_log_density_integrates_to_one(params):
    M = mt.manifolds.make("vmf_mixture", **params)
    x, w = _sphere_grid(M.radius)
    total = np.sum(w * np.exp(M.log_density(x)))
    assert abs(total - 1.0) < 1e-10, total


@pytest.mark.parametrize("k", [2, 4])
def test_vmf_mixture_log_density_matches_scipy(k):
    M = mt.manifolds.make("vmf_mixture", k=k, n_components=3, concentration=7.0, radius=2.0)
    x = M.sample(50, SEED)
    comps = [stats.vonmises_fisher(m, 7.0) for m in M.means]
    ref = sc.logsumexp([np.log(1 / 3) + c.logpdf(x / 2.0) for c in comps], axis=0) - k * np.log(2.0)
    np.testing.assert_allclose(M.log_density(x), ref, atol=1e-10)


@pytest.mark.parametrize("alpha,sigma", [(1.0, 0.5), (0.7, 0.3)])
def test_vmf_mixture_posterior_matches_quadrature(alpha, sigma):
    M = mt.manifolds.make("vmf_mixture", **VMF_CUSTOM)
    x, w = _sphere_grid(M.radius, 600, 600)
    f = np.exp(M.log_density(x))  # checked on its own above
    ys = np.array([[0.5, 0.2, 1.0], [0.0, 0.0, 0.0], [-1.0, 0.7, -0.2]])
    mean, logp, cov = M.posterior(ys, sigma=sigma, alpha=alpha, cov=True)
    for i, y in enumerate(ys):
        lk = -np.sum((y - alpha * x) ** 2, axis=1) / (2 * sigma**2)
        mx = lk.max()
        q = w * f * np.exp(lk - mx)
        z = q.sum()
        m = q @ x / z
        c = (q[:, None] * (x - m)).T @ (x - m) / z
        ref_logp = np.log(z) + mx - 1.5 * np.log(2 * np.pi * sigma**2)
        np.testing.assert_allclose(logp[i], ref_logp, atol=1e-9)
        np.testing.assert_allclose(mean[i], m, atol=1e-9)
        np.testing.assert_allclose(cov[i], c, atol=1e-9)


def test_vmf_mixture_generator_area_formula_per_preimage():
    """h* is piecewise: on strip j its Jacobian volume is 1 / (w_j f_j(x)) (component density)."""
    torch = pytest.importorskip("torch")
    M = mt.manifolds.make("vmf_mixture", **VMF_CUSTOM)
    rng = np.random.default_rng(SEED)
    v = torch.tensor(rng.uniform(0.01, 0.99, size=(300, 2)), dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda a: M.generator(a, base="uniform").sum(0), v)
    J = jac.permute(1, 0, 2).numpy()
    x = M.generator(v.numpy(), base="uniform")
    comp = np.searchsorted(np.cumsum(M.weights)[:-1], v.numpy()[:, 0], side="right")
    r = M.radius
    dens = np.array(
        [M.weights[j] * stats.vonmises_fisher(M.means[j], M.concentration[j]).pdf(xi / r) / r**2
         for j, xi in zip(comp, x)]
    )  # fmt: skip
    log_vol = 0.5 * np.linalg.slogdet(np.einsum("nDa,nDb->nab", J, J))[1]
    np.testing.assert_allclose(log_vol, -np.log(dens), atol=1e-8)


# ---------------------------------------------------------------------------- flat torus
@pytest.mark.parametrize("alpha,sigma", [(1.0, 0.4), (0.8, 0.25)])
def test_flat_torus_posterior_matches_trapezoid(alpha, sigma):
    radii = np.array([1.0, 0.6])
    M = mt.manifolds.make("flat_torus", radii=radii)
    n = 512  # periodic trapezoid: spectrally accurate for this smooth periodic integrand
    a = 2 * np.pi * np.arange(n) / n
    A1, A2 = np.meshgrid(a, a, indexing="ij")
    x = np.stack(
        [radii[0] * np.cos(A1), radii[0] * np.sin(A1), radii[1] * np.cos(A2),
         radii[1] * np.sin(A2)],
        axis=-1,
    ).reshape(-1, 4)
    ys = np.array([[0.9, 0.1, -0.3, 0.5], [0.0, 0.0, 0.0, 0.0], [1.5, -0.4, 0.1, 0.0]])
    mean, logp, cov = M.posterior(ys, sigma=sigma, alpha=alpha, cov=True)
    for i, y in enumerate(ys):
        lk = -np.sum((y - alpha * x) ** 2, axis=1) / (2 * sigma**2)
        mx = lk.max()
        q = np.exp(lk - mx)
        z = q.mean()  # uniform law: the average over the grid is the expectation
        m = q @ x / q.sum()
        c = (q[:, None] * (x - m)).T @ (x - m) / q.sum()
        ref_logp = np.log(z) + mx - 2 * np.log(2 * np.pi * sigma**2)
        np.testing.assert_allclose(logp[i], ref_logp, atol=1e-10)
        np.testing.assert_allclose(mean[i], m, atol=1e-10)
        np.testing.assert_allclose(cov[i], c, atol=1e-10)


# ---------------------------------------------------------------------------- checkerboard
def _mp_mass(a, b):
    """Phi(b) - Phi(a) in mpmath, from the tail where [a, b] lies (no cancellation to 0)."""
    return mp.ncdf(-a) - mp.ncdf(-b) if a > 0 else mp.ncdf(b) - mp.ncdf(a)


@pytest.mark.parametrize("alpha,sigma,n_gl", [(1.0, 0.3, 80), (0.7, 0.3, 80), (1.0, 0.05, 200)])
def test_checker_posterior_matches_2d_quadrature(alpha, sigma, n_gl):
    M = mt.manifolds.make("checker2d")
    t, wt = np.polynomial.legendre.leggauss(n_gl)
    u, wu = 0.5 * (t + 1), 0.5 * wt  # nodes on [0, 1]
    U1, U2 = np.meshgrid(u, u, indexing="ij")
    W = np.outer(wu, wu).ravel()
    # black cells of the documented 4x4 board, enumerated independently of the class
    cells = [(i, j) for i in range(4) for j in range(4) if (i + j) % 2 == 0]
    x = np.concatenate([np.stack([-2 + i + U1.ravel(), -2 + j + U2.ravel()], 1) for i, j in cells])
    w = np.tile(W, len(cells)) / 8.0
    ys = alpha * np.array(
        [[-1.5, -1.5], [-1.0, -1.0], [0.2, -0.7], [2.3, 0.4], [0.5, 0.5], [3.0, -3.0]]
    )
    mean, logp, cov = M.posterior(ys, sigma=sigma, alpha=alpha, cov=True)
    for i, y in enumerate(ys):
        lk = -np.sum((y - alpha * x) ** 2, axis=1) / (2 * sigma**2)
        mx = lk.max()
        q = w * np.exp(lk - mx)
        z = q.sum()
        m = q @ x / z
        c = (q[:, None] * (x - m)).T @ (x - m) / z
        ref_logp = np.log(z) + mx - np.log(2 * np.pi * sigma**2)
        np.testing.assert_allclose(logp[i], ref_logp, atol=1e-10)
        np.testing.assert_allclose(mean[i], m, atol=1e-10)
        np.testing.assert_allclose(cov[i], c, atol=1e-10)


@pytest.mark.parametrize("y", [(10.0, 10.0), (-2.0005, 0.3), (0.0, 0.0), (1.0, -1.0)])
def test_checker_small_sigma_matches_mpmath(y):
    s = 1e-3
    M = mt.manifolds.make("checker2d")
    ref_logp, ref_mean = _mp_checker(y, s, dps=40)
    mean, logp, _ = M.posterior(np.array([y]), sigma=s, cov=True)
    assert abs(logp[0] - ref_logp) <= 1e-12 * max(1.0, abs(ref_logp))
    np.testing.assert_allclose(mean[0], ref_mean, atol=1e-12)


def _mp_checker(y, s, dps=60):
    """Posterior mean and log density of checker2d by mpmath (own cell enumeration)."""
    with mp.workdps(dps):
        y = [mp.mpf(float(v)) for v in y]
        s = mp.mpf(float(s))
        cells = [(i, j) for i in range(4) for j in range(4) if (i + j) % 2 == 0]
        total, first = mp.mpf(0), [mp.mpf(0), mp.mpf(0)]
        for i, j in cells:
            lo = [mp.mpf(-2 + i), mp.mpf(-2 + j)]
            zc, mc = mp.mpf(1), []
            for d in range(2):
                a, b = (lo[d] - y[d]) / s, (lo[d] + 1 - y[d]) / s
                zd = _mp_mass(a, b)
                zc *= zd
                mc.append(y[d] + s * (mp.npdf(a) - mp.npdf(b)) / zd)
            total += zc
            first = [f + zc * m for f, m in zip(first, mc)]
        logp = mp.log(total / 8)
        return float(logp), np.array([float(f / total) for f in first])


@pytest.mark.parametrize("dist", [1e3, 1e4, 1e5, 1e6])
@pytest.mark.parametrize("s", [1e-3, 1.0])
def test_checker_far_tails_match_mpmath(dist, s):
    """Far from the board (distance 1e3 to 1e6): Mills-ratio tails vs mpmath at 60 digits.

    Before the Mills-ratio form the mean at distance 1000, sigma 1e-3 was off by 0.09."""
    M = mt.manifolds.make("checker2d")
    for direction in ([1.0, 0.0], [0.6, -0.8], [-1.0, -1.0], [0.3, 2.0]):
        y = dist * np.array(direction) / np.linalg.norm(direction)
        mean, logp, cov = M.posterior(y[None], sigma=s, cov=True)
        ref_logp, ref_mean = _mp_checker(y, s)
        np.testing.assert_allclose(mean[0], ref_mean, rtol=0, atol=1e-12)
        np.testing.assert_allclose(logp[0], ref_logp, rtol=1e-13)
        assert np.all(np.isfinite(cov)) and np.all(np.linalg.eigvalsh(cov[0]) >= -1e-30)


def test_truncnorm_moments_match_scipy():
    a = np.array([-1.0, -3.0, 0.5, 5.0, 20.0, -25.0, -0.1])
    b = np.array([1.0, -2.0, 4.0, 6.0, 21.0, -24.0, 0.1])
    log_z, mean, var = truncnorm_moments(a, b)
    ref_m, ref_v = stats.truncnorm.stats(a, b, moments="mv")
    mp.mp.dps = 40
    ref_z = [float(mp.log(_mp_mass(mp.mpf(ai), mp.mpf(bi)))) for ai, bi in zip(a, b)]
    np.testing.assert_allclose(log_z, ref_z, rtol=1e-12)
    np.testing.assert_allclose(mean, ref_m, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(var, ref_v, rtol=1e-7)


def test_checker_geometry_and_generator():
    M = mt.manifolds.make("checker2d")
    # documented cell layout: [-2,-1]^2 black, [-1,0]x[-2,-1] white
    np.testing.assert_allclose(M.distance(np.array([[-1.5, -1.5], [-0.5, -1.5]])), [0.0, 0.5])
    # nearest point of the union for a white-cell point (tie-free)
    np.testing.assert_allclose(M.project(np.array([[-0.4, -1.5]])), [[0.0, -1.5]])
    np.testing.assert_allclose(np.exp(M.log_density(np.zeros((1, 2)))), 1 / 8)
    # generator: exact cell fractions from a uniform grid of latents
    g = (np.arange(200) + 0.5) / 200
    v = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    x = M.generator(v, base="uniform")
    cell = np.floor(x + 2).astype(int)
    assert np.all((cell.sum(1) % 2) == 0)
    counts = np.bincount(cell[:, 0] * 4 + cell[:, 1], minlength=16)
    assert set(counts[counts > 0]) == {len(v) // 8}


# ---------------------------------------------------------------------------- other parameters
VARIANTS = [
    ("sphere", dict(k=4, radius=0.7)),
    ("vmf_mixture", dict(k=1, n_components=3, concentration=4.0)),
    ("vmf_mixture", dict(k=3, n_components=5, concentration=[3.0, 8.0, 1.0, 20.0, 5.0])),
    ("flat_torus", dict(radii=(1.0, 0.5, 0.7))),
    ("gaussian_subspace", dict(d=3, scales=(2.0, 1.0, 0.3), mean=(1.0, 0.0, -1.0))),
    ("checker2d", dict(grid=6, cell=0.5)),
]


@pytest.mark.parametrize(
    "name,params", VARIANTS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(VARIANTS)]
)
def test_non_default_parameters_match_monte_carlo(name, params):
    """Posterior mean and smoothed density vs self-normalised MC (10^5 samples, 5 SE)."""
    base = mt.manifolds.make(name, **params)
    M = mt.manifolds.make(name, ambient_dim=base.native_dim + 2, seed=5, **params)
    rng = np.random.default_rng(SEED)
    x = M.sample(100_000, rng)
    assert M.distance(x).max() < 1e-9
    alpha, sigma = 0.9, 0.4
    y = alpha * M.sample(3, rng) + sigma * rng.standard_normal((3, M.ambient_dim))
    mean, logp, _ = M.posterior(y, sigma=sigma, alpha=alpha)
    for i in range(3):
        logw = -0.5 * np.sum((y[i] - alpha * x) ** 2, axis=1) / sigma**2
        wmax = logw.max()
        w = np.exp(logw - wmax)
        m = w @ x / w.sum()
        se = np.sqrt(np.einsum("n,nD->D", w * w, (x - m) ** 2)) / w.sum()
        assert np.all(np.abs(mean[i] - m) <= 5 * se + 1e-9)
        log_mc = wmax + np.log(w.mean()) - 0.5 * M.ambient_dim * np.log(2 * np.pi * sigma**2)
        se_log = np.sqrt(np.mean(w * w) / w.mean() ** 2 - 1) / np.sqrt(len(w))
        assert abs(logp[i] - log_mc) <= 5 * se_log
    if M.has_generator:
        k = M.generator_latent_dim
        g = M.generator(rng.uniform(size=(1000, k)), base="uniform")
        assert M.distance(g).max() < 1e-9
