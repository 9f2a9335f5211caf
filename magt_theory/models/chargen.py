"""Characteristic generator: velocity matching, Euler characteristics, one-step map [CharGen].

THEORY.md §6. Föllmer interpolant between noise (``s = 0``) and data (``s = 1``):

.. math::

    X_s = a_s Z + b_s X_1,\\qquad a_s = \\sqrt{1 - s^2},\\quad b_s = s,\\qquad
    Z \\sim N(0, I_D),\\ X_1 \\sim \\mu .

Velocity field (the conditional expectation of ``a'_s Z + b'_s X_1``). With
``m(s, x) = E[X_1 | X_s = x]`` and ``Z = (x - s X_1)/a_s`` on that event [derived]:

.. math::

    v(s, x) = \\mathbb E[a'_s Z + X_1 \\mid X_s = x]
            = m - \\frac{s}{1 - s^2}(x - s m) = \\frac{m(s, x) - s x}{1 - s^2}.

``m`` is the posterior mean of a Gaussian smoothing at ``alpha = s``, ``sigma = a_s``, so a known
manifold gives the *oracle velocity* (:func:`oracle_velocity`; with jitter ``s0`` on the data the
smoothing of the manifold law is ``sigma^2 = a_s^2 + s^2 s0^2`` and
``E[X_1|x] = m_M + s s0^2 (x - s m_M)/(a_s^2 + s^2 s0^2)`` [derived]).

*Velocity matching.* The least-squares loss ``E|v_theta(s, X_s) - (a'_s Z + X_1)|^2`` has a target
whose variance grows like ``(1 - s^2)^{-1}`` as ``s -> 1``. With the parametrisation
``v_theta = (m_theta - s x)/(1 - s^2)`` one has the identity [derived; checked in the tests]

.. math::

    v_\\theta(s, X_s) - (a'_s Z + X_1) = \\frac{m_\\theta(s, X_s) - X_1}{1 - s^2},

so velocity matching weighted by ``(1 - s^2)^2`` is the bounded-variance regression
``E|m_theta(s, X_s) - X_1|^2`` (same minimiser: the true velocity). :meth:`CharGen.fit` fits
``m_theta`` (:class:`FollmerMeanNetwork`, preconditioned) that way, with ``s`` drawn half
uniformly on ``[0, T]`` and half uniformly in the half log-SNR ``log(s/a_s)`` (a positive
weighting of the same least-squares problem; it puts effort where ``v`` is stiff).

*Characteristics.* Forward Euler with ``K`` uniform steps ``h = T/K`` on ``[0, T]``,
``x_{k+1} = x_k + h v(s_k, x_k)`` (:func:`euler_rollout`), from ``x_0 = Z``.

*One-step map.* An MLP ``g(t, s, x) = x + (s - t) G_theta(x, t, s)`` (so ``g(t, t, x) = x``
exactly) is fitted to all trajectory pairs ``(s_i, s_j, x_i, x_j)``, ``i < j``, with the L2 loss
``|g(s_i, s_j, x_i) - x_j|^2`` and an optional semigroup penalty
``|g(u, s, g(t, u, x)) - g(t, s, x)|^2`` (``t < u < s`` grid times). Sampling is one call
``g(0, T, z)`` (NFE = 1).

*Error decomposition* (:func:`error_decomposition`), each term the root-mean-square distance of
a coupling (same ``z``), hence an upper bound on the W2 between the two laws:

- velocity: Euler(v_theta, K) vs Euler(v*, K);
- Euler: Euler(v*, K) vs a midpoint reference with ``K_ref`` steps (the exact flow map);
- fitting: ``g(0, T, z)`` vs Euler(v_theta, K);
- horizon: ``X_T = T X_1 + a_T Z`` vs ``X_1`` (same ``X_1``), whose mean square is
  ``(1 - T)^2 E|X_1|^2 + (1 - T^2) D`` ~ ``2 (1 - T) D`` (THEORY.md §6).

By the triangle inequality ``W2(g(0,T,.)_# N, mu) <=`` the sum of the four terms (when ``v*``
is the velocity of ``mu``).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import _xp
from .._validation import as_points, check_in_open_interval, check_int, check_positive
from . import integrators
from ._protocol import (
    GenerativeModel,
    ModelConfig,
    activation_field,
    dtype_field,
    integer,
    nonneg,
    open_interval,
    positive,
    unit,
)
from ._step import optimizer_step
from .mlp import MLP, resolve_dtype

log = logging.getLogger(__name__)

__all__ = [
    "S_FLOOR",
    "follmer_coefficients",
    "oracle_posterior_mean",
    "oracle_velocity",
    "velocity_from_mean",
    "velocity_matching_loss",
    "euler_rollout",
    "midpoint_rollout",
    "FollmerMeanNetwork",
    "CharacteristicMap",
    "CharGenConfig",
    "CharGen",
    "error_decomposition",
    "semigroup_defect",
    "horizon_rms",
]

#: the posterior mean at ``s < S_FLOOR`` is taken at ``alpha = S_FLOOR`` (``s = 0`` is the prior)
S_FLOOR = 1e-6


def follmer_coefficients(s):
    """``(a_s, b_s, a'_s, b'_s) = (sqrt(1-s^2), s, -s/sqrt(1-s^2), 1)`` for ``s in [0, 1)``."""
    s = float(s)
    if not (math.isfinite(s) and 0.0 <= s < 1.0):
        raise ValueError(f"s must lie in [0, 1); got {s!r}")
    a = math.sqrt(1.0 - s * s)
    return a, s, -s / a, 1.0


def velocity_from_mean(m, x, s):
    """Föllmer velocity ``(m - s x) / (1 - s^2)`` from the posterior mean ``m = E[X_1|X_s=x]``.

    Works on numpy arrays and torch tensors; ``s`` a scalar in ``[0, 1)`` (or a tensor
    broadcastable against ``x[..., :1]``).
    """
    return (m - s * x) / (1.0 - s * s)


def oracle_posterior_mean(manifold, x, s: float, jitter: float = 0.0) -> np.ndarray:
    """``E[X_1 | s X_1 + sqrt(1-s^2) Z = x]`` for ``X_1 = Y + s0 E``, ``Y`` the manifold law.

    .. math::

        m_M = E[Y \\mid x]\\ \\text{at}\\ \\alpha = s,\\ \\sigma^2 = a_s^2 + s^2 s_0^2,\\qquad
        E[X_1 \\mid x] = m_M + \\frac{s s_0^2}{a_s^2 + s^2 s_0^2}(x - s m_M)

    [derived: given ``Y``, ``x - sY = s s0 E + a_s Z`` is Gaussian]. Below :data:`S_FLOOR` the
    posterior mean is evaluated at ``alpha = S_FLOOR``.

    Parameters
    ----------
    manifold : Manifold
    x : (n, D) array_like
    s : float in [0, 1)
    jitter : float >= 0
        ``s0``, the standard deviation of the Gaussian jitter on the data.
    """
    a, _, _, _ = follmer_coefficients(s)
    if not hasattr(manifold, "posterior_mean"):
        raise TypeError(f"manifold must be a magt_theory Manifold; got {type(manifold).__name__}")
    s0 = float(jitter)
    if not (math.isfinite(s0) and s0 >= 0):
        raise ValueError(f"jitter must be a finite number >= 0; got {jitter!r}")
    x = as_points(x, "x", manifold.ambient_dim)
    var = a * a + (s * s0) ** 2
    alpha = max(s, S_FLOOR)
    m = manifold.posterior_mean(x, math.sqrt(var), alpha)
    if s0 > 0:
        m = m + (s * s0 * s0 / var) * (x - s * m)
    return m


def oracle_velocity(manifold, x, s: float, jitter: float = 0.0) -> np.ndarray:
    """Exact Föllmer velocity ``v(s, x) = (m - s x)/(1 - s^2)`` of a known manifold law.

    See :func:`oracle_posterior_mean`. Returns ``(n, D)`` float64.
    """
    x = as_points(x, "x", getattr(manifold, "ambient_dim", None))
    return velocity_from_mean(oracle_posterior_mean(manifold, x, s, jitter), x, float(s))


def velocity_matching_loss(v, x1, z, s):
    """Per-sample velocity-matching loss ``|v - (a'_s z + x1)|^2`` at ``X_s = s x1 + a_s z``.

    ``v`` is the velocity evaluated at ``X_s`` (numpy arrays, one ``s`` for all rows).
    Returns ``(n,)`` float64.
    """
    a, _, da, db = follmer_coefficients(s)
    target = da * np.asarray(z, dtype=np.float64) + db * np.asarray(x1, dtype=np.float64)
    return np.sum((np.asarray(v, dtype=np.float64) - target) ** 2, axis=1)


# ------------------------------------------------------------------------------- rollouts
def _time_grid(T: float, n_steps: int) -> np.ndarray:
    T = check_in_open_interval(T, "T", 0.0, 1.0)
    n_steps = check_int(n_steps, "n_steps", low=1)
    return np.linspace(0.0, T, n_steps + 1)


def euler_rollout(velocity, z, T: float, n_steps: int, return_trajectory: bool = False):
    """Forward Euler on ``[0, T]`` with ``K = n_steps`` uniform steps ``h = T/K``.

    .. math:: x_{k+1} = x_k + h\\, v(x_k, s_k),\\qquad s_k = k h,\\quad x_0 = z

    Parameters
    ----------
    velocity : callable ``(x, s) -> v``
        numpy or torch (same type as ``z``).
    z : (n, D) ndarray or torch.Tensor
    T : float in (0, 1)
    n_steps : int >= 1
    return_trajectory : bool
        Also return the ``K + 1`` states stacked as ``(K + 1, n, D)``.

    Returns
    -------
    x_T, or ``(x_T, trajectory)``.
    """
    grid = _time_grid(T, n_steps)
    if not callable(velocity):
        raise TypeError(f"velocity must be callable as v(x, s); got {type(velocity).__name__}")
    x, _, traj, _ = integrators.integrate(velocity, z, grid, "euler",
                                          return_trajectory=return_trajectory, where="Euler step")
    if not return_trajectory:
        return x
    stack = torch.stack(traj) if _xp.is_torch(x) else np.stack(traj)
    return x, stack


def midpoint_rollout(velocity, z, T: float, n_steps: int):
    """Explicit midpoint on ``[0, T]`` (second order; the reference flow map), ``2K`` NFE.

    .. math:: x_{k+1} = x_k + h\\, v\\big(x_k + \\tfrac h2 v(x_k, s_k),\\ s_k + \\tfrac h2\\big)
    """
    return integrators.integrate(velocity, z, _time_grid(T, n_steps), "midpoint",
                                 where="midpoint step")[0]


# ------------------------------------------------------------------------------ networks
class FollmerMeanNetwork(nn.Module):
    """Posterior mean ``m_theta(s, x) ~ E[X_1 | X_s = x]`` with EDM-style preconditioning.

    In VE units ``u = x / s = X_1 + (a_s/s) Z`` (noise level ``sigma = a_s / s``), Karras et
    al.'s preconditioning with data scale ``sigma_d`` reads, after clearing ``s`` [derived],

    .. math::

        m_\\theta(s, x) = \\frac{\\sigma_d^2\\, s\\, x}{a_s^2 + s^2 \\sigma_d^2}
            + \\frac{a_s \\sigma_d}{\\sqrt{a_s^2 + s^2\\sigma_d^2}}\\,
              F_\\theta\\Big(\\frac{x}{\\sqrt{a_s^2 + s^2 \\sigma_d^2}},\\ s\\Big),

    finite for every ``s in [0, 1]``. The skip part contributes the bounded velocity
    ``s x (sigma_d^2 - 1)/(a_s^2 + s^2 sigma_d^2)``, so network errors reach the velocity
    amplified by ``1/a_s`` only (not ``1/a_s^2``). Training regresses ``F_theta`` onto
    ``(X_1 - skip)/c_out`` with unit weight: velocity matching weighted by
    ``a_s^4 / c_out(s)^2 > 0`` (same minimiser).

    Parameters
    ----------
    dim : int
    width, depth, activation, dtype
        The MLP ``F_theta`` (input ``[x / c, s, sin(2 pi j s), cos(2 pi j s)]``).
    n_freq : int
        Fourier features of ``s``.
    sigma_data : float > 0
        RMS of one data coordinate.
    """

    def __init__(self, dim: int, width: int = 128, depth: int = 3, activation: str = "silu",
                 n_freq: int = 4, sigma_data: float = 1.0, dtype="float32"):
        super().__init__()
        self.dim = check_int(dim, "dim", low=1)
        n_freq = check_int(n_freq, "n_freq", low=0)
        self.sigma_data = check_positive(sigma_data, "sigma_data")
        dt = resolve_dtype(dtype)
        self.register_buffer("freqs", 2 * math.pi * torch.arange(1, n_freq + 1, dtype=dt))
        self.net = MLP(self.dim + 1 + 2 * n_freq, self.dim, width=width, depth=depth,
                       activation=activation, dtype=dt)

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def coefficients(self, s: torch.Tensor):
        """``(c_skip, c_out, c_in)`` with ``m = c_skip x + c_out F(c_in x, s)``."""
        sd2 = self.sigma_data**2
        a2 = 1.0 - s * s
        den = a2 + s * s * sd2
        return sd2 * s / den, torch.sqrt(a2 * sd2 / den), 1.0 / torch.sqrt(den)

    def forward(self, x: torch.Tensor, s) -> torch.Tensor:
        s = torch.as_tensor(s, dtype=x.dtype, device=x.device).expand(x.shape[:-1])
        c_skip, c_out, c_in = (c[..., None] for c in self.coefficients(s))
        arg = s[..., None] * self.freqs
        feats = torch.cat([c_in * x, s[..., None], torch.sin(arg), torch.cos(arg)], -1)
        return c_skip * x + c_out * self.net(feats)


class CharacteristicMap(nn.Module):
    """``g(t, s, x) = x + (s - t) G_theta([x, t, s])``: the flow map from time ``t`` to ``s``.

    ``g(t, t, x) = x`` holds exactly by construction [CharGen]. ``t`` and ``s`` are scalars or
    tensors of shape ``x.shape[:-1]``.
    """

    def __init__(self, dim: int, width: int = 128, depth: int = 3, activation: str = "silu",
                 dtype="float32"):
        super().__init__()
        self.dim = check_int(dim, "dim", low=1)
        self.net = MLP(self.dim + 2, self.dim, width=width, depth=depth, activation=activation,
                       dtype=resolve_dtype(dtype))

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def forward(self, t, s, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape[:-1]
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(shape)
        s = torch.as_tensor(s, dtype=x.dtype, device=x.device).expand(shape)
        return x + (s - t)[..., None] * self.net(torch.cat([x, t[..., None], s[..., None]], -1))


@dataclass(frozen=True)
class CharGenConfig(ModelConfig):
    """Hyper-parameters of :class:`CharGen` (validated on construction).

    Parameters
    ----------
    T : float in (0, 1)
        Horizon; the output law is that of ``X_T = T X_1 + sqrt(1 - T^2) Z`` up to the errors.
    n_steps : int
        ``K`` Euler steps of the characteristics (CharGen/MAGT protocol: 1024).
    n_traj : int or None
        Number of characteristics simulated for the fit (default: the number of data points).
    width, depth, activation : int, int, str
        Both MLPs (posterior-mean network ``m_theta`` and map ``G_theta``); ReLU by default,
        the backbone of the MAGT protocol (it also trains faster than SiLU at small noise).
    velocity_steps, fit_steps : int
        Adam steps of the velocity matching and of the map fit (``>= 1``).
    batch_size : int
    lr : float
        Peak Adam learning rate of both fits (cosine decay to 5%).
    semigroup : float >= 0
        Weight of the semigroup penalty (0: off).
    p_endpoint : float in [0, 1]
        Fraction of each map-fitting batch drawn at ``(t, s) = (0, T)`` (the pair the one-step
        sampler uses); the rest is uniform over ``i < j``. Reweighting pairs keeps the minimiser
        of the all-pairs L2 loss.
    seed : int >= 0
    dtype : {"float32", "float64"}
    """

    T: float = open_interval(0.99, 0.0, 1.0)
    n_steps: int = integer(256)
    n_traj: int | None = integer(None, optional=True)
    width: int = integer(128)
    depth: int = integer(3, low=0)
    activation: str = activation_field("relu")
    velocity_steps: int = integer(2000)
    fit_steps: int = integer(2000)
    batch_size: int = integer(512)
    lr: float = positive(2e-3)
    semigroup: float = nonneg(0.0)
    p_endpoint: float = unit(0.25)
    seed: int = integer(0, low=0)
    dtype: str = dtype_field("float32")


def _draw_s(n: int, T: float, gen, dtype) -> torch.Tensor:
    """Training times: half uniform on ``[0, T]``, half uniform in ``log(s / a_s)`` on
    ``[log(0.1/a_0.1), log(T/a_T)]`` (more weight near the horizon, where ``v`` is stiff)."""
    u = torch.rand(n, generator=gen, dtype=dtype)
    lo, hi = math.log(0.1 / math.sqrt(0.99)), math.log(T / math.sqrt(1 - T * T))
    lam = lo + (hi - lo) * torch.rand(n, generator=gen, dtype=dtype)
    s_log = torch.clamp(torch.sigmoid(2 * lam).sqrt(), max=T)  # s^2 / (1 - s^2) = e^{2 lam}
    return torch.where(u < 0.5, T * torch.rand(n, generator=gen, dtype=dtype), s_log)


def _adam(params, lr, steps):
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=0.05 * lr)
    return opt, sched


class CharGen(GenerativeModel):
    """Characteristic generator [CharGen]: fit with :meth:`fit`, sample with :meth:`sample`.

    Attributes (after ``fit``)
    --------------------------
    mean_net_ : FollmerMeanNetwork
        ``m_theta(s, x)``, the learned posterior mean (``velocity`` derives ``v_theta``).
    map_ : CharacteristicMap
        ``g(t, s, x)``.
    velocity_losses_, fit_losses_ : list of float
    seconds_ : float
        Training wall time (velocity + rollout + map fit).
    """

    config_class = CharGenConfig
    _networks = ("mean_net_", "map_")

    @property
    def nfe(self) -> int:
        """One map evaluation ``g(0, T, z)`` per sample."""
        return 1

    def _extra(self) -> dict:
        return {"sigma_data": float(self.mean_net_.sigma_data)}

    def _build(self, ambient_dim: int, extra: dict) -> None:
        """The two networks, initialised from ``config.seed`` (``extra["sigma_data"]``)."""
        cfg = self.config
        with torch.random.fork_rng():
            torch.manual_seed(cfg.seed)
            self.mean_net_ = FollmerMeanNetwork(
                ambient_dim, width=cfg.width, depth=cfg.depth, activation=cfg.activation,
                sigma_data=extra["sigma_data"], dtype=cfg.dtype)
            self.map_ = CharacteristicMap(ambient_dim, width=cfg.width, depth=cfg.depth,
                                          activation=cfg.activation, dtype=cfg.dtype)
        self.ambient_dim_ = int(ambient_dim)

    # ------------------------------------------------------------------ learned velocity
    def velocity(self, x, s):
        """Learned velocity ``v_theta(s, x) = (m_theta(s, x) - s x)/(1 - s^2)`` (numpy or torch)."""
        self._check_fitted()
        if _xp.is_torch(x):
            return velocity_from_mean(self.mean_net_(x, float(s)), x, float(s))
        with torch.no_grad():
            xt = torch.as_tensor(np.asarray(x), dtype=self.mean_net_.dtype)
            return velocity_from_mean(self.mean_net_(xt, float(s)), xt, float(s)).double().numpy()

    def fit(self, data, progress: bool = False) -> "CharGen":
        """Velocity matching on ``data``, Euler characteristics, map fit (see module docstring).

        Raises
        ------
        FloatingPointError
            If a loss or a trajectory becomes non-finite.
        """
        cfg = self.config
        x1_all = as_points(data, "data")
        n, D = x1_all.shape
        t_start = time.perf_counter()
        dt = resolve_dtype(cfg.dtype)
        gen = torch.Generator().manual_seed(cfg.seed)
        sigma_d = max(float(np.sqrt(np.mean(x1_all**2))), 1e-3)
        self._build(D, {"sigma_data": sigma_d})
        net, gmap = self.mean_net_, self.map_
        del self.mean_net_, self.map_  # set again below, once trained
        X1 = torch.as_tensor(x1_all, dtype=dt)
        # 1. velocity matching, in the bounded-variance x1-prediction form
        opt, sched = _adam(net.parameters(), cfg.lr, cfg.velocity_steps)
        self.velocity_losses_ = []
        for _ in range(cfg.velocity_steps):
            x1 = X1[torch.randint(0, n, (min(cfg.batch_size, n),), generator=gen)]
            z = torch.randn(x1.shape, generator=gen, dtype=dt)
            s = _draw_s(x1.shape[0], cfg.T, gen, dt)
            xs = s[:, None] * x1 + torch.sqrt(1 - s * s)[:, None] * z
            c_out = net.coefficients(s)[1][:, None]
            loss = (((net(xs, s) - x1) / c_out) ** 2).sum(1).mean()
            optimizer_step(loss, opt, sched, self.velocity_losses_, "CharGen velocity matching")
        net.eval()
        for p in net.parameters():
            p.requires_grad_(False)
        self.mean_net_ = net
        # 2. characteristics
        n_traj = cfg.n_traj or n
        z0 = torch.randn((n_traj, D), generator=gen, dtype=dt)
        with torch.no_grad():
            _, traj = euler_rollout(
                lambda x, s: velocity_from_mean(net(x, s), x, s), z0, cfg.T, cfg.n_steps,
                return_trajectory=True)
        grid = torch.as_tensor(_time_grid(cfg.T, cfg.n_steps), dtype=dt)
        # 3. map fit on all pairs i < j (+ endpoint pairs, + semigroup penalty)
        K = cfg.n_steps
        opt, sched = _adam(gmap.parameters(), cfg.lr, cfg.fit_steps)
        self.fit_losses_ = []
        B = cfg.batch_size
        for _ in range(cfg.fit_steps):
            r = torch.randint(0, n_traj, (B,), generator=gen)
            i = torch.randint(0, K + 1, (B,), generator=gen)
            j = torch.randint(0, K + 1, (B,), generator=gen)
            i, j = torch.minimum(i, j), torch.maximum(i, j)
            ends = torch.rand(B, generator=gen) < cfg.p_endpoint
            i = torch.where(ends, torch.zeros_like(i), i)
            j = torch.where(ends, torch.full_like(j, K), j)
            xi, xj = traj[i, r], traj[j, r]
            loss = ((gmap(grid[i], grid[j], xi) - xj) ** 2).sum(1).mean()
            if cfg.semigroup > 0:
                u = torch.randint(0, K + 1, (B,), generator=gen)
                a, b = torch.minimum(i, u), torch.maximum(i, u)
                c = torch.maximum(b, j)
                xa = traj[a, r]
                two = gmap(grid[b], grid[c], gmap(grid[a], grid[b], xa))
                one = gmap(grid[a], grid[c], xa)
                loss = loss + cfg.semigroup * ((two - one) ** 2).sum(1).mean()
            optimizer_step(loss, opt, sched, self.fit_losses_, "CharGen map fit")
        gmap.eval()
        for p in gmap.parameters():
            p.requires_grad_(False)
        self.map_ = gmap
        self.ambient_dim_ = D
        self.seconds_ = time.perf_counter() - t_start
        self.history_ = pd.DataFrame({
            "phase": ["velocity"] * len(self.velocity_losses_) + ["map"] * len(self.fit_losses_),
            "step": list(range(len(self.velocity_losses_))) + list(range(len(self.fit_losses_))),
            "loss": self.velocity_losses_ + self.fit_losses_,
        })
        log.info("CharGen fit: n=%d D=%d K=%d T=%g in %.1fs; losses %.4g / %.4g", n, D, K,
                 cfg.T, self.seconds_, self.velocity_losses_[-1], self.fit_losses_[-1])
        return self

    # ----------------------------------------------------------------------- sampling
    def latent(self, n: int, seed: int = 0) -> torch.Tensor:
        """``n`` draws ``z ~ N(0, I_D)`` from ``seed`` (torch, model dtype)."""
        self._check_fitted()
        n = check_int(n, "n", low=1)
        gen = torch.Generator().manual_seed(check_int(seed, "seed", low=0))
        return torch.randn((n, self.ambient_dim_), generator=gen, dtype=self.map_.dtype)

    sample_latent = latent

    def transport(self, z, t: float = 0.0, s: float | None = None) -> np.ndarray:
        """``g(t, s, z)`` (default ``g(0, T, z)``) for numpy or torch ``z``; numpy float64 out."""
        self._check_fitted()
        s = self.config.T if s is None else float(s)
        zt = z if _xp.is_torch(z) else torch.as_tensor(
            as_points(z, "z", self.ambient_dim_), dtype=self.map_.dtype)
        with torch.no_grad():
            out = self.map_(float(t), s, zt.to(self.map_.dtype))
        integrators.check_finite_state(out, "CharGen map", "non-finite state")
        return out.double().numpy()

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """One-step sampling ``g(0, T, z)``, ``z ~ N(0, I_D)`` (NFE = 1); ``(n, D)`` float64."""
        return self.transport(self.latent(n, seed))

    def rollout(self, z, n_steps: int | None = None) -> np.ndarray:
        """Euler characteristics of the learned velocity from ``z`` to ``T`` (numpy float64)."""
        self._check_fitted()
        z = as_points(z, "z", self.ambient_dim_)
        return euler_rollout(self.velocity, z, self.config.T, n_steps or self.config.n_steps)


# ---------------------------------------------------------------------------- diagnostics
def _rms(a, b) -> float:
    return float(np.sqrt(np.mean(np.sum((np.asarray(a) - np.asarray(b)) ** 2, axis=1))))


def horizon_rms(x1, z, T: float) -> float:
    """Coupled RMS ``sqrt(E|X_T - X_1|^2)`` with ``X_T = T X_1 + a_T Z`` (same ``X_1``).

    An upper bound on ``W2(mu_T, mu_1)``; its expectation is
    ``sqrt((1 - T)^2 E|X_1|^2 + (1 - T^2) D)`` [derived; THEORY.md §6].
    """
    T = check_in_open_interval(T, "T", 0.0, 1.0)
    x1 = as_points(x1, "x1")
    z = as_points(z, "z", x1.shape[1])
    return _rms(T * x1 + math.sqrt(1 - T * T) * z, x1)


def error_decomposition(model: CharGen, manifold, n: int = 1000, seed: int = 0,
                        n_ref_steps: int | None = None, jitter: float = 0.0) -> dict:
    """Measure the four error terms of the characteristic generator, term by term.

    Returns a dict with ``velocity``, ``euler``, ``fitting``, ``horizon`` (coupled RMS
    distances, see the module docstring), ``sum`` (their sum, an upper bound on the W2 of
    the generator to the data law by the triangle inequality) and ``horizon_bound``
    ``sqrt((1 - T)^2 E|X_1|^2 + (1 - T^2) D)`` (evaluated with a sample of ``X_1``).

    Parameters
    ----------
    model : CharGen (fitted)
    manifold : Manifold
        Provides the oracle velocity and samples of ``X_1`` (plus ``jitter``).
    n : int
        Number of latent points ``z`` (common to every term).
    seed : int
    n_ref_steps : int, optional
        Midpoint steps of the reference flow (default ``8 K``).
    jitter : float
        Jitter ``s0`` of the data law seen by the oracle.
    """
    model._check_fitted()
    n = check_int(n, "n", low=2)
    cfg = model.config
    K = cfg.n_steps
    n_ref = check_int(n_ref_steps or 8 * K, "n_ref_steps", low=1)
    z = model.latent(n, seed).double().numpy()
    oracle = lambda x, s: oracle_velocity(manifold, x, s, jitter)  # noqa: E731
    x_learned = model.rollout(z)
    x_oracle = euler_rollout(oracle, z, cfg.T, K)
    x_ref = midpoint_rollout(oracle, z, cfg.T, n_ref)
    x_map = model.transport(z)
    rng = np.random.default_rng(seed)
    x1 = manifold.sample(n, rng)
    if jitter > 0:
        x1 = x1 + jitter * rng.standard_normal(x1.shape)
    z2 = rng.standard_normal(x1.shape)
    T = cfg.T
    out = {
        "velocity": _rms(x_learned, x_oracle),
        "euler": _rms(x_oracle, x_ref),
        "fitting": _rms(x_map, x_learned),
        "horizon": horizon_rms(x1, z2, T),
        "horizon_bound": math.sqrt((1 - T) ** 2 * np.mean(np.sum(x1**2, 1))
                                   + (1 - T * T) * x1.shape[1]),
    }
    out["sum"] = out["velocity"] + out["euler"] + out["fitting"] + out["horizon"]
    return out


def semigroup_defect(model: CharGen, n: int = 1000, seed: int = 0) -> float:
    """RMS semigroup defect ``sqrt(E|g(u, s, g(t, u, x)) - g(t, s, x)|^2)``.

    ``0 <= t < u < s <= T`` are sorted uniform draws (one triple per point) and ``x = g(0, t, z)``
    with ``z ~ N(0, I)`` (the model's own state at time ``t``). Zero for an exact flow map.
    """
    model._check_fitted()
    n = check_int(n, "n", low=1)
    z = model.latent(n, seed)
    gen = torch.Generator().manual_seed(check_int(seed, "seed", low=0) + 1)
    ts = torch.sort(model.config.T * torch.rand((n, 3), generator=gen, dtype=z.dtype), 1)[0]
    t, u, s = ts[:, 0], ts[:, 1], ts[:, 2]
    g = model.map_
    with torch.no_grad():
        x = g(torch.zeros_like(t), t, z)
        two = g(u, s, g(t, u, x))
        one = g(t, s, x)
    return float(torch.sqrt(((two - one) ** 2).sum(1).mean()))
