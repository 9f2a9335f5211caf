"""Every ODE/SDE rollout of the generators, one loop, solvers that declare their order.

Two families of solvers share :func:`integrate`:

* **velocity** solvers integrate ``dx/ds = v(x, s)`` on any strictly monotone grid ``s_0, ...,
  s_N`` (flow matching, the characteristic generator [CharGen], the W1+W2 flow [W1W2]):

  - ``euler`` (order 1, 1 NFE/step): ``x' = x + h v(x, s)``, ``h = s_{k+1} - s_k``;
  - ``midpoint`` (order 2, 2 NFE/step): ``x' = x + h v(x + (h/2) v(x, s), s + h/2)``.

* **denoiser** solvers integrate the VP probability-flow ODE (or its ancestral SDE) driven by a
  data prediction ``D(x, t) = E[Y_0 | Y_t = x]`` on a strictly decreasing grid in ``(0, 1)``, with
  ``alpha_t = sqrt(1 - t)``, ``sigma_t = sqrt(t)``, ``lambda_t = log(alpha_t / sigma_t)``
  [MAGT]; one NFE per step:

  - ``ddim`` (order 1): ``x' = (sigma'/sigma) x + (alpha' - (sigma'/sigma) alpha) D``
    (first-order exponential integrator);
  - ``dpm_solver_pp1`` (order 1): DPM-Solver++(1), the same map as ``ddim`` written as
    ``x' = (sigma'/sigma) x - alpha' (e^{-h} - 1) D`` (equal up to round-off);
  - ``dpm_solver_pp2m`` (order 2): ``x' = (sigma'/sigma) x - alpha' (e^{-h} - 1) D~``,
    ``D~ = (1 + 1/(2r)) D_i - (1/(2r)) D_{i-1}``, ``h = lambda' - lambda``, ``r = h_{i-1}/h``
    (Lu et al. 2022; the first step is DDIM);
  - ``ddpm`` (stochastic, ``order = None``): the exact Gaussian posterior
    ``q(x_{t'} | x_t, x_0 = D)`` with noises drawn in order from ``rng``.

``order`` is the global order of accuracy in the step size (error ``O(h^order)``) of a
deterministic solver on a smooth flow; ``tests/test_integrators.py`` measures it against exact
flows (Gaussian data, where the flow map is linear and known) on a geometric grid of step counts.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import _xp, smoothing
from .._validation import check_int

__all__ = ["Solver", "SOLVERS", "get_solver", "integrate", "check_finite_state", "half_log_snr",
           "vp_alpha_sigma", "time_grid", "check_vp_grid"]


def half_log_snr(t: float) -> float:
    """``lambda_t = log(alpha_t / sigma_t) = 0.5 log((1 - t) / t)`` on the VP schedule."""
    return 0.5 * math.log((1.0 - t) / t)


# ------------------------------------------------------------------------- VP time grids
def vp_alpha_sigma(t) -> tuple[float, float]:
    """``(alpha_t, sigma_t) = (sqrt(1 - t), sqrt(t))`` for a scalar ``t`` in ``[0, 1)``.

    Unlike :func:`magt_theory.smoothing.vp` this accepts ``t = 0`` (``alpha = 1, sigma = 0``), the
    end point of the final denoising step.
    """
    return smoothing.vp(float(t), allow_zero=True)


def time_grid(n_steps: int, t_max: float = 0.9999, t_min: float = 1e-4, spacing: str = "logsnr"):
    """Strictly decreasing time grid ``t_0 = t_max > ... > t_N = t_min`` with ``N = n_steps``.

    Parameters
    ----------
    n_steps : int
        Number of steps ``N >= 1`` (one denoiser evaluation each).
    t_max, t_min : float
        End points, ``0 < t_min < t_max < 1``.
    spacing : {"logsnr", "uniform", "log"}
        ``"logsnr"``: uniform in ``lambda_t = log(alpha_t/sigma_t)`` (the natural clock of the
        exponential integrators, DPM-Solver); ``"uniform"``: uniform in ``t``; ``"log"``: uniform
        in ``log t``.

    Returns
    -------
    (N + 1,) ndarray, float64
    """
    n_steps = check_int(n_steps, "n_steps", low=1)
    t_max = float(t_max)
    t_min = float(t_min)
    if not (math.isfinite(t_max) and 0.0 < t_max < 1.0):
        raise ValueError(f"t_max must lie in (0, 1); got {t_max!r}")
    if not (math.isfinite(t_min) and 0.0 < t_min < t_max):
        raise ValueError(f"t_min must lie in (0, t_max) = (0, {t_max}); got {t_min!r}")
    if spacing == "logsnr":
        lam = np.linspace(half_log_snr(t_max), half_log_snr(t_min), n_steps + 1)
        grid = 1.0 / (1.0 + np.exp(2.0 * lam))
    elif spacing == "uniform":
        grid = np.linspace(t_max, t_min, n_steps + 1)
    elif spacing == "log":
        grid = np.exp(np.linspace(np.log(t_max), np.log(t_min), n_steps + 1))
    else:
        raise ValueError(f"spacing must be one of 'logsnr', 'uniform', 'log'; got {spacing!r}")
    grid[0], grid[-1] = t_max, t_min
    return grid


def check_vp_grid(grid) -> np.ndarray:
    """``grid`` as float64 after checking it is strictly decreasing in (0, 1), >= 2 entries."""
    g = np.asarray(grid, dtype=np.float64)
    if g.ndim != 1 or g.size < 2:
        raise ValueError(f"grid must be a 1-d array of at least 2 times; got shape {g.shape}")
    if not np.all(np.isfinite(g)) or np.any(g <= 0.0) or np.any(g >= 1.0):
        raise ValueError("grid must hold times in the open interval (0, 1)")
    if np.any(np.diff(g) >= 0.0):
        raise ValueError("grid must be strictly decreasing (t_max first, t_min last)")
    return g



def check_finite_state(x, where: str, what: str = "non-finite values in the sampler state"):
    """Return ``x``; raise ``FloatingPointError`` ``"{where}: {what}"`` on NaN/inf (numpy/torch)."""
    if _xp.is_torch(x):
        ok = bool(x.isfinite().all())
    else:
        ok = bool(np.all(np.isfinite(x)))
    if not ok:
        raise FloatingPointError(f"{where}: {what}")
    return x


def _noise(rng, like):
    z = rng.standard_normal(tuple(like.shape))
    if _xp.is_torch(like):
        import torch

        return torch.as_tensor(z, dtype=like.dtype, device=like.device)
    return z


# ------------------------------------------------------------------------------ steps
def _euler(f, x, s, sn, state):
    return x + (sn - s) * f(x, s)


def _midpoint(f, x, s, sn, state):
    h = sn - s
    return x + h * f(x + 0.5 * h * f(x, s), s + 0.5 * h)


def ddim_coefficients(t: float, t_next: float) -> tuple[float, float]:
    """DDIM step coefficients ``(c1, c2) = (sigma_{t'}/sigma_t, alpha_{t'} - c1 alpha_t)``, so
    that one step is ``x' = c1 x + c2 D(x, t)``.

    ``t`` in (0, 1), ``t_next`` in ``[0, t)`` (``t_next = 0`` is the Tweedie denoising step,
    ``c1 = 0, c2 = 1``). The one definition of the step: the ``ddim`` solver and the step
    Jacobians of :mod:`magt_theory.dynamics` use it.
    """
    a, s = smoothing.vp(t, allow_zero=True)
    if s == 0.0:
        raise ValueError(f"t must lie in (0, 1); got {t!r}")
    an, sn = smoothing.vp(t_next, allow_zero=True)
    if not float(t_next) < float(t):
        raise ValueError(f"t_next must be < t = {t}; got {t_next!r}")
    c1 = sn / s
    return c1, an - c1 * a


def _ddim(f, x, t, tn, state):
    x0 = f(x, t)
    c1, c2 = ddim_coefficients(t, tn)
    return c1 * x + c2 * x0


def _dpm_solver_pp(multistep: bool):
    def step(f, x, t, tn, state):
        x0 = f(x, t)
        a, s = smoothing.vp(t, allow_zero=True)
        an, sn = smoothing.vp(tn, allow_zero=True)
        h = half_log_snr(tn) - half_log_snr(t)
        d = x0
        if multistep and "prev" in state:
            r = state["h_prev"] / h
            d = (1.0 + 0.5 / r) * x0 - (0.5 / r) * state["prev"]
        state["prev"], state["h_prev"] = x0, h
        return (sn / s) * x - an * math.expm1(-h) * d

    return step


def _ddpm(f, x, t, tn, state):
    x0 = f(x, t)
    a, s = smoothing.vp(t, allow_zero=True)
    an, sn = smoothing.vp(tn, allow_zero=True)
    s_cond2 = (t - tn) / (1.0 - tn)
    mean = ((a / an) * sn**2 / s**2) * x + (an * s_cond2 / s**2) * x0
    std = math.sqrt(s_cond2) * sn / s
    return mean + std * _noise(state["rng"], x)


@dataclass(frozen=True)
class Solver:
    """One step rule of :func:`integrate`.

    Attributes
    ----------
    name : str
    family : {"velocity", "denoiser"}
        What ``f`` is: a velocity ``v(x, s)`` or a VP data prediction ``D(x, t)``.
    order : int or None
        Global order of accuracy in the step size (None: stochastic, no pathwise order).
    nfe_per_step : int
        Evaluations of ``f`` per step.
    step : callable ``(f, x, s, s_next, state) -> x_next``
        ``state`` is a dict private to one rollout (multistep memory, ``rng``).
    """

    name: str
    family: str
    order: int | None
    nfe_per_step: int
    step: Callable


SOLVERS: dict[str, Solver] = {
    s.name: s for s in (
        Solver("euler", "velocity", 1, 1, _euler),
        Solver("midpoint", "velocity", 2, 2, _midpoint),
        Solver("ddim", "denoiser", 1, 1, _ddim),
        Solver("dpm_solver_pp1", "denoiser", 1, 1, _dpm_solver_pp(False)),
        Solver("dpm_solver_pp2m", "denoiser", 2, 1, _dpm_solver_pp(True)),
        Solver("ddpm", "denoiser", None, 1, _ddpm),
    )
}


def get_solver(method, family: str | None = None) -> Solver:
    """The :class:`Solver` named ``method`` (or ``method`` itself), optionally of ``family``."""
    solver = method if isinstance(method, Solver) else SOLVERS.get(method)
    ok = [k for k, v in SOLVERS.items() if family is None or v.family == family]
    if solver is None or (family is not None and solver.family != family):
        raise ValueError(f"method must be one of {ok}; got {method!r}")
    return solver


def integrate(f, x, grid, method, *, rng=None, return_trajectory: bool = False,
              where: str = "step"):
    """Roll ``x`` along ``grid`` with ``method``: the one loop of every sampler and rollout.

    Parameters
    ----------
    f : callable
        ``v(x, s)`` (velocity family) or ``D(x, t)`` (denoiser family); numpy or torch, the type
        of ``x`` (torch input keeps the graph).
    x : (n, D) ndarray or torch.Tensor
        Initial state at ``grid[0]`` (not validated here; callers check it).
    grid : (N + 1,) sequence of float
        The times (validated by the caller: increasing for velocity solvers, decreasing in
        ``(0, 1)`` for denoiser solvers).
    method : str or Solver
        A key of :data:`SOLVERS`.
    rng : numpy Generator, optional
        Noise source of stochastic solvers (``ddpm``).
    return_trajectory : bool
        Also return the list of the ``N + 1`` states.
    where : str
        Prefix of the ``FloatingPointError`` raised when a state becomes non-finite
        (``"{where} {k}: ..."``).

    Returns
    -------
    x_N, nfe, trajectory (list or None), seconds
    """
    solver = get_solver(method)
    if solver.order is None and rng is None:
        raise ValueError(f"rng is required by the stochastic solver {solver.name!r}")
    g = [float(v) for v in grid]
    state = {"rng": rng}
    traj = [x] if return_trajectory else None
    t0 = time.perf_counter()
    for k in range(len(g) - 1):
        x = check_finite_state(solver.step(f, x, g[k], g[k + 1], state), f"{where} {k}")
        if traj is not None:
            traj.append(x)
    return x, solver.nfe_per_step * (len(g) - 1), traj, time.perf_counter() - t0
