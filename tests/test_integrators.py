"""Every solver of models.integrators converges with the order it declares (diffrax-style).

Exact flows (Gaussian data, so the flow maps are affine and known in closed form):

* velocity family: the linear non-autonomous ODE ``x' = -2 x + m cos s``, whose flow is
  ``x(T) = e^{-2T} z + m (2 cos T + sin T - 2 e^{-2T}) / 5``. (The Gaussian Foellmer flow of
  ``tests/test_generators.py`` is not used for the order: on it the leading error term of the
  midpoint rule integrates to zero and the measured slope is 3.0, not the generic 2);
* denoiser family: VP data ``Y_0 ~ N(m, c^2 I)``; the posterior mean is
  ``D(x, t) = m + alpha c^2 (x - alpha m) / (alpha^2 c^2 + sigma^2)`` and the probability-flow
  map is ``x_t = alpha_t m + q_t (x_{t0} - alpha_{t0} m) / q_{t0}``, ``q_t^2 = alpha_t^2 c^2 +
  sigma_t^2``.

The global error at the end point is fitted against the step size ``h`` on a geometric grid of
step counts; the slope of ``log error`` against ``log h`` must lie within ``ORDER_BAND`` of the
declared order (band chosen before measuring: the asymptotic slope of an order-p method is p,
pre-asymptotic curvature at these step counts is a few hundredths).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import linregress

from magt_theory.models import diffusion as df
from magt_theory.models import integrators as it

SEED = 20240611
ORDER_BAND = 0.2
STEPS = np.array([16, 32, 64, 128, 256])
C, M = 0.5, np.array([0.7, -0.3, 0.2])
DETERMINISTIC = [name for name, s in it.SOLVERS.items() if s.order is not None]


def _rms(a, b):
    return float(np.sqrt(np.mean(np.sum((a - b) ** 2, axis=1))))


def _velocity(x, s):
    return -2.0 * x + M * math.cos(s)


def _exact_linear(z, T):
    return math.exp(-2 * T) * z + M * (2 * math.cos(T) + math.sin(T) - 2 * math.exp(-2 * T)) / 5


def _denoiser(x, t):
    alpha, sigma = math.sqrt(1 - t), math.sqrt(t)
    return M + alpha * C * C * (x - alpha * M) / (alpha**2 * C * C + sigma**2)


def _exact_vp(x, t0, t1):
    q = lambda t: math.sqrt((1 - t) * C * C + t)  # noqa: E731
    return math.sqrt(1 - t1) * M + q(t1) * (x - math.sqrt(1 - t0) * M) / q(t0)


def _errors(name):
    solver = it.SOLVERS[name]
    z = np.random.default_rng(SEED).standard_normal((32, 3))
    errs, hs = [], []
    for n in STEPS:
        if solver.family == "velocity":
            T = 0.9
            grid = np.linspace(0.0, T, n + 1)
            out = it.integrate(_velocity, z, grid, name)
            exact = _exact_linear(z, T)
            hs.append(T / n)
        else:
            t0, t1 = 0.999, 1e-3
            grid = df.time_grid(n, t0, t1)
            out = it.integrate(_denoiser, z, grid, name)
            exact = _exact_vp(z, t0, t1)
            hs.append((it.half_log_snr(t1) - it.half_log_snr(t0)) / n)
        assert out[1] == solver.nfe_per_step * n
        errs.append(_rms(out[0], exact))
    return np.array(hs), np.array(errs)


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_measured_order_matches_declared_order(name):
    hs, errs = _errors(name)
    assert np.all(np.diff(errs) < 0), errs
    slope = linregress(np.log(hs), np.log(errs)).slope
    assert abs(slope - it.SOLVERS[name].order) < ORDER_BAND, (name, slope, errs)


def test_every_family_has_a_first_and_a_second_order_solver():
    orders = {(s.family, s.order) for s in it.SOLVERS.values()}
    assert {("velocity", 1), ("velocity", 2), ("denoiser", 1), ("denoiser", 2)} <= orders
    assert [n for n, s in it.SOLVERS.items() if s.order is None] == ["ddpm"]


def test_ddpm_needs_rng_and_is_reproducible():
    z = np.random.default_rng(SEED).standard_normal((8, 3))
    g = df.time_grid(5)
    with pytest.raises(ValueError, match="rng"):
        it.integrate(_denoiser, z, g, "ddpm")
    a = it.integrate(_denoiser, z, g, "ddpm", rng=np.random.default_rng(1))[0]
    b = it.integrate(_denoiser, z, g, "ddpm", rng=np.random.default_rng(1))[0]
    c = it.integrate(_denoiser, z, g, "ddpm", rng=np.random.default_rng(2))[0]
    assert np.array_equal(a, b) and not np.allclose(a, c)


def test_trajectory_nfe_and_errors():
    z = np.random.default_rng(SEED).standard_normal((4, 3))
    calls = []

    def v(x, s):
        calls.append(s)
        return _velocity(x, s)

    x, nfe, traj, _ = it.integrate(v, z, [0.0, 0.25, 0.5], "midpoint", return_trajectory=True)
    assert nfe == len(calls) == 4 and len(traj) == 3
    assert traj[0] is z and np.array_equal(traj[-1], x)
    assert calls == [0.0, 0.125, 0.25, 0.375]
    with pytest.raises(ValueError, match="method"):
        it.get_solver("rk4")
    with pytest.raises(ValueError, match="method"):
        it.get_solver("ddim", "velocity")
    with pytest.raises(FloatingPointError, match="where 0"):
        it.integrate(lambda x, s: x * np.nan, z, [0.0, 1.0], "euler", where="where")
