"""The characteristic generator: :class:`CharGenConfig` and :class:`CharGen` [CharGen]."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ... import _xp
from ..._validation import as_points, check_int
from .. import integrators
from .._protocol import (
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
from .._step import optimizer_step
from ..mlp import resolve_dtype
from ._networks import CharacteristicMap, FollmerMeanNetwork
from ._oracle import velocity_from_mean
from ._rollouts import _time_grid, euler_rollout

log = logging.getLogger("magt_theory.models.chargen")


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
