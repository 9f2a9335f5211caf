"""VP diffusion samplers (DDIM, DDPM, DPM-Solver++) and a learned score network.

The samplers whose dynamics CdC analyses, on the project's VP schedule (Tweedie's formula).

Schedule (the project's VP schedule, [MAGT]):

.. math::

    Y_t = \\alpha_t Y_0 + \\sigma_t Z, \\qquad \\alpha_t = \\sqrt{1 - t},\\quad \\sigma_t = \\sqrt t,
    \\qquad \\lambda_t = \\log(\\alpha_t / \\sigma_t)\\ \\text{(half log-SNR)}.

Every sampler is driven by a *denoiser* (x0-prediction) ``D(x, t) = E[Y_0 | Y_t = x]``; the score
follows by Tweedie, ``s(x, t) = (alpha_t D(x, t) - x) / sigma_t^2``, and the noise prediction is
``eps_hat = (x - alpha_t D) / sigma_t``. Two kinds of denoisers are provided:

* :class:`OracleDenoiser` -- the closed-form posterior mean of a known manifold ("oracle
  diffusion", numpy float64);
* :class:`ScoreNetwork` -- a torch network trained by denoising score matching over a range of
  ``t`` (:func:`train_score_network`; defined in :mod:`magt_theory.models.score_network`).

Samplers (``grid`` is a strictly decreasing array ``t_0 > t_1 > ... > t_N`` in (0, 1), see
:func:`time_grid`; one denoiser call per step, counted in ``nfe``; the steps are the denoiser
solvers of :mod:`magt_theory.models.integrators`, which declare their orders):

* :func:`ddim_sample` -- deterministic DDIM / first-order exponential integrator of the
  probability-flow ODE:

  .. math::

      x_{t'} = \\alpha_{t'} \\hat x_0 + \\sigma_{t'} \\hat\\varepsilon
             = c_1 x_t + c_2 \\hat x_0(x_t),\\qquad
      c_1 = \\frac{\\sigma_{t'}}{\\sigma_t},\\quad c_2 = \\alpha_{t'} - c_1 \\alpha_t ;

* :func:`ddpm_sample` -- ancestral (DDPM) sampler, the exact Gaussian posterior
  ``q(x_{t'} | x_t, x_0 = \\hat x_0)`` with the noise frozen by a seed;
* :func:`dpm_solver_pp_sample` -- DPM-Solver++ (data-prediction form) of order 1 (identical to
  DDIM) or 2 (multistep "2M"), Lu et al. 2022.

Final denoising: the samplers stop at ``t_N = t_min > 0``, where the samples follow (approximately)
the law of ``alpha_min Y0 + sigma_min Z``. With ``denoise_final=True`` one extra denoiser call
returns ``\\hat x_0(x_{t_min}) = E[Y_0 | Y_{t_min} = x]`` (Tweedie denoising: the DDIM step to
``t' = 0``, where ``c_1 = 0``, ``c_2 = 1``), which removes the residual ``sigma_min`` noise.

Initial law: ``x_{t_0} ~ N(0, I_D)`` stands in for the law of ``alpha_0 Y0 + sigma_0 Z``; the
mismatch is at most ``W2 <= sqrt(alpha_0^2 E|Y0|^2 + (1 - sigma_0)^2 D)`` [derived], i.e. about
``0.01 |Y0|`` for the default ``t_0 = 0.9999``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch

from .. import _xp
from . import integrators
from .score_network import ScoreNetwork, dsm_loss, train_score_network
from .._validation import as_points, as_rng, check_int

log = logging.getLogger(__name__)

__all__ = [
    "vp_alpha_sigma",
    "time_grid",
    "prior_noise",
    "SamplerOutput",
    "OracleDenoiser",
    "ScoreNetwork",
    "train_score_network",
    "dsm_loss",
    "ddim_sample",
    "ddpm_sample",
    "dpm_solver_pp_sample",
    "sample",
    "SAMPLERS",
]

# ----------------------------------------------------------------------------- schedule


vp_alpha_sigma = integrators.vp_alpha_sigma
time_grid = integrators.time_grid
_check_grid = integrators.check_vp_grid
_lam = integrators.half_log_snr


def prior_noise(n: int, dim: int, seed=0) -> np.ndarray:
    """Initial points ``x_{t_max} ~ N(0, I_dim)``, shape ``(n, dim)``, from ``seed``."""
    n = check_int(n, "n", low=1)
    dim = check_int(dim, "dim", low=1)
    return as_rng(seed).standard_normal((n, dim))


def _check_init(x_init):
    if _xp.is_torch(x_init):
        if x_init.ndim != 2:
            raise ValueError(f"x_init must have shape (n, D); got {tuple(x_init.shape)}")
        if not bool(torch.isfinite(x_init).all()):
            raise ValueError("x_init contains NaN or inf; all entries must be finite")
        return x_init
    return as_points(x_init, "x_init")


def _check_denoiser(denoiser):
    if not callable(denoiser):
        raise TypeError("denoiser must be callable as denoiser(x, t) -> x0_hat; "
                        f"got {type(denoiser).__name__}")
    return denoiser


_finite = integrators.check_finite_state


@dataclass
class SamplerOutput:
    """Result of a sampler.

    Attributes
    ----------
    samples : (n, D) ndarray or torch.Tensor
        Final points (same type as ``x_init``).
    nfe : int
        Number of function (denoiser) evaluations, one per step plus one for the final denoising.
    grid : ndarray
        The time grid that was used (``0`` appended when ``denoise_final``).
    trajectory : list or None
        The states ``x_{t_0}, ..., x_{t_N}`` (and the denoised output) when requested.
    seconds : float
        Wall time of the sampling loop.
    """

    samples: object
    nfe: int
    grid: np.ndarray
    trajectory: list | None = None
    seconds: float = 0.0


# ----------------------------------------------------------------------------- denoisers


class OracleDenoiser:
    """Closed-form denoiser of a known manifold: ``D(x, t) = E[Y_0 | alpha_t Y_0 + sigma_t Z = x]``.

    Calls :meth:`Manifold.posterior_mean` at ``alpha = sqrt(1 - t)``, ``sigma = sqrt(t)``
    [MAGT]. Accepts numpy input only; counts its calls in ``calls``.

    Parameters
    ----------
    manifold : magt_theory.manifolds.Manifold
    """

    def __init__(self, manifold):
        if not hasattr(manifold, "posterior_mean") or not hasattr(manifold, "ambient_dim"):
            raise TypeError(
                f"manifold must be a magt_theory Manifold; got {type(manifold).__name__}")
        self.manifold = manifold
        self.calls = 0

    def __call__(self, x, t):
        if _xp.is_torch(x):
            raise TypeError("OracleDenoiser takes numpy arrays; got a torch tensor")
        alpha, sigma = vp_alpha_sigma(t)
        if sigma == 0.0:
            raise ValueError("t must be > 0 for a denoiser call")
        self.calls += 1
        return self.manifold.posterior_mean(x, sigma, alpha)

    def score(self, x, t):
        """Smoothed score ``(alpha_t D(x, t) - x) / sigma_t^2``."""
        alpha, sigma = vp_alpha_sigma(t)
        return (alpha * self(x, t) - x) / sigma**2


# ----------------------------------------------------------------------------- samplers


def _resolve(denoiser):
    if isinstance(denoiser, ScoreNetwork):
        return denoiser.denoise
    if hasattr(denoiser, "posterior_mean") and hasattr(denoiser, "ambient_dim"):
        return OracleDenoiser(denoiser)
    return _check_denoiser(denoiser)


def _run(method, denoiser, x_init, grid, denoise_final, return_trajectory, rng=None):
    denoiser = _resolve(denoiser)
    x = _check_init(x_init)
    g = _check_grid(grid)
    x, nfe, traj, seconds = integrators.integrate(
        denoiser, x, g, method, rng=rng, return_trajectory=return_trajectory)
    t0 = time.perf_counter()
    if denoise_final:
        x = _finite(denoiser(x, float(g[-1])), "final denoising")
        nfe += 1
        g = np.append(g, 0.0)
        if traj is not None:
            traj.append(x)
    return SamplerOutput(x, nfe, g, traj, seconds + time.perf_counter() - t0)


def ddim_sample(denoiser, x_init, grid, *, denoise_final: bool = True,
                return_trajectory: bool = False) -> SamplerOutput:
    """Deterministic DDIM sampler (first-order exponential integrator of the probability-flow ODE).

    .. math::

        x_{t'} = \\alpha_{t'} \\hat x_0 + \\sigma_{t'} \\frac{x_t - \\alpha_t \\hat x_0}{\\sigma_t}
               = \\frac{\\sigma_{t'}}{\\sigma_t} x_t
                 + \\Big(\\alpha_{t'} - \\frac{\\sigma_{t'}}{\\sigma_t}\\alpha_t\\Big) \\hat x_0(x_t, t)

    with ``alpha_t = sqrt(1-t)``, ``sigma_t = sqrt(t)`` (CdC; identical to first-order
    DPM-Solver++).

    Parameters
    ----------
    denoiser : Manifold, ScoreNetwork or callable ``(x, t) -> x0_hat``
        A manifold gives the oracle posterior mean (:class:`OracleDenoiser`).
    x_init : (n, D) ndarray or torch.Tensor
        Points at ``t_0`` (usually :func:`prior_noise`). Torch input keeps the graph
        (differentiable sampler, for ``torch.func``).
    grid : (N + 1,) array_like
        Strictly decreasing times in (0, 1) (:func:`time_grid`).
    denoise_final : bool
        Append the Tweedie denoising step ``x -> x0_hat(x, t_N)`` (one more NFE).
    return_trajectory : bool
        Keep every state.
    """

    return _run("ddim", denoiser, x_init, grid, denoise_final, return_trajectory)


def ddpm_sample(denoiser, x_init, grid, *, seed=0, denoise_final: bool = True,
                return_trajectory: bool = False) -> SamplerOutput:
    """Ancestral (DDPM) sampler with the noise frozen by ``seed``.

    Each step draws from the Gaussian posterior of the forward process given ``x_0 = x0_hat``:

    .. math::

        x_{t'} = \\frac{\\alpha_{t|t'} \\sigma_{t'}^2}{\\sigma_t^2} x_t
               + \\frac{\\alpha_{t'} \\sigma_{t|t'}^2}{\\sigma_t^2} \\hat x_0
               + \\frac{\\sigma_{t|t'} \\sigma_{t'}}{\\sigma_t} z,\\qquad
        \\alpha_{t|t'} = \\frac{\\alpha_t}{\\alpha_{t'}},\\quad
        \\sigma_{t|t'}^2 = \\sigma_t^2 - \\alpha_{t|t'}^2 \\sigma_{t'}^2 = \\frac{t - t'}{1 - t'}.

    The noises ``z`` of all steps come, in order, from ``numpy.random.default_rng(seed)``, so the
    output is a deterministic function of ``(x_init, seed)`` (used to rerun the same noise with a
    perturbed score). Arguments as :func:`ddim_sample`.
    """
    return _run("ddpm", denoiser, x_init, grid, denoise_final, return_trajectory,
                rng=as_rng(seed))


def dpm_solver_pp_sample(denoiser, x_init, grid, *, order: int = 2, denoise_final: bool = True,
                         return_trajectory: bool = False) -> SamplerOutput:
    """DPM-Solver++ in data-prediction form, multistep, order 1 or 2 (Lu et al. 2022).

    With ``lambda = log(alpha/sigma)``, ``h_i = lambda_{i+1} - lambda_i`` and ``D_i = x0_hat(x_i)``:

    .. math::

        x_{i+1} = \\frac{\\sigma_{i+1}}{\\sigma_i} x_i - \\alpha_{i+1}(e^{-h_i} - 1)\\, \\tilde D_i,
        \\qquad \\tilde D_i = \\Big(1 + \\frac1{2 r_i}\\Big) D_i - \\frac1{2 r_i} D_{i-1},
        \\quad r_i = h_{i-1}/h_i

    (order 2, "2M"; the first step is first order). Order 1 is DDIM. One NFE per step.
    Arguments as :func:`ddim_sample`.
    """
    order = check_int(order, "order", low=1, high=2)
    method = "dpm_solver_pp2m" if order == 2 else "dpm_solver_pp1"
    return _run(method, denoiser, x_init, grid, denoise_final, return_trajectory)


SAMPLERS = {
    "ddim": ddim_sample,
    "ddpm": ddpm_sample,
    "dpm_solver_pp1": lambda *a, **k: dpm_solver_pp_sample(*a, order=1, **k),
    "dpm_solver_pp2": lambda *a, **k: dpm_solver_pp_sample(*a, order=2, **k),
}


def sample(denoiser, n: int, dim: int, *, method: str = "ddim", n_steps: int = 100,
           t_max: float = 0.9999, t_min: float = 1e-4, spacing: str = "logsnr", seed=0,
           denoise_final: bool = True) -> SamplerOutput:
    """Draw ``n`` samples in ``R^dim`` with one of :data:`SAMPLERS` from ``N(0, I)`` noise.

    ``seed`` seeds the initial noise; DDPM's step noise uses ``seed + 1``. NFE is
    ``n_steps + denoise_final``.
    """
    if method not in SAMPLERS:
        raise ValueError(f"method must be one of {sorted(SAMPLERS)}; got {method!r}")
    grid = time_grid(n_steps, t_max, t_min, spacing)
    x = prior_noise(n, dim, seed)
    kw = {"denoise_final": denoise_final}
    if method == "ddpm":
        kw["seed"] = check_int(seed, "seed", low=0) + 1
    return SAMPLERS[method](denoiser, x, grid, **kw)

