"""Generic checks for every registered manifold, native and embedded in a larger R^D.

Each closed form is compared with an independent computation:

* geometry: samples at distance 0, orthonormal tangent bases orthogonal to normal displacements,
  normal perturbations projecting back onto their foot point;
* ``smoothed_score`` against central finite differences of ``smoothed_log_density``;
* posterior mean / covariance / smoothed density against self-normalised Monte Carlo over
  ``N_MC = 10^5`` of the manifold's own samples (tolerance 5 delta-method standard errors);
* ``log_density``: area formula along the exact generator (torch autograd Jacobian; pushes
  uniform ``[0,1]^d`` with density 1, so ``log p(h(v)) + 0.5 log det J^T J = 0``) and the
  small-noise limit of the (MC-validated) smoothed density;
* exact generators: two-sample W2 (POT, exact) against the noise floor; torch == numpy;
* numerical range (sigma in [1e-3, 10], far points) and argument validation.
"""

from __future__ import annotations

import functools

import numpy as np
import ot
import pytest
import torch

import magt_theory as mt

torch.set_num_threads(1)

SEED = 20240611
N_MC = 100_000
NAMES = mt.manifolds.names()
EMBEDDINGS = ("native", "embedded")
CASES = [(n, e) for n in NAMES for e in EMBEDDINGS]
IDS = [f"{n}-{e}" for n, e in CASES]


@functools.lru_cache(maxsize=None)
def _manifold(name: str, emb: str):
    base = mt.manifolds.make(name)
    D = None if emb == "native" else base.native_dim + 3
    return mt.manifolds.make(name, ambient_dim=D, seed=7)


@functools.lru_cache(maxsize=None)
def _mc_samples(name: str, emb: str) -> np.ndarray:
    return _manifold(name, emb).sample(N_MC, np.random.default_rng(SEED))


@pytest.fixture(params=CASES, ids=IDS)
def case(request):
    name, emb = request.param
    return name, emb, _manifold(name, emb)


def _scale(M, x):
    """Typical size of the manifold (for relative tolerances)."""
    return float(np.sqrt(np.mean(np.sum(x * x, axis=1)))) + 1.0


def _query_points(M, x_ref, alpha, sigma, n, rng):
    """Typical noisy points ``alpha x + sigma z`` (``x`` from an independent sample)."""
    idx = rng.choice(x_ref.shape[0], size=n, replace=False)
    return alpha * x_ref[idx] + sigma * rng.standard_normal((n, M.ambient_dim))


# ---------------------------------------------------------------------------- geometry
def test_samples_lie_on_manifold(case):
    _, _, M = case
    x = M.sample(2000, 1)
    assert x.shape == (2000, M.ambient_dim) and x.dtype == np.float64
    assert np.all(np.isfinite(x))
    assert M.distance(x).max() < 1e-9
    np.testing.assert_allclose(M.project(x), x, atol=1e-9)
    # rng as int seed is reproducible, different seeds differ
    np.testing.assert_array_equal(M.sample(5, 3), M.sample(5, 3))
    assert not np.allclose(M.sample(5, 3), M.sample(5, 4))


def test_tangent_basis_orthonormal_and_normal_to_displacement(case):
    _, _, M = case
    rng = np.random.default_rng(SEED + 1)
    x = M.sample(300, rng)
    T = M.tangent_basis(x)
    assert T.shape == (300, M.ambient_dim, M.dim)
    gram = np.einsum("nDa,nDb->nab", T, T)
    np.testing.assert_allclose(gram, np.broadcast_to(np.eye(M.dim), gram.shape), atol=1e-10)

    reach = M.reach if np.isfinite(M.reach) and M.reach > 0 else 1.0
    eps = 0.3 * min(reach, 1.0)
    # a displacement normal at x, shorter than the reach, projects back onto x
    z = rng.standard_normal((300, M.ambient_dim))
    if M.ambient_dim > M.dim:
        zn = z - np.einsum("nDa,nEa,nE->nD", T, T, z)
        zn /= np.linalg.norm(zn, axis=1, keepdims=True)
        y = x + eps * zn
        np.testing.assert_allclose(M.project(y), x, atol=1e-7 * _scale(M, x))
        np.testing.assert_allclose(M.distance(y), eps, rtol=1e-7)
    # a random displacement: y - project(y) is orthogonal to the tangent space at project(y)
    # whenever the foot is an interior point; manifolds with boundary (curve ends, strip edges)
    # send a few points to the boundary, where it is not: allow 10% of such points
    if M.dim < M.native_dim:  # full-dimensional sets: only normal displacements are normal
        y = x + (eps / 3) * z / np.linalg.norm(z, axis=1, keepdims=True)
        p = M.project(y)
        r = y - p
        assert np.all(np.linalg.norm(r, axis=1) <= eps / 3 + 1e-12)  # x itself is on M
        Tp = M.tangent_basis(p)
        tang = np.linalg.norm(np.einsum("nDa,nD->na", Tp, r), axis=1)
        normal = tang <= 1e-5 * np.linalg.norm(r, axis=1) + 1e-10  # numerical projections
        assert np.mean(normal) >= 0.9, np.mean(normal)
        # the projection is the nearest point: no sample is closer than it
        d_samples = np.min(
            np.linalg.norm(y[:50, None, :] - _mc_samples(*case[:2])[None, :20000], axis=2), axis=1
        )
        assert np.all(M.distance(y[:50]) <= d_samples + 1e-9)


# ---------------------------------------------------------------------------- log density
def test_log_density_area_formula_along_generator(case):
    """``p(h(v)) sqrt(det J^T J) = 1`` for the exact, injective h* of uniform ``[0,1]^d``.

    Manifolds whose h* is many-to-one declare ``generator_injective = False`` (the identity then
    needs the sum over preimages and is checked in the manifold's own tests).
    """
    _, _, M = case
    if not M.has_generator or M.generator_latent_dim != M.dim:
        pytest.skip("no exact generator with latent dimension = intrinsic dimension")
    if not getattr(M, "generator_injective", True):
        pytest.skip("h* is not injective")
    rng = np.random.default_rng(SEED + 2)
    v = torch.tensor(rng.uniform(0.02, 0.98, size=(200, M.dim)), dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda w: M.generator(w, base="uniform").sum(0), v)
    J = jac.permute(1, 0, 2).numpy()  # (n, D, d): row n depends on v_n only
    x = M.generator(v.numpy(), base="uniform")
    log_vol = 0.5 * np.linalg.slogdet(np.einsum("nDa,nDb->nab", J, J))[1]
    np.testing.assert_allclose(M.log_density(x) + log_vol, 0.0, atol=1e-8)


def test_log_density_is_small_noise_limit_of_smoothed_density(case):
    """``log p_s(x) + (D-d)/2 log(2 pi s^2) -> log p(x)`` on M (smoothed density: MC-checked)."""
    name, emb, M = case
    x = _mc_samples(name, emb)[:400]
    s = 1e-2
    normal_dims = M.ambient_dim - M.dim
    lhs = M.smoothed_log_density(x, sigma=s) + 0.5 * normal_dims * np.log(2 * np.pi * s * s)
    diff = np.abs(lhs - M.log_density(x))
    # boundary points (cell edges, curve ends) see a fraction of the mass: allow 10% outliers
    assert np.mean(diff < 0.02) > 0.9, np.quantile(diff, [0.5, 0.9])


# ---------------------------------------------------------------------------- scores
@pytest.mark.parametrize("alpha", [1.0, 0.6])
def test_score_is_gradient_of_log_density(case, alpha):
    name, emb, M = case
    rng = np.random.default_rng(SEED + 3)
    x = _mc_samples(name, emb)
    D = M.ambient_dim
    for sigma in (1.0, 0.3, 0.05, 1e-2):
        y = _query_points(M, x, alpha, sigma, 4, rng)
        far = alpha * x[:1] + 2.0 * rng.standard_normal((1, D)) / np.sqrt(D)
        y = np.concatenate([y, far])
        h = 1e-3 * sigma
        steps = h * np.eye(D)
        yp = (y[:, None, :] + steps[None]).reshape(-1, D)
        ym = (y[:, None, :] - steps[None]).reshape(-1, D)
        lp = M.smoothed_log_density(np.concatenate([yp, ym]), sigma=sigma, alpha=alpha)
        fd = ((lp[: len(yp)] - lp[len(yp) :]) / (2 * h)).reshape(y.shape)
        score = M.smoothed_score(y, sigma=sigma, alpha=alpha)
        tol = 1e-5 * (np.abs(score).max(axis=1, keepdims=True) + 1.0 / sigma)
        assert np.all(np.abs(fd - score) <= tol), (sigma, np.abs(fd - score).max())


MC_CONFIGS = [(1.0, 1.0), (1.0, 0.3), (0.8, 0.3), (0.8, 1.0)]


@pytest.mark.parametrize("alpha,sigma", MC_CONFIGS)
def test_posterior_matches_monte_carlo(case, alpha, sigma):
    """Mean, covariance and smoothed density vs self-normalised MC over 10^5 own samples."""
    name, emb, M = case
    x = _mc_samples(name, emb)
    rng = np.random.default_rng(SEED + 4)
    ref = M.sample(1000, rng)  # independent points for the queries
    y = _query_points(M, ref, alpha, sigma, 4, rng)
    mean, logp, cov = M.posterior(y, sigma=sigma, alpha=alpha, cov=True)
    score = M.smoothed_score(y, sigma=sigma, alpha=alpha)
    np.testing.assert_allclose(score, (alpha * mean - y) / sigma**2, rtol=1e-12, atol=1e-12)
    D = M.ambient_dim
    for i in range(y.shape[0]):
        d2 = np.sum((y[i] - alpha * x) ** 2, axis=1)
        logw = -0.5 * d2 / sigma**2
        wmax = logw.max()
        w = np.exp(logw - wmax)
        sw = w.sum()
        ess = sw**2 / np.sum(w * w)
        assert ess > 50, f"MC too weak at this point (ESS={ess:.1f})"
        m_mc = w @ x / sw
        dev = x - m_mc
        se_m = np.sqrt(np.einsum("n,nD->D", w * w, dev * dev)) / sw
        assert np.all(np.abs(mean[i] - m_mc) <= 5 * se_m + 1e-9), (mean[i], m_mc, se_m)
        # covariance entries: delta method on the ratio estimator
        prod = dev[:, :, None] * dev[:, None, :]
        c_mc = np.einsum("n,nij->ij", w, prod) / sw
        se_c = np.sqrt(np.einsum("n,nij->ij", w * w, (prod - c_mc) ** 2)) / sw
        assert np.all(np.abs(cov[i] - c_mc) <= 5 * se_c + 1e-9), np.abs(cov[i] - c_mc).max()
        np.testing.assert_allclose(cov[i], cov[i].T, atol=1e-12)
        # smoothed density: log of the MC average of the Gaussian kernel
        log_phi_mc = wmax + np.log(sw / len(x)) - 0.5 * D * np.log(2 * np.pi * sigma**2)
        se_log = np.sqrt(np.mean(w * w) / np.mean(w) ** 2 - 1.0) / np.sqrt(len(x))
        assert abs(logp[i] - log_phi_mc) <= 5 * se_log + 1e-9, (logp[i], log_phi_mc, se_log)


# ---------------------------------------------------------------------------- range
@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_finite_over_sigma_range_and_far_points(case, alpha):
    name, emb, M = case
    rng = np.random.default_rng(SEED + 5)
    x = _mc_samples(name, emb)[:20]
    D = M.ambient_dim
    far = 100.0 * rng.standard_normal((5, D)) / np.sqrt(D)
    for sigma in (1e-3, 1e-2, 0.1, 1.0, 10.0):
        y = np.concatenate(
            [alpha * x, alpha * x + sigma * rng.standard_normal(x.shape), far, np.zeros((1, D))]
        )
        mean, logp, cov = M.posterior(y, sigma=sigma, alpha=alpha, cov=True)
        score = M.smoothed_score(y, sigma=sigma, alpha=alpha)
        assert np.all(np.isfinite(mean)) and np.all(np.isfinite(logp))
        assert np.all(np.isfinite(score)) and np.all(np.isfinite(cov))
        eig = np.linalg.eigvalsh(0.5 * (cov + np.swapaxes(cov, 1, 2)))
        assert eig.min() >= -1e-9 * max(1.0, np.abs(eig).max())
        # far from M the score points back: <score, y> < 0
        assert np.all(np.sum(score[-6:-1] * far, axis=1) < 0)


# ---------------------------------------------------------------------------- generators
def _w2(a, b):
    cost = ot.dist(a, b, metric="sqeuclidean")
    n = a.shape[0]
    val, log = ot.emd2(np.full(n, 1.0 / n), np.full(n, 1.0 / n), cost, numItermax=10**7, log=True)
    assert not log.get("warning"), log.get("warning")
    return float(np.sqrt(val))


def _generator_w2_ratio(M, gen, rng, n=600, reps=3):
    """mean_r W2(gen_r, ref_r) / mean_r W2(ref'_r, ref_r) over ``reps`` independent draws."""
    num, den = [], []
    for _ in range(reps):
        ref, ref2 = M.sample(n, rng), M.sample(n, rng)
        den.append(_w2(ref2, ref))
        num.append(_w2(gen(n), ref))
    return float(np.mean(num) / np.mean(den))


def test_exact_generator_pushes_base_to_manifold_law(case):
    """W2(h*(base), ref) vs the noise floor W2(ref', ref), same n, averaged over 3 draws.

    For an exact generator numerator and denominator have the same law. The single-draw
    ratio is heavy-tailed for curves (up to 2.0 in 20 seeds for helix3d at n=600); the
    3-draw ratio of means stayed below 1.6 in 20 seeds for helix3d, circle, spiral2d and
    checker2d, so the test bounds it by 2 (within the 2-3x band). Its power is modest
    (a 30% radius error on the unit sphere gives ~2.06, uniform-instead-of-vMF-mixture ~2.1);
    the pointwise area-formula test above is the sharp check of h*.
    """
    _, _, M = case
    if not M.has_generator:
        pytest.skip("no exact generator")
    k = M.generator_latent_dim
    rng = np.random.default_rng(SEED + 6)
    g = M.generator(rng.uniform(size=(100, k)), base="uniform")
    assert M.distance(g).max() < 1e-9

    def gen_u(n):
        return M.generator(rng.uniform(size=(n, k)), base="uniform")

    def gen_n(n):
        return M.generator(rng.standard_normal((n, k)), base="normal")

    ratio_u = _generator_w2_ratio(M, gen_u, rng)
    ratio_n = _generator_w2_ratio(M, gen_n, rng)
    assert ratio_u < 2.0, ratio_u
    assert ratio_n < 2.0, ratio_n


def test_generator_torch_matches_numpy(case):
    _, _, M = case
    if not M.has_generator:
        with pytest.raises(NotImplementedError):
            M.generator(np.zeros((2, 1)))
        return
    k = M.generator_latent_dim
    rng = np.random.default_rng(SEED + 7)
    latents = (("uniform", rng.uniform(size=(50, k))), ("normal", rng.standard_normal((50, k))))
    for base, u in latents:
        out_np = M.generator(u, base=base)
        ut = torch.tensor(u, dtype=torch.float64, requires_grad=True)
        out_t = M.generator(ut, base=base)
        assert isinstance(out_t, torch.Tensor) and out_t.shape == (50, M.ambient_dim)
        np.testing.assert_allclose(out_t.detach().numpy(), out_np, atol=1e-12)
        out_t.sum().backward()
        assert torch.all(torch.isfinite(ut.grad))


# ---------------------------------------------------------------------------- validation
def test_bad_arguments_raise(case):
    name, _, M = case
    D = M.ambient_dim
    y = M.sample(3, 0)
    with pytest.raises(ValueError, match="y"):
        M.smoothed_score(np.zeros((3, D + 1)), sigma=0.1)
    with pytest.raises(ValueError, match="y"):
        M.smoothed_log_density(np.zeros((3, D, 1)), sigma=0.1)
    for bad in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="sigma"):
            M.smoothed_score(y, sigma=bad)
    with pytest.raises(TypeError, match="sigma"):
        M.smoothed_score(y, sigma="big")
    for bad in (0.0, -0.2, 1.5, np.nan):
        with pytest.raises(ValueError, match="alpha"):
            M.smoothed_log_density(y, sigma=0.1, alpha=bad)
    y_nan = y.copy()
    y_nan[1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        M.smoothed_score(y_nan, sigma=0.1)
    with pytest.raises(ValueError, match="NaN"):
        M.project(y_nan)
    with pytest.raises(ValueError, match="NaN"):
        M.log_density(y_nan)
    with pytest.raises(ValueError, match="n"):
        M.sample(0, 0)
    with pytest.raises(ValueError, match="ambient_dim"):
        mt.manifolds.make(name, ambient_dim=M.native_dim - 1)
    if M.has_generator:
        with pytest.raises(ValueError, match="u"):
            M.generator(np.zeros((2, M.generator_latent_dim + 1)))
        with pytest.raises(ValueError, match="base"):
            M.generator(np.zeros((2, M.generator_latent_dim)), base="laplace")


def test_unknown_name_raises():
    with pytest.raises(ValueError, match="name"):
        mt.manifolds.make("no_such_manifold")


def test_required_names_registered():
    required = {
        "circle", "sphere", "flat_torus", "gaussian_subspace", "vmf_mixture", "helix3d",
        "torus3d", "swiss_roll", "rings2d", "spiral2d", "moons2d", "checker2d",
    }  # fmt: skip
    missing = required - set(NAMES)
    assert not missing, f"unregistered manifolds: {sorted(missing)}"


def test_split_modules_keep_their_names():
    """``spheres`` and ``_quadrature`` were split into private modules: every name they exported
    is still importable from them, it is the object defined in its new module, and each
    registered class is the one ``spheres`` (or its module) exports."""
    import importlib
    import pathlib

    from magt_theory.manifolds import _quadrature, _registry, spheres

    for mod in (spheres, _quadrature):
        for name in mod.__all__:
            obj = getattr(mod, name)
            home = importlib.import_module(obj.__module__)
            assert getattr(home, name) is obj, (mod.__name__, name)
    assert spheres._ratio_over_kappa is importlib.import_module(
        "magt_theory.manifolds._vmf")._ratio_over_kappa
    for cls in (spheres.Sphere, spheres.Circle, spheres.VMFMixture, spheres.FlatTorus):
        assert _registry._REGISTRY[cls.name] is cls
    pkg = pathlib.Path(spheres.__file__).parent
    for f in sorted(pkg.glob("*.py")):
        n = len(f.read_text().splitlines())
        assert n <= 500, f"manifolds/{f.name} has {n} lines"
