"""Diffusion samplers, learned score network and flow matching (magt_theory.models.diffusion,
magt_theory.models.flow_matching).

Independent references used here: the exact probability-flow solution for Gaussian data
(``x_t / sqrt(alpha_t^2 c^2 + sigma_t^2)`` is constant along the flow), the two-sample W2 noise
floor, high-NFE runs from the same noise, self-normalised Monte Carlo for the oracle velocity, and
the Bayes optimality of the posterior mean for the DSM / CFM losses.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import linregress

import magt_theory as mt
from magt_theory.models import diffusion as df
from magt_theory.models import flow_matching as fm
from magt_theory.models.integrators import SOLVERS

SEED = 20240611
torch.set_num_threads(1)


def _rms(a, b):
    return float(np.sqrt(np.mean(np.sum((a - b) ** 2, axis=1))))


@pytest.fixture(scope="module")
def vmf():
    """A non-uniform law on S^2 embedded in R^4 (no rotational symmetry to hide errors)."""
    return mt.manifolds.make("vmf_mixture", k=2, ambient_dim=4, seed=1)


class GaussianDenoiser:
    """Posterior mean of ``Y0 ~ N(0, c^2 I)``: ``E[Y0 | y] = alpha c^2 y / (alpha^2 c^2 + sigma^2)``."""

    def __init__(self, c):
        self.c = c

    def __call__(self, x, t):
        a, s = math.sqrt(1 - t), math.sqrt(t)
        return a * self.c**2 * x / (a * a * self.c**2 + s * s)

    def exact_flow(self, x_init, t0, t1):
        """Probability-flow ODE solution: ``x_t / v_t`` is constant, ``v_t^2 = alpha^2 c^2 + sigma^2``."""
        v = lambda t: math.sqrt((1 - t) * self.c**2 + t)  # noqa: E731
        return x_init * v(t1) / v(t0)


# --------------------------------------------------------------------------- grids and validation
def test_time_grid_logsnr_is_uniform_in_half_log_snr():
    g = df.time_grid(7, 0.99, 1e-3)
    assert g[0] == 0.99 and g[-1] == 1e-3 and np.all(np.diff(g) < 0)
    lam = 0.5 * np.log((1 - g) / g)  # independent formula for log(alpha/sigma)
    np.testing.assert_allclose(np.diff(lam), np.full(7, (lam[-1] - lam[0]) / 7), rtol=1e-12)
    np.testing.assert_allclose(df.time_grid(4, 0.9, 0.1, "uniform"), [0.9, 0.7, 0.5, 0.3, 0.1])


@pytest.mark.parametrize(
    "kwargs, exc, word",
    [
        ({"n_steps": 0}, ValueError, "n_steps"),
        ({"n_steps": 5, "t_max": 1.0}, ValueError, "t_max"),
        ({"n_steps": 5, "t_min": 0.0}, ValueError, "t_min"),
        ({"n_steps": 5, "spacing": "cosine"}, ValueError, "spacing"),
    ],
)
def test_time_grid_rejects_bad_arguments(kwargs, exc, word):
    with pytest.raises(exc, match=word):
        df.time_grid(**kwargs)


def test_samplers_reject_bad_inputs(vmf):
    x = df.prior_noise(4, 4, SEED)
    with pytest.raises(ValueError, match="decreasing"):
        df.ddim_sample(vmf, x, [0.1, 0.5])
    with pytest.raises(ValueError, match="x_init"):
        df.ddim_sample(vmf, np.full((4, 4), np.nan), df.time_grid(3))
    with pytest.raises(TypeError, match="denoiser"):
        df.ddim_sample(3.0, x, df.time_grid(3))
    with pytest.raises(ValueError, match="order"):
        df.dpm_solver_pp_sample(vmf, x, df.time_grid(3), order=3)
    with pytest.raises(ValueError, match="method"):
        df.sample(vmf, 4, 4, method="euler")


# --------------------------------------------------------------------------- Gaussian: exact flow
def test_ddim_and_dpm_solver_converge_to_exact_gaussian_flow_with_their_orders():
    """Global error vs steps on Gaussian data (exact PF solution known): slopes -1 (DDIM) and -2 (2M)."""
    den = GaussianDenoiser(c=0.5)
    x0 = df.prior_noise(50, 3, SEED)
    t0, t1 = 0.999, 1e-3
    exact = den.exact_flow(x0, t0, t1)
    steps = np.array([16, 32, 64, 128])
    err = {1: [], 2: []}
    for order in (1, 2):
        for n in steps:
            out = df.dpm_solver_pp_sample(den, x0, df.time_grid(n, t0, t1), order=order,
                                          denoise_final=False)
            err[order].append(_rms(out.samples, exact))
    s1 = linregress(np.log(steps), np.log(err[1])).slope
    s2 = linregress(np.log(steps), np.log(err[2])).slope
    # orders declared by the solvers (all solvers: tests/test_integrators.py)
    assert abs(s1 + SOLVERS["dpm_solver_pp1"].order) < 0.15, (s1, err[1])
    assert abs(s2 + SOLVERS["dpm_solver_pp2m"].order) < 0.3, (s2, err[2])
    # DDIM is first-order DPM-Solver++: same map
    ddim = df.ddim_sample(den, x0, df.time_grid(16, t0, t1), denoise_final=False).samples
    np.testing.assert_allclose(ddim, df.dpm_solver_pp_sample(den, x0, df.time_grid(16, t0, t1),
                                                             order=1, denoise_final=False).samples,
                               rtol=1e-12, atol=1e-14)


def test_ddpm_matches_gaussian_marginal_variance():
    """DDPM (1000 steps) from N(0,1) reaches Var = alpha^2 c^2 + sigma^2 at t_min, within 5 SE."""
    den = GaussianDenoiser(c=0.5)
    n, t1 = 20000, 0.01
    out = df.ddpm_sample(den, df.prior_noise(n, 1, SEED), df.time_grid(1000, 0.9999, t1),
                         seed=SEED + 1, denoise_final=False)
    var = float(np.var(out.samples, ddof=1))
    target = (1 - t1) * 0.25 + t1
    se = target * math.sqrt(2.0 / (n - 1))
    assert abs(var - target) < 5 * se, (var, target, se)
    assert abs(float(out.samples.mean())) < 5 * math.sqrt(target / n)


def test_ddpm_is_deterministic_given_seed(vmf):
    x = df.prior_noise(32, 4, SEED)
    g = df.time_grid(10)
    a = df.ddpm_sample(vmf, x, g, seed=5).samples
    b = df.ddpm_sample(vmf, x, g, seed=5).samples
    c = df.ddpm_sample(vmf, x, g, seed=6).samples
    assert np.array_equal(a, b)
    assert _rms(a, c) > 1e-3
    d = df.ddim_sample(vmf, x, g).samples  # the noise matters: DDPM differs from DDIM
    assert _rms(a, d) > 1e-3


def test_nfe_is_counted(vmf):
    x = df.prior_noise(8, 4, SEED)
    den = df.OracleDenoiser(vmf)
    out = df.ddim_sample(den, x, df.time_grid(12), denoise_final=True)
    assert out.nfe == 13 == den.calls
    assert out.grid[-1] == 0.0 and out.grid.size == 14
    assert df.ddim_sample(vmf, x, df.time_grid(12), denoise_final=False).nfe == 12


# --------------------------------------------------------------------------- oracle diffusion
@pytest.fixture(scope="module")
def vmf_floor(vmf):
    """Two-sample W2 noise floor at n = 500: mean and sd over 30 independent pairs."""
    return mt.metrics.noise_floor(vmf.sample, 500, SEED + 7, repeats=30)


def test_oracle_ddim_reproduces_manifold_law_at_noise_floor(vmf, vmf_floor):
    """With 200 steps W2(generated_n, reference_n) is a draw from the floor law if the sampler is
    exact; accept <= mean + 4 sd of 30 floor replicates (one-sided; the replicate sd captures the
    skewed spread of the two-sample W2)."""
    n = 500
    ref = vmf.sample(n, SEED + 1)
    out = df.sample(vmf, n, 4, n_steps=200, seed=SEED)
    w2 = mt.metrics.wasserstein(out.samples, ref)
    tol = vmf_floor.mean + 4 * vmf_floor.std
    assert w2 < tol, (w2, vmf_floor.mean, vmf_floor.std)
    assert mt.metrics.off_manifold_rate(out.samples, vmf) == 0.0


def test_oracle_ddim_w2_decreases_with_nfe(vmf, vmf_floor):
    """W2 vs NFE: (a) against the 400-step output from the same noise (common random numbers),
    strictly decreasing with slope about -1 (DDIM is first order); (b) against an independent
    reference sample, decreasing from far above the floor to the floor."""
    n = 500
    x0 = df.prior_noise(n, 4, SEED)
    fine = df.ddim_sample(vmf, x0, df.time_grid(400)).samples
    ref = vmf.sample(n, SEED + 1)
    steps = [4, 8, 16, 32]
    w_crn, w_ref = [], []
    for s in steps:
        out = df.ddim_sample(vmf, x0, df.time_grid(s)).samples
        w_crn.append(mt.metrics.wasserstein(out, fine))
        w_ref.append(mt.metrics.wasserstein(out, ref))
    assert np.all(np.diff(w_crn) < 0), w_crn
    slope = linregress(np.log(steps), np.log(w_crn)).slope
    assert -1.3 < slope < -0.7, (slope, w_crn)  # measured -0.9
    w1 = mt.metrics.wasserstein(df.ddim_sample(vmf, x0, df.time_grid(1)).samples, ref)
    assert w1 > vmf_floor.mean + 4 * vmf_floor.std  # the test has power: one step is far off
    assert w1 > w_ref[0] > w_ref[-1]
    assert w_ref[-1] < vmf_floor.mean + 4 * vmf_floor.std


def test_dpm_solver_pp2_beats_pp1_at_equal_nfe(vmf):
    """Against a 1000-step DPM-Solver++(2M) run from the same noise (its own error < 1e-4)."""
    x0 = df.prior_noise(48, 4, SEED)
    ref = df.dpm_solver_pp_sample(vmf, x0, df.time_grid(1000), order=2).samples
    for n in (10, 20, 40):
        g = df.time_grid(n)
        e1 = _rms(df.dpm_solver_pp_sample(vmf, x0, g, order=1).samples, ref)
        e2 = _rms(df.dpm_solver_pp_sample(vmf, x0, g, order=2).samples, ref)
        assert e2 < 0.75 * e1, (n, e1, e2)


@pytest.mark.slow
def test_oracle_ddpm_reproduces_manifold_law(vmf, vmf_floor):
    """Stochastic sampler (300 steps): mean W2 over 4 seeds within 4 sd/2 of the floor mean."""
    n = 500
    w = []
    for k in range(4):
        out = df.sample(vmf, n, 4, method="ddpm", n_steps=300, seed=SEED + 10 * k)
        w.append(mt.metrics.wasserstein(out.samples, vmf.sample(n, SEED + 100 + k)))
    assert np.mean(w) < vmf_floor.mean + 4 * vmf_floor.std / 2, (w, vmf_floor.mean)


# --------------------------------------------------------------------------- learned score network
@pytest.fixture(scope="module")
def tiny_net():
    M = mt.manifolds.make("circle", ambient_dim=2)
    data = M.sample(512, SEED)
    net = df.train_score_network(data, steps=300, batch_size=128, width=32, depth=2, seed=0)
    return M, net


def test_score_network_trains_without_nan(tiny_net):
    M, net = tiny_net
    losses = np.asarray(net.train_losses_)
    assert losses.size == 300 and np.all(np.isfinite(losses))
    assert losses[-50:].mean() < losses[:50].mean()
    out = df.sample(net, 64, 2, n_steps=20, seed=SEED)
    assert np.all(np.isfinite(out.samples)) and out.nfe == 21


def test_score_network_numpy_and_torch_paths_agree(tiny_net):
    _, net = tiny_net
    x = df.prior_noise(16, 2, SEED)
    a = net.denoise(x, 0.3)
    with torch.no_grad():
        b = net.x0(torch.as_tensor(x, dtype=torch.float32), 0.3).double().numpy()
    np.testing.assert_allclose(a, b, rtol=1e-6)
    s = net.score(x, 0.3)  # Tweedie
    np.testing.assert_allclose(s, (math.sqrt(0.7) * a - x) / 0.3, rtol=1e-10)


def test_oracle_denoiser_is_bayes_optimal_for_dsm(tiny_net):
    """The posterior mean minimises the DSM loss: learned - oracle >= -5 SE (paired, same noise)."""
    M, net = tiny_net
    rng = np.random.default_rng(SEED)
    y0 = M.sample(4000, rng)
    z = rng.standard_normal(y0.shape)
    for t in (0.05, 0.3, 0.8):
        a, s = math.sqrt(1 - t), math.sqrt(t)
        y = a * y0 + s * z
        loss_oracle = np.sum((M.posterior_mean(y, s, a) - y0) ** 2, 1)
        diff = np.sum((net.denoise(y, t) - y0) ** 2, 1) - loss_oracle
        se = diff.std(ddof=1) / math.sqrt(diff.size)
        assert diff.mean() > -5 * se, (t, diff.mean(), se)
        lo, _ = df.dsm_loss(df.OracleDenoiser(M), y0, t, z)
        assert lo == pytest.approx(np.mean(np.sum((M.posterior_mean(y, s, a) - y0) ** 2, 1)))


def test_train_score_network_rejects_bad_arguments():
    with pytest.raises(ValueError, match="t_min"):
        df.train_score_network(np.zeros((4, 2)), t_min=0.0)
    with pytest.raises(ValueError, match="steps"):
        df.train_score_network(np.zeros((4, 2)), steps=0)
    with pytest.raises(ValueError, match="data"):
        df.train_score_network(np.full((4, 2), np.inf))


# --------------------------------------------------------------------------- flow matching
def test_oracle_velocity_matches_self_normalised_monte_carlo(vmf):
    """E[X1 | s X1 + (1-s) Z = x] by SNIS over 4e5 manifold samples, within 5 SE per coordinate."""
    rng = np.random.default_rng(SEED)
    s = 0.6
    x = s * vmf.sample(3, rng) + (1 - s) * rng.standard_normal((3, 4))
    v = fm.oracle_velocity(vmf, x, s)
    X1 = vmf.sample(400_000, rng)
    for i in range(3):
        logw = -np.sum((x[i] - s * X1) ** 2, 1) / (2 * (1 - s) ** 2)
        w = np.exp(logw - logw.max())
        w /= w.sum()
        m = w @ X1
        se = np.sqrt((w**2) @ (X1 - m) ** 2)  # delta-method SE of the SNIS mean
        v_mc = (m - x[i]) / (1 - s)
        assert np.all(np.abs(v[i] - v_mc) < 5 * se / (1 - s) + 1e-12), (v[i], v_mc, se)


def test_flow_matching_midpoint_beats_euler_at_equal_nfe(vmf):
    x0 = df.prior_noise(40, 4, SEED)
    ref = fm.integrate(vmf, x0, fm.s_grid(400), method="midpoint").samples
    for n_mid in (10, 20):
        mid = fm.integrate(vmf, x0, fm.s_grid(n_mid), method="midpoint")
        eul = fm.integrate(vmf, x0, fm.s_grid(2 * n_mid), method="euler")
        assert mid.nfe == eul.nfe == 2 * n_mid
        assert _rms(mid.samples, ref) < 0.75 * _rms(eul.samples, ref)


def test_oracle_flow_matching_reproduces_manifold_law(vmf, vmf_floor):
    n = 500
    out = fm.sample(vmf, n, 4, n_steps=50, seed=SEED)
    w2 = mt.metrics.wasserstein(out.samples, vmf.sample(n, SEED + 1))
    assert w2 < vmf_floor.mean + 4 * vmf_floor.std, (w2, vmf_floor.mean)


def test_learned_flow_matching_trains_and_respects_bayes_risk():
    M = mt.manifolds.make("circle", ambient_dim=2)
    net = fm.train_flow_matching(M.sample(512, SEED), steps=300, batch_size=128, width=32,
                                 depth=2, seed=0)
    losses = np.asarray(net.train_losses_)
    assert np.all(np.isfinite(losses)) and losses[-50:].mean() < losses[:50].mean()
    out = fm.sample(net, 64, 2, n_steps=10, method="euler", seed=SEED)
    assert np.all(np.isfinite(out.samples)) and out.nfe == 10
    rng = np.random.default_rng(SEED)
    x1 = M.sample(4000, rng)
    z = rng.standard_normal(x1.shape)
    s = 0.5
    xs = (1 - s) * z + s * x1
    per_l = np.sum((net.velocity(xs, s) - (x1 - z)) ** 2, 1)
    per_o = np.sum((fm.oracle_velocity(M, xs, s) - (x1 - z)) ** 2, 1)
    diff = per_l - per_o
    assert diff.mean() > -5 * diff.std(ddof=1) / math.sqrt(diff.size)
    oracle = lambda x, s_: fm.oracle_velocity(M, x, s_)  # noqa: E731
    assert fm.cfm_loss(oracle, x1, z, s)[0] == pytest.approx(per_o.mean())


def test_flow_matching_rejects_bad_arguments(vmf):
    with pytest.raises(ValueError, match="s must"):
        fm.oracle_velocity(vmf, np.zeros((2, 4)), 1.0)
    with pytest.raises(ValueError, match="method"):
        fm.integrate(vmf, np.zeros((2, 4)), fm.s_grid(3), method="rk4")
    with pytest.raises(ValueError, match="grid"):
        fm.integrate(vmf, np.zeros((2, 4)), [0.5, 0.2])
