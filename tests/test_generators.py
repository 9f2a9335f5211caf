"""Characteristic generator, W1⊕W2 proximal flow and WGAN-GP (magt_theory.models.chargen,
proximal_flow, wgan).

Independent references: Monte Carlo posterior means, the closed-form Föllmer flow of Gaussian
data (``x_s = z sqrt(s^2 c^2 + 1 - s^2)``), exact solutions of the Hamilton–Jacobi equation
(``U = lambda |x|^2 / (2 (C - t))``) and finite differences, the exact Euler solution of a
rotation, the closed-form KL between Gaussians, and elementary geometry (chords and arcs).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import linregress

import magt_theory as mt
from magt_theory.models import chargen as cg
from magt_theory.models import proximal_flow as pf
from magt_theory.models.integrators import SOLVERS
from magt_theory.models.wgan import WGANGP, WGANGPConfig, gradient_penalty

SEED = 20240612
torch.set_num_threads(1)


def _rms(a, b):
    return float(np.sqrt(np.mean(np.sum((np.asarray(a) - np.asarray(b)) ** 2, axis=1))))


@pytest.fixture(scope="module")
def circle_data():
    M = mt.manifolds.make("circle")
    return M, M.sample(300, np.random.default_rng(SEED))


# ------------------------------------------------------------------ characteristic generator
def test_velocity_matching_identity():
    """v_theta - (a' z + x1) = (m_theta - x1)/(1 - s^2) for v_theta = (m_theta - s x)/(1 - s^2)."""
    rng = np.random.default_rng(SEED)
    x1, z, m = rng.standard_normal((3, 50, 3))
    for s in (0.0, 0.3, 0.97):
        x = s * x1 + math.sqrt(1 - s * s) * z
        lhs = cg.velocity_matching_loss(cg.velocity_from_mean(m, x, s), x1, z, s)
        target = -s / math.sqrt(1 - s * s) * z + x1  # a'_s z + b'_s x1 written out
        np.testing.assert_allclose(lhs, np.sum((cg.velocity_from_mean(m, x, s) - target) ** 2, 1))
        np.testing.assert_allclose(lhs, np.sum((m - x1) ** 2, 1) / (1 - s * s) ** 2, rtol=1e-10)


@pytest.mark.parametrize("jitter", [0.0, 0.2])
def test_oracle_posterior_mean_matches_monte_carlo(jitter):
    """E[X1 | s X1 + a Z = x] by self-normalised importance sampling over draws of X1."""
    M = mt.manifolds.make("circle")
    rng = np.random.default_rng(SEED)
    s = 0.6
    a = math.sqrt(1 - s * s)
    x = np.array([[0.7, -0.2], [0.1, 0.5]])
    N, R = 20000, 20
    est = np.zeros((R, 2, 2))
    for r in range(R):
        x1 = M.sample(N, rng) + jitter * rng.standard_normal((N, 2))
        logw = -np.sum((x[:, None, :] - s * x1[None]) ** 2, -1) / (2 * a * a)
        w = np.exp(logw - logw.max(1, keepdims=True))
        w /= w.sum(1, keepdims=True)
        est[r] = w @ x1
    mc, se = est.mean(0), est.std(0, ddof=1) / math.sqrt(R)
    got = cg.oracle_posterior_mean(M, x, s, jitter)
    assert np.all(np.abs(got - mc) <= 5 * se + 1e-4), (got, mc, se)
    v = cg.oracle_velocity(M, x, s, jitter)
    np.testing.assert_allclose(v, (got - s * x) / (1 - s * s), rtol=1e-12)


def _gauss_velocity(c):
    """Exact Föllmer velocity of X1 ~ N(0, c^2 I): m = s c^2 x / (a^2 + s^2 c^2)."""
    return lambda x, s: cg.velocity_from_mean(s * c * c * x / (1 - s * s + s * s * c * c), x, s)


def test_euler_first_order_and_midpoint_second_order_on_gaussian_flow():
    c, T = 0.5, 0.9
    z = np.random.default_rng(SEED).standard_normal((64, 2))
    exact = z * math.sqrt(T * T * c * c + 1 - T * T)  # the flow map between Gaussian marginals
    Ks = np.array([8, 16, 32, 64, 128])
    e_eu = [_rms(cg.euler_rollout(_gauss_velocity(c), z, T, k), exact) for k in Ks]
    e_mid = [_rms(cg.midpoint_rollout(_gauss_velocity(c), z, T, k), exact) for k in Ks]
    # orders declared by the solvers (measured against exact flows in tests/test_integrators.py)
    assert abs(linregress(np.log(Ks), np.log(e_eu)).slope + SOLVERS["euler"].order) < 0.1
    # at least the declared order (on this flow the midpoint rule's leading term vanishes)
    assert linregress(np.log(Ks), np.log(e_mid)).slope < -SOLVERS["midpoint"].order + 0.15
    x, tr = cg.euler_rollout(_gauss_velocity(c), z, T, 4, return_trajectory=True)
    assert tr.shape == (5, 64, 2) and np.array_equal(tr[-1], x) and np.array_equal(tr[0], z)


def test_horizon_rms_matches_its_expectation():
    rng = np.random.default_rng(SEED)
    M = mt.manifolds.make("circle")
    T, R = 0.95, 30
    vals = [cg.horizon_rms(M.sample(500, rng), rng.standard_normal((500, 2)), T) ** 2
            for _ in range(R)]
    expect = (1 - T) ** 2 * 1.0 + (1 - T * T) * 2  # E|X1|^2 = 1 on the unit circle
    assert abs(np.mean(vals) - expect) < 5 * np.std(vals, ddof=1) / math.sqrt(R)


def _tiny_chargen(data, seed=0, **kw):
    cfg = dict(T=0.9, n_steps=16, width=16, depth=2, velocity_steps=40, fit_steps=40,
               batch_size=64, semigroup=0.5, seed=seed)
    cfg.update(kw)
    return cg.CharGen(cg.CharGenConfig(**cfg)).fit(data)


def test_chargen_trains_samples_and_is_deterministic(circle_data):
    M, data = circle_data
    a, b = _tiny_chargen(data), _tiny_chargen(data)
    assert np.all(np.isfinite(a.velocity_losses_)) and np.all(np.isfinite(a.fit_losses_))
    x = a.sample(37, seed=3)
    assert x.shape == (37, 2) and x.dtype == np.float64 and np.all(np.isfinite(x))
    np.testing.assert_array_equal(x, b.sample(37, seed=3))
    assert not np.array_equal(x, _tiny_chargen(data, seed=1).sample(37, seed=3))
    z = np.random.default_rng(SEED).standard_normal((10, 2))
    np.testing.assert_allclose(a.transport(z, t=0.4, s=0.4), z, atol=1e-6)  # g(t, t, x) = x
    dec = cg.error_decomposition(a, M, n=64, seed=1, n_ref_steps=64)
    terms = ("velocity", "euler", "fitting", "horizon")
    assert all(dec[k] >= 0 and np.isfinite(dec[k]) for k in terms)
    assert dec["sum"] == pytest.approx(sum(dec[k] for k in terms))
    assert cg.semigroup_defect(a, n=64) >= 0


def test_semigroup_defect_zero_for_a_flow_and_positive_otherwise(circle_data):
    _, data = circle_data
    model = _tiny_chargen(data)

    class Exact(torch.nn.Module):  # g(t, s, x) = x e^{-(s - t)}: a flow (semigroup)
        dtype = torch.float32

        def forward(self, t, s, x):
            return x * torch.exp(-(torch.as_tensor(s) - torch.as_tensor(t)))[..., None]

    class Broken(Exact):  # g(t, s, x) = x + (s - t)^2: defect 2 (u - t)(s - u) per coordinate
        def forward(self, t, s, x):
            return x + ((torch.as_tensor(s) - torch.as_tensor(t)) ** 2)[..., None]

    model.map_ = Exact()
    assert cg.semigroup_defect(model, n=200) < 1e-6
    model.map_ = Broken()
    assert cg.semigroup_defect(model, n=200) > 1e-3


def test_chargen_validation():
    with pytest.raises(ValueError, match="T"):
        cg.CharGenConfig(T=1.0)
    with pytest.raises(ValueError, match="p_endpoint"):
        cg.CharGenConfig(p_endpoint=1.5)
    with pytest.raises(ValueError, match="s must lie"):
        cg.follmer_coefficients(1.0)
    with pytest.raises(RuntimeError, match="not fitted"):
        cg.CharGen().sample(3)


# ------------------------------------------------------------------ W1+W2 proximal flow
def _hj_exact(lam, C, sign=-1.0):
    """U = lambda |x|^2 / (2 (C + sign t)): solves -U_t + |grad U|^2/(2 lambda) = 0 for sign=-1."""
    return lambda x, t: lam * (x * x).sum(1) / (2 * (C + sign * t))


def test_hj_residual_sign_on_exact_solution():
    lam, C, t = 0.3, 2.0, 0.7
    x = torch.as_tensor(np.random.default_rng(SEED).standard_normal((20, 3)))
    r = pf.hj_residual(_hj_exact(lam, C), x, t, lam)
    assert np.max(np.abs(r)) < 1e-12
    # the opposite-sign equation's solution leaves the closed-form residual lam |x|^2 / (C+t)^2
    r_wrong = pf.hj_residual(_hj_exact(lam, C, +1.0), x, t, lam)
    np.testing.assert_allclose(r_wrong, lam * (x * x).sum(1).numpy() / (C + t) ** 2, rtol=1e-12)


def test_hj_residual_matches_finite_differences():
    lam, t, eps = 0.5, 0.4, 1e-5

    def U(x, tt):
        return torch.sin(x[:, 0]) * tt + x[:, 1] ** 2 * torch.exp(-tt) + x[:, 0] * x[:, 1]

    x = np.random.default_rng(SEED).standard_normal((7, 2))
    def Un(xx, tt):
        return U(torch.as_tensor(xx), torch.full((len(xx),), tt, dtype=torch.float64)).numpy()

    ut = (Un(x, t + eps) - Un(x, t - eps)) / (2 * eps)
    gx = np.stack([(Un(x + eps * e, t) - Un(x - eps * e, t)) / (2 * eps) for e in np.eye(2)], 1)
    np.testing.assert_allclose(pf.hj_residual(U, x, t, lam),
                               -ut + (gx**2).sum(1) / (2 * lam), atol=1e-7)


def test_step_size_invariance_really_changes_the_step():
    T, K = 1.0, 5
    z = torch.as_tensor(np.random.default_rng(SEED).standard_normal((30, 2)))
    lam, C = 0.2, 2.0

    def straight(x, t):  # v = -grad U / lambda for the exact HJ solution: straight lines
        return -x / (C - t)

    res = pf.step_size_invariance(straight, z, T, K)
    assert res["n_steps"] == [5, 10, 20]
    np.testing.assert_allclose(res["h"], [0.2, 0.1, 0.05])
    assert max(res["rms_to_finest"]) < 1e-12  # Euler is exact on straight characteristics
    np.testing.assert_allclose(res["samples"][0], z.numpy() * (C - T) / C, rtol=1e-12)
    A = torch.tensor([[0.0, -2.0], [2.0, 0.0]], dtype=torch.float64)
    rot = pf.step_size_invariance(lambda x, t: x @ A.T, z, T, K)
    # Euler on a rotation: x_K = (I + hA)^K z, computed independently with numpy
    for k, xs in zip(rot["n_steps"], rot["samples"]):
        P = np.linalg.matrix_power(np.eye(2) + (T / k) * A.numpy(), k)
        np.testing.assert_allclose(xs, z.numpy() @ P.T, rtol=1e-10)
    e_h, e_h2, e_h4 = rot["rms_to_finest"]
    assert e_h4 == 0 and e_h > e_h2 > 0.1 * e_h


def test_trajectory_diagnostics_closed_forms():
    T, K = 2.0, 50
    t = np.linspace(0, T, K + 1)
    v = np.array([0.3, -0.4])
    line = (t[:, None] * v)[:, None, :]  # one particle, constant velocity |v| = 0.5
    assert pf.straightness(line)[0] == pytest.approx(1.0)
    assert pf.kinetic_energy(line, T) == pytest.approx(0.25 * T / 2)
    assert pf.max_speed(line, T) == pytest.approx(0.5)
    ang = np.linspace(0, np.pi, 4001)
    half = np.stack([np.cos(ang), np.sin(ang)], 1)[:, None, :]  # chord 2, arc pi
    assert pf.straightness(half)[0] == pytest.approx(2 / np.pi, rel=1e-6)


def test_dv_divergence_estimates_gaussian_kl():
    rng = np.random.default_rng(SEED)
    mu, n, R = 0.8, 20000, 10
    vals = []
    for _ in range(R):
        p = torch.as_tensor(rng.normal(mu, 1, n))
        q = torch.as_tensor(rng.normal(0, 1, n))
        phi = lambda x: mu * x - mu * mu / 2  # noqa: E731  log dP/dQ
        vals.append(float(pf.dv_divergence(phi(p), phi(q))))
    assert abs(np.mean(vals) - mu * mu / 2) < 5 * np.std(vals, ddof=1) / math.sqrt(R) + 1e-3


def test_gradient_penalties_on_linear_critics():
    x = torch.randn(40, 3, dtype=torch.float64)
    y = torch.randn(40, 3, dtype=torch.float64)
    for norm, one_sided, two_sided in ((2.0, 1.0, 1.0), (0.5, 0.0, 0.25)):
        w = torch.tensor([norm, 0.0, 0.0], dtype=torch.float64)
        crit = lambda v: v @ w  # noqa: E731
        assert float(pf.one_sided_gradient_penalty(crit, x, y, 1.0)) == pytest.approx(one_sided)
        assert float(gradient_penalty(lambda v: (v @ w)[:, None], x, y)) == pytest.approx(
            two_sided)


@pytest.mark.parametrize("variant", ["w1w2", "w1", "w2"])
def test_proximal_flow_trains_samples_and_is_deterministic(circle_data, variant):
    _, data = circle_data
    cfg = pf.ProximalFlowConfig(variant=variant, width=16, depth=2, steps=15, n_steps=4,
                                batch_size=64, log_every=5)
    a = pf.ProximalFlow(cfg).fit(data)
    b = pf.ProximalFlow(cfg).fit(data)
    assert not a.diverged_ and np.all(np.isfinite(a.history_.to_numpy()))
    x = a.sample(25, seed=2)
    assert x.shape == (25, 2) and np.all(np.isfinite(x))
    np.testing.assert_array_equal(x, b.sample(25, seed=2))
    assert a.trajectory(25, seed=2, n_steps=8).shape == (9, 25, 2)
    diag = a.diagnostics(data[:50], n=30)
    assert all(np.isfinite(v) for v in diag.values())
    assert diag["speed_bound"] == pytest.approx(cfg.L / cfg.lam)
    assert diag["kinetic_bound"] == pytest.approx(cfg.T * cfg.L**2 / (2 * cfg.lam**2))


def test_proximal_flow_validation():
    with pytest.raises(ValueError, match="variant"):
        pf.ProximalFlowConfig(variant="w3")
    with pytest.raises(ValueError, match="activation"):
        pf.ProximalFlowConfig(activation="relu")
    with pytest.raises(ValueError, match="lam"):
        pf.ProximalFlowConfig(lam=0)


# ------------------------------------------------------------------ WGAN-GP
def test_wgan_gp_protocol_defaults_train_and_determinism(circle_data):
    cfg = WGANGPConfig()
    assert (cfg.critic_steps, cfg.gp_weight, cfg.lr, cfg.betas) == (5, 10.0, 1e-4, (0.5, 0.999))
    _, data = circle_data
    small = WGANGPConfig(width=16, depth=2, steps=10, batch_size=32)
    a, b = WGANGP(small).fit(data), WGANGP(small).fit(data)
    assert np.all(np.isfinite(a.history_["critic_loss"]))
    x = a.sample(11, seed=4)
    assert x.shape == (11, 2) and np.all(np.isfinite(x))
    np.testing.assert_array_equal(x, b.sample(11, seed=4))
    with pytest.raises(ValueError, match="betas"):
        WGANGPConfig(betas=(0.5, 1.0))
