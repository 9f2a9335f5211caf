"""VP diffusion samplers (DDIM, DDPM, DPM-Solver++) and a learned score network.

THEORY.md §1 (schedule, Tweedie) and §5 (the samplers whose dynamics CdC analyses).

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
  ``t`` (:func:`train_score_network`).

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
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .. import _xp, smoothing
from . import integrators
from ._step import optimizer_step
from .._validation import as_points, as_rng, check_int, check_positive

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


def vp_alpha_sigma(t) -> tuple[float, float]:
    """``(alpha_t, sigma_t) = (sqrt(1 - t), sqrt(t))`` for a scalar ``t`` in ``[0, 1)``.

    Unlike :func:`magt_theory.smoothing.vp` this accepts ``t = 0`` (``alpha = 1, sigma = 0``), the
    end point of the final denoising step.
    """
    return smoothing.vp(float(t), allow_zero=True)


_lam = integrators.half_log_snr


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
        lam = np.linspace(_lam(t_max), _lam(t_min), n_steps + 1)
        grid = 1.0 / (1.0 + np.exp(2.0 * lam))
    elif spacing == "uniform":
        grid = np.linspace(t_max, t_min, n_steps + 1)
    elif spacing == "log":
        grid = np.exp(np.linspace(np.log(t_max), np.log(t_min), n_steps + 1))
    else:
        raise ValueError(f"spacing must be one of 'logsnr', 'uniform', 'log'; got {spacing!r}")
    grid[0], grid[-1] = t_max, t_min
    return grid


def _check_grid(grid) -> np.ndarray:
    g = np.asarray(grid, dtype=np.float64)
    if g.ndim != 1 or g.size < 2:
        raise ValueError(f"grid must be a 1-d array of at least 2 times; got shape {g.shape}")
    if not np.all(np.isfinite(g)) or np.any(g <= 0.0) or np.any(g >= 1.0):
        raise ValueError("grid must hold times in the open interval (0, 1)")
    if np.any(np.diff(g) >= 0.0):
        raise ValueError("grid must be strictly decreasing (t_max first, t_min last)")
    return g


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
    (THEORY.md §1-2). Accepts numpy input only; counts its calls in ``calls``.

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


class _TimeFeatures(nn.Module):
    """Features of the noise level: ``c = log(sigma/alpha)`` and Fourier features of ``c``."""

    def __init__(self, n_freq: int):
        super().__init__()
        self.register_buffer("freqs", torch.arange(1, n_freq + 1, dtype=torch.float64) * 0.5)

    @property
    def n_out(self) -> int:
        return 1 + 2 * self.freqs.numel()

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        f = self.freqs.to(c.dtype)
        arg = c[..., None] * f
        return torch.cat([c[..., None], torch.sin(arg), torch.cos(arg)], dim=-1)


class ScoreNetwork(nn.Module):
    """Learned denoiser / score for the VP diffusion, with EDM preconditioning.

    In VE units ``s = sigma_t / alpha_t``, ``u = x / alpha_t`` (so that ``u = Y_0 + s Z``),

    .. math::

        \\hat x_0(x, t) = c_{skip}(s)\\, u + c_{out}(s)\\, F_\\theta\\big(c_{in}(s)\\, u,\\ \\log s\\big),
        \\quad c_{skip} = \\frac{\\sigma_d^2}{s^2 + \\sigma_d^2},\\
        c_{out} = \\frac{s \\sigma_d}{\\sqrt{s^2 + \\sigma_d^2}},\\
        c_{in} = \\frac{1}{\\sqrt{s^2 + \\sigma_d^2}}

    (Karras et al. 2022), so that the regression target of ``F_theta`` has unit scale at every
    noise level. The score is ``(alpha_t x0_hat - x) / sigma_t^2`` (Tweedie, [MAGT]).

    Parameters
    ----------
    dim : int
        Ambient dimension ``D``.
    width, depth : int
        Hidden width and number of hidden layers of the MLP ``F_theta``.
    n_freq : int
        Number of Fourier features of ``log s``.
    sigma_data : float
        Data scale ``sigma_d`` (RMS of a coordinate); :func:`train_score_network` sets it from data.
    dtype : {"float32", "float64"}
    """

    def __init__(self, dim: int, width: int = 128, depth: int = 3, n_freq: int = 4,
                 sigma_data: float = 1.0, activation: str = "silu", dtype="float32"):
        super().__init__()
        from .mlp import MLP, resolve_dtype

        self.dim = check_int(dim, "dim", low=1)
        n_freq = check_int(n_freq, "n_freq", low=0)
        self.sigma_data = check_positive(sigma_data, "sigma_data")
        dt = resolve_dtype(dtype)
        self.time_features = _TimeFeatures(n_freq)
        self.net = MLP(self.dim + self.time_features.n_out, self.dim, width=width, depth=depth,
                       activation=activation, dtype=dt)
        self.train_losses_: list[float] = []

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def _coefs(self, t):
        alpha, sigma = vp_alpha_sigma(t)
        if sigma == 0.0:
            raise ValueError("t must be > 0 for a network call")
        s = sigma / alpha
        sd2 = self.sigma_data**2
        return alpha, sigma, s, sd2 / (s * s + sd2), s * self.sigma_data / math.sqrt(s * s + sd2), \
            1.0 / math.sqrt(s * s + sd2)

    def x0(self, x: torch.Tensor, t) -> torch.Tensor:
        """Denoiser ``x0_hat(x, t)`` for a scalar ``t`` (torch in, torch out; differentiable).

        ``x`` may be ``(n, D)`` or a single point ``(D,)`` (for ``torch.func.jacrev``).
        """
        alpha, sigma, s, c_skip, c_out, c_in = self._coefs(t)
        c_noise = torch.full(x.shape[:-1], math.log(s), dtype=x.dtype, device=x.device)
        u = x / alpha
        feats = torch.cat([c_in * u, self.time_features(c_noise)], dim=-1)
        return c_skip * u + c_out * self.net(feats)

    def _x0_batched_t(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``x0_hat`` with one time per row (training)."""
        alpha, sigma = (v[:, None] for v in smoothing.vp(t))
        s = sigma / alpha
        sd2 = self.sigma_data**2
        c_skip = sd2 / (s * s + sd2)
        c_out = s * self.sigma_data / torch.sqrt(s * s + sd2)
        c_in = 1.0 / torch.sqrt(s * s + sd2)
        u = x / alpha
        feats = torch.cat([c_in * u, self.time_features(torch.log(s[:, 0]))], dim=-1)
        return c_skip * u + c_out * self.net(feats)

    def forward(self, x: torch.Tensor, t) -> torch.Tensor:
        return self.x0(x, t)

    def score(self, x, t):
        """Score ``(alpha_t x0_hat - x) / sigma_t^2`` (numpy or torch, like :meth:`__call__`)."""
        alpha, sigma = vp_alpha_sigma(t)
        return (alpha * self.denoise(x, t) - x) / sigma**2

    def denoise(self, x, t):
        """Denoiser for the samplers: numpy in -> numpy float64 out (no grad); torch -> torch."""
        if _xp.is_torch(x):
            return self.x0(x, t)
        with torch.no_grad():
            xt = torch.as_tensor(np.asarray(x), dtype=self.dtype)
            return self.x0(xt, t).double().numpy()

    def as_denoiser(self):
        """Callable ``denoiser(x, t)`` (numpy or torch) for the samplers."""
        return self.denoise


def dsm_loss(denoiser, y0, t, z):
    """Denoising score-matching loss in x0 units, averaged over rows.

    .. math::

        \\ell = \\frac1n\\sum_i |\\hat x_0(\\alpha_{t_i} y_{0,i} + \\sigma_{t_i} z_i, t_i) - y_{0,i}|^2
        = \\frac1n \\sum_i \\frac{\\sigma_{t_i}^4}{\\alpha_{t_i}^2}
          \\Big|\\hat s - \\frac{\\alpha y_0 - y}{\\sigma^2}\\Big|^2

    (the MAGT / DSM loss, THEORY.md §3, at fixed ``t``). Its minimiser is the posterior mean, so
    the oracle denoiser attains the Bayes risk. Numpy arrays; ``t`` is a scalar.

    Returns
    -------
    mean, standard_error : float
    """
    y0 = as_points(y0, "y0")
    z = as_points(z, "z", y0.shape[1])
    if z.shape != y0.shape:
        raise ValueError(f"z must have the shape of y0 {y0.shape}; got {z.shape}")
    alpha, sigma = vp_alpha_sigma(t)
    if sigma == 0.0:
        raise ValueError("t must lie in (0, 1)")
    y = alpha * y0 + sigma * z
    x0 = np.asarray(denoiser(y, float(t)), dtype=np.float64)
    per = np.sum((x0 - y0) ** 2, axis=1)
    return float(per.mean()), float(per.std(ddof=1) / math.sqrt(per.size)) if per.size > 1 else 0.0


def train_score_network(data, *, t_min: float = 1e-4, t_max: float = 0.9999, steps: int = 2000,
                        batch_size: int = 512, lr: float = 2e-3, width: int = 128, depth: int = 3,
                        n_freq: int = 4, dtype="float32", seed: int = 0,
                        net: ScoreNetwork | None = None, progress: bool = False) -> ScoreNetwork:
    """Train a :class:`ScoreNetwork` by denoising score matching over ``t in [t_min, t_max]``.

    Each step draws a batch of data ``y0``, levels ``t`` uniform in ``lambda_t`` (half log-SNR)
    between ``t_max`` and ``t_min``, noise ``z``, forms ``y = alpha_t y0 + sigma_t z`` and
    minimises the EDM-weighted DSM loss

    .. math:: \\mathbb E\\, c_{out}(s)^{-2}\\, |\\hat x_0(y, t) - y_0|^2,

    i.e. unit-scale regression of ``F_theta`` (Adam, cosine learning-rate decay). The loss history
    is stored in ``net.train_losses_``.

    Parameters
    ----------
    data : (n, D) array_like
        Training points (float64; cast to the network dtype).
    t_min, t_max : float
        Range of levels, ``0 < t_min < t_max < 1``.
    steps, batch_size : int
        Adam steps and batch size.
    lr : float
        Peak learning rate.
    width, depth, n_freq, dtype
        Architecture (ignored when ``net`` is given).
    seed : int
        Seeds the initialisation, the batches and the noise (a forked torch RNG).
    net : ScoreNetwork, optional
        Network to continue training.

    Raises
    ------
    FloatingPointError
        If the loss becomes NaN or inf.
    """
    data = as_points(data, "data")
    time_grid(1, t_max, t_min)  # validates t_min, t_max
    steps = check_int(steps, "steps", low=1)
    batch_size = check_int(batch_size, "batch_size", low=1)
    lr = check_positive(lr, "lr")
    seed = check_int(seed, "seed", low=0)
    n, D = data.shape
    sigma_data = float(np.sqrt(np.mean(data**2)))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        if net is None:
            net = ScoreNetwork(D, width=width, depth=depth, n_freq=n_freq,
                               sigma_data=max(sigma_data, 1e-3), dtype=dtype)
        elif not isinstance(net, ScoreNetwork) or net.dim != D:
            raise TypeError(f"net must be a ScoreNetwork of dim {D}; got {net!r}")
        dt = net.dtype
        x = torch.as_tensor(data, dtype=dt)
        lam_hi, lam_lo = _lam(t_min), _lam(t_max)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr * 0.05)
        net.train()
        from tqdm.auto import tqdm

        for _ in tqdm(range(steps), disable=not progress, desc="DSM"):
            idx = torch.randint(0, n, (min(batch_size, n),))
            y0 = x[idx]
            lam = lam_lo + (lam_hi - lam_lo) * torch.rand(y0.shape[0], dtype=dt)
            t = torch.sigmoid(-2.0 * lam)  # t = 1 / (1 + e^{2 lambda})
            z = torch.randn_like(y0)
            a_t, s_t = smoothing.vp(t)
            y = a_t[:, None] * y0 + s_t[:, None] * z
            s = torch.sqrt(t / (1 - t))
            c_out = s * net.sigma_data / torch.sqrt(s * s + net.sigma_data**2)
            x0 = net._x0_batched_t(y, t)
            loss = (((x0 - y0) / c_out[:, None]) ** 2).sum(1).mean()
            optimizer_step(loss, opt, sched, net.train_losses_, "score-network")
        net.eval()
    log.info("trained ScoreNetwork: %d steps, final loss %.4g", steps, net.train_losses_[-1])
    return net


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

    with ``alpha_t = sqrt(1-t)``, ``sigma_t = sqrt(t)`` (THEORY.md §5; identical to first-order
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

