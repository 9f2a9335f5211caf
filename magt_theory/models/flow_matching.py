"""Conditional flow matching on the linear path, learned and oracle velocities [CdC].

Path (rectified-flow / linear interpolant, noise at ``s = 0``, data at ``s = 1``):

.. math::

    X_s = (1 - s) Z + s X_1,\\qquad Z \\sim N(0, I_D),\\ X_1 \\sim \\mu,\\qquad
    \\dot X_s = X_1 - Z .

The marginal velocity is the conditional expectation of ``X_1 - Z`` given ``X_s = x``; since
``Z = (x - s X_1)/(1 - s)`` on that event,

.. math::

    v(s, x) = \\mathbb E[X_1 - Z \\mid X_s = x] = \\frac{\\mathbb E[X_1 \\mid X_s = x] - x}{1 - s},

and ``E[X_1 | X_s = x]`` is the manifold's posterior mean at ``alpha = s``, ``sigma = 1 - s``
(``X_s = s X_1 + (1 - s) Z`` is a Gaussian smoothing with these scales) [derived; checked against
self-normalised Monte Carlo in ``tests/test_diffusion.py``]. This is the *oracle velocity*
(:func:`oracle_velocity`). The learned velocity (:class:`VelocityNetwork`) regresses
``X_1 - Z`` (CFM loss, Lipman et al. 2023) and is integrated with Euler or midpoint steps
(:func:`integrate`). CdC's alignment analysis covers this dynamics too.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from torch import nn

from .. import _xp
from ._step import optimizer_step
from .._validation import as_points, check_int, check_positive
from . import integrators
from .diffusion import SamplerOutput, _check_init, prior_noise

log = logging.getLogger(__name__)

__all__ = [
    "S_FLOOR",
    "oracle_velocity",
    "OracleVelocity",
    "VelocityNetwork",
    "train_flow_matching",
    "cfm_loss",
    "s_grid",
    "integrate",
    "sample",
]

#: at ``s < S_FLOOR`` the oracle posterior mean is evaluated at ``alpha = S_FLOOR`` (``s = 0`` has
#: ``alpha = 0``, where the posterior is the prior mean); relative error ``O(S_FLOOR)``.
S_FLOOR = 1e-6


def oracle_velocity(manifold, x, s: float) -> np.ndarray:
    """Exact marginal velocity of the linear path for a known manifold.

    .. math:: v(s, x) = \\frac{m(x) - x}{1 - s},\\qquad
        m(x) = \\mathbb E[X_1 \\mid s X_1 + (1 - s) Z = x]

    Parameters
    ----------
    manifold : Manifold
        Provides ``posterior_mean(y, sigma, alpha)``.
    x : (n, D) array_like
    s : float in [0, 1)
        Path time (0: noise, 1: data). Below :data:`S_FLOOR` the posterior mean is taken at
        ``alpha = S_FLOOR``.

    Returns
    -------
    (n, D) ndarray, float64
    """
    s = float(s)
    if not (math.isfinite(s) and 0.0 <= s < 1.0):
        raise ValueError(f"s must lie in [0, 1); got {s!r}")
    if not hasattr(manifold, "posterior_mean"):
        raise TypeError(f"manifold must be a magt_theory Manifold; got {type(manifold).__name__}")
    x = as_points(x, "x", manifold.ambient_dim)
    a = max(s, S_FLOOR)
    m = manifold.posterior_mean(x, 1.0 - s, a)
    return (m - x) / (1.0 - s)


class OracleVelocity:
    """Callable ``v(x, s)`` wrapping :func:`oracle_velocity` (numpy); counts calls in ``calls``."""

    def __init__(self, manifold):
        if not hasattr(manifold, "posterior_mean"):
            raise TypeError(
                f"manifold must be a magt_theory Manifold; got {type(manifold).__name__}")
        self.manifold = manifold
        self.calls = 0

    def __call__(self, x, s):
        self.calls += 1
        return oracle_velocity(self.manifold, x, s)


class VelocityNetwork(nn.Module):
    """MLP velocity ``v_theta(s, x)``: input ``[x, s, sin(2 pi j s), cos(2 pi j s)]``, output R^D.

    Parameters
    ----------
    dim : int
        Ambient dimension ``D``.
    width, depth, activation, dtype
        Passed to :class:`magt_theory.models.mlp.MLP`.
    n_freq : int
        Number of Fourier features of ``s``.
    """

    def __init__(self, dim: int, width: int = 128, depth: int = 3, n_freq: int = 4,
                 activation: str = "silu", dtype="float32"):
        super().__init__()
        from .mlp import MLP, resolve_dtype

        self.dim = check_int(dim, "dim", low=1)
        self.n_freq = check_int(n_freq, "n_freq", low=0)
        dt = resolve_dtype(dtype)
        self.register_buffer("freqs", 2 * math.pi * torch.arange(1, self.n_freq + 1, dtype=dt))
        self.net = MLP(self.dim + 1 + 2 * self.n_freq, self.dim, width=width, depth=depth,
                       activation=activation, dtype=dt)
        self.train_losses_: list[float] = []

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def _feats(self, s: torch.Tensor) -> torch.Tensor:
        arg = s[..., None] * self.freqs
        return torch.cat([s[..., None], torch.sin(arg), torch.cos(arg)], dim=-1)

    def forward(self, x: torch.Tensor, s) -> torch.Tensor:
        """``v_theta(s, x)``; ``s`` a scalar or a tensor broadcastable to ``x.shape[:-1]``."""
        s_t = torch.as_tensor(s, dtype=x.dtype, device=x.device).expand(x.shape[:-1])
        return self.net(torch.cat([x, self._feats(s_t)], dim=-1))

    def velocity(self, x, s):
        """Numpy in -> numpy float64 out (no grad); torch in -> torch out."""
        if _xp.is_torch(x):
            return self(x, float(s))
        with torch.no_grad():
            return self(torch.as_tensor(np.asarray(x), dtype=self.dtype), float(s)).double().numpy()


def train_flow_matching(data, *, steps: int = 2000, batch_size: int = 512, lr: float = 2e-3,
                        width: int = 128, depth: int = 3, n_freq: int = 4, dtype="float32",
                        seed: int = 0, net: VelocityNetwork | None = None,
                        progress: bool = False) -> VelocityNetwork:
    """Train a :class:`VelocityNetwork` by conditional flow matching on the linear path.

    .. math:: \\min_\\theta\\ \\mathbb E_{s \\sim U[0,1],\\, Z,\\, X_1}
        |v_\\theta(s, (1-s) Z + s X_1) - (X_1 - Z)|^2

    (independent coupling; Adam with cosine decay; history in ``net.train_losses_``).

    Raises
    ------
    FloatingPointError
        If the loss becomes NaN or inf.
    """
    data = as_points(data, "data")
    steps = check_int(steps, "steps", low=1)
    batch_size = check_int(batch_size, "batch_size", low=1)
    lr = check_positive(lr, "lr")
    seed = check_int(seed, "seed", low=0)
    n, D = data.shape
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        if net is None:
            net = VelocityNetwork(D, width=width, depth=depth, n_freq=n_freq, dtype=dtype)
        elif not isinstance(net, VelocityNetwork) or net.dim != D:
            raise TypeError(f"net must be a VelocityNetwork of dim {D}; got {net!r}")
        x1_all = torch.as_tensor(data, dtype=net.dtype)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr * 0.05)
        net.train()
        from tqdm.auto import tqdm

        for _ in tqdm(range(steps), disable=not progress, desc="CFM"):
            x1 = x1_all[torch.randint(0, n, (min(batch_size, n),))]
            z = torch.randn_like(x1)
            s = torch.rand(x1.shape[0], dtype=x1.dtype)
            xs = (1 - s)[:, None] * z + s[:, None] * x1
            loss = ((net(xs, s) - (x1 - z)) ** 2).sum(1).mean()
            optimizer_step(loss, opt, sched, net.train_losses_, "flow-matching")
        net.eval()
    return net


def cfm_loss(velocity, x1, z, s: float):
    """CFM loss ``mean |v(s, x_s) - (x1 - z)|^2`` at one ``s`` (numpy), with its standard error.

    The oracle velocity minimises it (it is the conditional expectation of the target).
    """
    x1 = as_points(x1, "x1")
    z = as_points(z, "z", x1.shape[1])
    if z.shape != x1.shape:
        raise ValueError(f"z must have the shape of x1 {x1.shape}; got {z.shape}")
    xs = (1 - s) * z + s * x1
    per = np.sum((np.asarray(velocity(xs, s), dtype=np.float64) - (x1 - z)) ** 2, axis=1)
    return float(per.mean()), float(per.std(ddof=1) / math.sqrt(per.size))


def s_grid(n_steps: int, s_max: float = 1.0) -> np.ndarray:
    """Uniform grid ``0 = s_0 < ... < s_N = s_max`` (``s_max <= 1``)."""
    n_steps = check_int(n_steps, "n_steps", low=1)
    s_max = float(s_max)
    if not (0.0 < s_max <= 1.0):
        raise ValueError(f"s_max must lie in (0, 1]; got {s_max!r}")
    return np.linspace(0.0, s_max, n_steps + 1)


def integrate(velocity, x_init, grid, *, method: str = "midpoint",
              return_trajectory: bool = False) -> SamplerOutput:
    """Integrate ``dx/ds = v(x, s)`` from ``s_0`` to ``s_N`` with Euler or explicit midpoint.

    Euler: ``x' = x + h v(x, s)`` (1 NFE/step). Midpoint:
    ``x' = x + h v(x + (h/2) v(x, s), s + h/2)`` (2 NFE/step). Neither evaluates ``v`` at ``s = 1``
    (where the oracle velocity is singular); an Euler step that ends at ``s = 1`` lands exactly on
    the posterior mean ``m(x)`` for the oracle velocity.

    Parameters
    ----------
    velocity : Manifold, VelocityNetwork or callable ``(x, s) -> v``
        A manifold gives :class:`OracleVelocity`.
    x_init : (n, D) ndarray or torch.Tensor
        Points at ``s_0`` (noise for ``s_0 = 0``).
    grid : (N + 1,) array_like
        Strictly increasing times in ``[0, 1]`` (:func:`s_grid`).
    method : {"euler", "midpoint"}
    """
    if isinstance(velocity, VelocityNetwork):
        velocity = velocity.velocity
    elif hasattr(velocity, "posterior_mean") and hasattr(velocity, "ambient_dim"):
        velocity = OracleVelocity(velocity)
    elif not callable(velocity):
        raise TypeError(f"velocity must be callable as v(x, s); got {type(velocity).__name__}")
    integrators.get_solver(method, "velocity")  # "euler" (order 1) or "midpoint" (order 2)
    g = np.asarray(grid, dtype=np.float64)
    if g.ndim != 1 or g.size < 2 or not np.all(np.isfinite(g)) or g[0] < 0 or g[-1] > 1 \
            or np.any(np.diff(g) <= 0):
        raise ValueError("grid must be a strictly increasing 1-d array in [0, 1] with >= 2 entries")
    x = _check_init(x_init)
    x, nfe, traj, seconds = integrators.integrate(
        velocity, x, g, method, return_trajectory=return_trajectory, where="flow-matching step")
    return SamplerOutput(x, nfe, g, traj, seconds)


def sample(velocity, n: int, dim: int, *, n_steps: int = 20, method: str = "midpoint",
           seed=0) -> SamplerOutput:
    """``n`` samples from ``N(0, I_dim)`` noise integrated over ``s in [0, 1]`` (uniform grid).

    NFE is ``n_steps`` (Euler) or ``2 n_steps`` (midpoint).
    """
    return integrate(velocity, prior_noise(n, dim, seed), s_grid(n_steps), method=method)
