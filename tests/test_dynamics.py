"""Tangent dynamics, Lyapunov-tangent alignment and robustness of support (magt_theory.dynamics).

Independent references: central finite differences of the sampler step / flow map, the exact
geometry of the circle (the oracle DDIM map preserves the in-plane polar angle), log|det| of the
flow-map Jacobian (sum of all Benettin exponents), dense SVD vs JVP/VJP subspace iteration, and
exact generators whose image is the manifold.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import linregress

import magt_theory as mt
from magt_theory import dynamics as dy
from magt_theory.models import diffusion as df
from magt_theory.models.mlp import MLP

SEED = 20240611
torch.set_num_threads(1)


# --------------------------------------------------------------------------- one-step Jacobian
CASES = [("circle", {}, 3), ("helix3d", {}, 4), ("sphere", {}, 5), ("torus3d", {}, 3),
         ("vmf_mixture", {"k": 2}, 4)]


@pytest.mark.parametrize("name, kw, D", CASES, ids=[c[0] for c in CASES])
def test_ddim_step_jacobian_equals_central_differences(name, kw, D):
    """dF = c1 I + c2 (alpha/sigma^2) Cov[Y0|x] vs central differences of x -> c1 x + c2 E[Y0|x]
    (h = 1e-5: truncation ~1e-10, round-off ~1e-11; measured ~5e-11 relative)."""
    M = mt.manifolds.make(name, ambient_dim=D, seed=2, **kw)
    rng = np.random.default_rng(SEED)
    t, tn = 0.05, 0.03
    a, s = math.sqrt(1 - t), math.sqrt(t)
    x = a * M.sample(3, rng) + s * rng.standard_normal((3, D))
    J = dy.ddim_step_jacobian(M, x, t, tn)
    # written out independently of the library
    c1, c2 = math.sqrt(tn / t), math.sqrt(1 - tn) - math.sqrt(tn / t) * a
    F = lambda y: c1 * y + c2 * M.posterior_mean(y, s, a)  # noqa: E731
    h = 1e-5
    Jfd = np.stack([(F(x + h * e) - F(x - h * e)) / (2 * h) for e in np.eye(D)], axis=2)
    assert np.abs(J - Jfd).max() <= 1e-7 * np.abs(J).max()


def test_step_coefficients_and_denoising_step():
    c1, c2 = dy.step_coefficients(0.5, 0.0)
    assert (c1, c2) == (0.0, 1.0)
    with pytest.raises(ValueError, match="t_next"):
        dy.step_coefficients(0.3, 0.4)
    with pytest.raises(ValueError, match="t must"):
        dy.step_coefficients(1.0, 0.4)


# --------------------------------------------------------------------------- circle in R^10
@pytest.fixture(scope="module")
def circle10():
    M = mt.manifolds.make("circle", ambient_dim=10, seed=3)
    g = df.time_grid(200, 0.9999, 1e-4)
    x0 = df.prior_noise(12, 10, SEED)
    return M, g, x0, dy.oracle_tangent_dynamics(M, x0, g, seed=1, record=True)


def test_circle_flow_map_svd_is_exactly_aligned(circle10):
    """Circle in R^10 (plane Q). The oracle posterior mean is radial in the plane, so every DDIM
    step x' = c1 x + c2 m(x) keeps the in-plane polar angle, scales |Q^T x| and multiplies the
    normal part by c1. The flow-map Jacobian is therefore diagonal in the fixed frame
    (e_theta, e_r, normal complement), from ANY starting point:
      - e_theta (the circle's tangent at the projected output) is an exact left singular vector,
        the top one, with singular value rho_out / rho_in;
      - the 8 normal singular values are exactly prod c1 = sigma_N / sigma_0.
    Checked to 1e-10 (round-off) on 12 generic Gaussian starts."""
    M, g, x0, dyn = circle10
    U, s, _ = dy.flow_map_svd(dyn.jacobian)
    a_min = math.sqrt(1 - g[-1])
    met = dy.alignment_metrics(U, s, dyn.samples, M, alpha_out=a_min)
    assert met["sin_theta_max"].max() < 1e-10
    Q = M.Q  # embedding of the plane
    pin, pout = x0 @ Q, dyn.samples @ Q
    cosang = np.sum(pin * pout, 1) / np.linalg.norm(pin, axis=1) / np.linalg.norm(pout, axis=1)
    assert np.all(1 - cosang < 1e-13)  # the polar angle is preserved
    rho_ratio = np.linalg.norm(pout, axis=1) / np.linalg.norm(pin, axis=1)
    np.testing.assert_allclose(s[:, 0], rho_ratio, rtol=1e-10)
    np.testing.assert_allclose(s[:, 2:], math.sqrt(g[-1] / g[0]), rtol=1e-10)
    assert np.all(met["intrinsic_dim"] == 1)
    # exact score of the uniform circle is purely normal: orthogonal to E_1 to round-off
    sc = M.smoothed_score(dyn.samples, math.sqrt(g[-1]), a_min)
    met = dy.alignment_metrics(U, s, dyn.samples, M, alpha_out=a_min, score=sc)
    assert met["score_tangent_rel"].max() < 1e-10


def test_benettin_vector_converges_to_svd_vector(circle10):
    """First Benettin vector after i steps = normalised dF^{0->i} q0. With dF^{0->i} = U S V^T:
    tan angle(q_i, u_1) = |S_perp V_perp^T q0| / (s_1 |v_1^T q0|) <= (s_2/s_1) tan angle(q0, v_1).
    Check the bound at every step and that tan angle decays like s_2/s_1 (log-log slope 1 where
    the bound is < 0.5; measured 1.000)."""
    M, g, x0, dyn = circle10
    q0 = dyn.frames[0][:, :, 0]
    bound, tanq = [], []
    for i in range(1, g.size):
        U, s, V = dy.flow_map_svd(dyn.partial_jacobians[i])
        c0 = np.abs(np.sum(V[:, :, 0] * q0, 1))
        cq = np.abs(np.sum(U[:, :, 0] * dyn.frames[i][:, :, 0], 1))
        bound.append(s[:, 1] / s[:, 0] * np.sqrt(1 - c0**2) / c0)
        tanq.append(np.sqrt(np.maximum(1 - cq**2, 0.0)) / cq)
    bound, tanq = np.array(bound), np.array(tanq)
    assert np.all(tanq <= bound * (1 + 1e-8) + 1e-12)
    slopes = []
    for j in range(bound.shape[1]):
        sel = bound[:, j] < 0.5
        if sel.sum() >= 10:
            slopes.append(linregress(np.log(bound[sel, j]), np.log(tanq[sel, j])).slope)
    assert len(slopes) >= 3
    assert np.all(np.abs(np.array(slopes) - 1) < 0.05), slopes


def test_benettin_sum_equals_log_det_and_normal_exponent(circle10):
    """With k = D vectors, sum_j sum_i log R_i,jj = log|det dF^{0->N}| (independent: slogdet of
    the product); the exponents are ordered-ish and the clocks are consistent."""
    M, g, x0, _ = circle10
    dyn = dy.oracle_tangent_dynamics(M, x0[:4], g, k=10, seed=2)
    sign, logdet = np.linalg.slogdet(dyn.jacobian)
    np.testing.assert_allclose(dyn.log_r.sum(axis=(0, 2)), logdet, rtol=1e-10)
    lam = dyn.exponents("log_sigma")
    # the log-det identity in the log-sigma clock: 8 exactly normal directions give -8, the
    # in-plane pair adds log(s_theta s_r) / T
    U, s, _ = dy.flow_map_svd(dyn.jacobian)
    T = 0.5 * math.log(g[0] / g[-1])
    np.testing.assert_allclose(lam.sum(1), -8 + np.log(s[:, 0] * s[:, 1]) / T, rtol=1e-10)
    np.testing.assert_allclose(dyn.exponents("none"), lam * T, rtol=1e-12)


def test_sphere_intrinsic_dimension_and_alignment():
    """S^2 in R^6: the largest gap of log singular values of the oracle flow map is after d = 2,
    and the top-2 vectors span the tangent plane (uniform sphere: exact, by the same symmetry)."""
    M = mt.manifolds.make("sphere", ambient_dim=6, seed=4)
    g = df.time_grid(100, 0.9999, 1e-4)
    dyn = dy.oracle_tangent_dynamics(M, df.prior_noise(8, 6, SEED), g, seed=0)
    U, s, _ = dy.flow_map_svd(dyn.jacobian)
    met = dy.alignment_metrics(U, s, dyn.samples, M, alpha_out=math.sqrt(1 - g[-1]))
    assert np.all(met["intrinsic_dim"] == 2)
    assert met["sin_theta_max"].max() < 1e-10
    assert np.all(met["spectral_gap"] > 2.0)


@pytest.mark.slow
def test_spectral_gap_grows_like_log_sigma_ratio():
    """vMF mixture on S^2 in R^4 (non-uniform, no exact symmetry): the median spectral gap grows
    like log(sigma_0/sigma_min) (slope 1; measured 0.99) and the tangent error sin theta_max of
    the top-2 SVD vectors shrinks like sigma_min (log-log slope 1; measured 1.0)."""
    M = mt.manifolds.make("vmf_mixture", k=2, ambient_dim=4, seed=1)
    x0 = df.prior_noise(16, 4, SEED)
    logs, gaps, sins, smin = [], [], [], []
    for t_min in (1e-2, 1e-3, 1e-4, 1e-5):
        g = df.time_grid(150, 0.9999, t_min)
        dyn = dy.oracle_tangent_dynamics(M, x0, g, seed=0)
        U, s, _ = dy.flow_map_svd(dyn.jacobian)
        met = dy.alignment_metrics(U, s, dyn.samples, M, alpha_out=math.sqrt(1 - t_min))
        logs.append(0.5 * math.log(g[0] / t_min))
        gaps.append(np.median(met["spectral_gap"]))
        sins.append(np.median(met["sin_theta_max"]))
        smin.append(math.sqrt(t_min))
    assert 0.8 < linregress(logs, gaps).slope < 1.2, gaps
    assert 0.8 < linregress(np.log(smin), np.log(sins)).slope < 1.2, sins


# --------------------------------------------------------------------------- robustness of support
@pytest.mark.parametrize("name, kw, D", [("circle", {}, 10), ("vmf_mixture", {"k": 2}, 4)])
def test_score_errors_stay_on_support_denoiser_errors_do_not(name, kw, D):
    """Same noise, same smooth field chi, same eps: score injection moves samples along M (small
    normal/tangent ratio, distance to M unchanged), denoiser injection (negative control) pushes
    them off M. At large eps the flat normal/tangent split also picks up the curvature of long
    tangent moves (chord term ~ kappa |P_T dx|^2 / 2), so the support criterion there is the change
    of the distance to M. Also linear response: the score-run displacement scales like eps."""
    M = mt.manifolds.make(name, ambient_dim=D, seed=1, **kw)
    eps = (1e-4, 1e-3, 1e-2, 1e-1)
    rows = dy.support_robustness(M, eps=eps, n=96, n_steps=40, seed=SEED % 1000)
    assert set(rows.columns) >= {"experiment", "manifold", "d", "D", "seed", "sigma_min", "eps",
                                 "site", "quantity", "value"}
    assert np.all(np.isfinite(rows["value"]))
    v = rows.set_index(["site", "eps", "quantity"])["value"]
    for e in eps:
        assert v["denoiser", e, "normal_displacement"] > v["score", e, "normal_displacement"]
        assert v["score", e, "abs_delta_distance"] < 0.2 * v["denoiser", e, "abs_delta_distance"]
    # linear-response regime: strong contrast, and the score-induced displacement is linear in eps
    for e in (1e-4, 1e-3, 1e-2):
        assert v["score", e, "normal_tangent_ratio"] < v["denoiser", e, "normal_tangent_ratio"]
    for e in (1e-4, 1e-3):
        assert v["denoiser", e, "normal_displacement"] > 5 * v["score", e, "normal_displacement"]
        assert v["score", e, "normal_tangent_ratio"] < 0.1
    r = v["score", 1e-3, "tangent_displacement"] / v["score", 1e-4, "tangent_displacement"]
    assert 9.5 < r < 10.5, r


def test_perturbed_denoiser_sites():
    """Score site: x0 + (sigma^2/alpha) eps chi (Tweedie); denoiser site: x0 + eps chi."""
    field = dy.SmoothErrorField(3, seed=0)
    base = lambda x, t: 0.5 * x  # noqa: E731
    x = np.random.default_rng(0).standard_normal((5, 3))
    t = 0.36
    sc = dy.PerturbedDenoiser(base, field, 0.1, "score")(x, t)
    dn = dy.PerturbedDenoiser(base, field, 0.1, "denoiser")(x, t)
    a, s = 0.8, 0.6
    score_base = (a * base(x, t) - x) / s**2
    np.testing.assert_allclose((a * sc - x) / s**2, score_base + 0.1 * field(x), rtol=1e-12)
    np.testing.assert_allclose(dn, base(x, t) + 0.1 * field(x), rtol=1e-12)
    # normalisation: over the random draw of the field, E|chi(x)|^2 = (2/F) F E[cos^2] = 1 at
    # every x (Monte Carlo over 400 field seeds at 3 fixed points, within 5 SE)
    xs = np.random.default_rng(1).standard_normal((3, 6)) * 3
    vals = np.array([np.sum(dy.SmoothErrorField(6, seed=k, n_features=8)(xs) ** 2, 1)
                     for k in range(400)])
    se = vals.std(axis=0, ddof=1) / math.sqrt(400)
    assert np.all(np.abs(vals.mean(0) - 1) < 5 * se), (vals.mean(0), se)
    with pytest.raises(ValueError, match="site"):
        dy.PerturbedDenoiser(base, field, 0.1, "drift")
    with pytest.raises(ValueError, match="eps"):
        dy.PerturbedDenoiser(base, field, -1, "score")


# --------------------------------------------------------------------------- learned dynamics
@pytest.fixture(scope="module")
def learned():
    M = mt.manifolds.make("circle", ambient_dim=3, seed=0)
    net = df.train_score_network(M.sample(512, SEED), steps=150, batch_size=128, width=32,
                                 depth=2, dtype="float64", seed=0)
    return M, net, df.time_grid(12, 0.99, 1e-2), df.prior_noise(5, 3, SEED)


def test_learned_flow_jacobian_matches_finite_differences(learned):
    M, net, g, x0 = learned
    dyn = dy.learned_tangent_dynamics(net, x0, g, d=1, seed=0)
    flow = dy.learned_flow_map(net, g)
    h = 1e-6

    def f(y):
        with torch.no_grad():
            return flow(torch.as_tensor(y, dtype=torch.float64)).numpy()

    Jfd = np.stack([(f(x0 + h * e) - f(x0 - h * e)) / (2 * h) for e in np.eye(3)], axis=2)
    assert np.abs(dyn.jacobian - Jfd).max() < 1e-6 * np.abs(Jfd).max()
    np.testing.assert_allclose(dyn.samples, f(x0), rtol=1e-12)
    _, logdet = np.linalg.slogdet(dyn.jacobian)
    dyn3 = dy.learned_tangent_dynamics(net, x0, g, d=1, k=3, seed=0, full=False)
    np.testing.assert_allclose(dyn3.log_r.sum(axis=(0, 2)), logdet, rtol=1e-8)


def test_subspace_iteration_matches_dense_svd(learned):
    M, net, g, x0 = learned
    out_f, Uf, sf, _ = dy.learned_flow_map_svd(net, x0, g, method="full")
    out_s, Us, ss, _ = dy.learned_flow_map_svd(net, x0, g, k=2, method="subspace", n_iter=25)
    np.testing.assert_allclose(out_f, out_s)
    np.testing.assert_allclose(ss, sf[:, :2], rtol=1e-6)
    # the top-2 left singular subspaces agree (s_3 / s_2 ~ 0.5 here: error ~0.5^50)
    assert np.all(sf[:, 2] / sf[:, 1] < 0.7)
    assert mt.metrics.sin_theta_max(Uf[:, :, :2], Us).max() < 1e-6


# --------------------------------------------------------------------------- one-step generators
def test_one_step_alignment_of_exact_generator():
    """h* of the circle in R^5 maps onto the circle: J_G is tangent, sin theta = 0 to round-off."""
    M = mt.manifolds.make("circle", ambient_dim=5, seed=2)
    G = lambda z: M.generator(z)  # noqa: E731  (torch-generic exact generator)
    z = np.random.default_rng(SEED).standard_normal((20, 1))
    res = dy.one_step_alignment(G, z, M, score_sigma=0.05)
    assert res["sin_theta_max"].max() < 1e-10
    assert res["score_tangent_rel"].max() < 1e-8
    np.testing.assert_allclose(M.distance(res["x"]), 0, atol=1e-12)


class _OnCircle(torch.nn.Module):
    """G(z) = h*(a z + b): every parameter perturbation moves points along the circle."""

    def __init__(self, M):
        super().__init__()
        self.M = M
        self.a = torch.nn.Parameter(torch.tensor([0.7], dtype=torch.float64))
        self.b = torch.nn.Parameter(torch.tensor([0.1], dtype=torch.float64))

    def forward(self, z):
        return self.M.generator(self.a * z + self.b)


def test_parameter_displacement_split():
    M = mt.manifolds.make("circle", ambient_dim=4, seed=5)
    z = np.random.default_rng(SEED).standard_normal((16, 1))
    on = dy.parameter_displacement(_OnCircle(M), z, M, n_draws=4, seed=0)
    assert on["ratio_of_means"] < 1e-10
    torch.manual_seed(0)
    free = MLP(1, 4, width=16, depth=2, dtype="float64")
    off = dy.parameter_displacement(free, z, M, n_draws=4, seed=0)
    assert off["ratio_of_means"] > 0.3  # generic network: normal parts are O(1)
    with pytest.raises(TypeError, match="Module"):
        dy.parameter_displacement(lambda z: z, z, M)


def test_alignment_table_rows():
    M = mt.manifolds.make("circle", ambient_dim=6, seed=0)
    rows = dy.alignment_table(M, n=6, n_steps=60)
    v = rows.set_index("quantity")["value"]
    assert v["sin_theta_max_svd"] < 1e-10
    assert v["intrinsic_dim"] == 1
    assert v["lyapunov_svd_min"] == pytest.approx(-1.0, abs=1e-10)  # normal: exactly like sigma
    assert list(rows.columns[:6]) == ["experiment", "manifold", "d", "D", "seed", "sigma_min"]


def test_dynamics_rejects_bad_arguments():
    M = mt.manifolds.make("circle", ambient_dim=3)
    with pytest.raises(ValueError, match="k"):
        dy.oracle_tangent_dynamics(M, np.zeros((2, 3)) + 1, df.time_grid(3), k=4)
    with pytest.raises(ValueError, match="eps"):
        dy.support_robustness(M, eps=(0.0,))
    with pytest.raises(ValueError, match="sites"):
        dy.support_robustness(M, sites=("drift",))
    with pytest.raises(ValueError, match="normalize"):
        dy.lyapunov_exponents(np.zeros((3, 1, 1)), df.time_grid(3), "hours")
    with pytest.raises(ValueError, match="s must"):
        dy.estimate_intrinsic_dim(np.ones((2, 1)))
