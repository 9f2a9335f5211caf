"""The :class:`ProximalFlow` estimator: training loop, sampling and diagnostics [W1W2].

Part of :mod:`magt_theory.models.proximal_flow` (re-exported there; the model and its
optimality system are described in its docstring).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from ..._validation import as_points, check_int
from .. import integrators
from .._protocol import GenerativeModel
from .._step import optimizer_step
from ..mlp import resolve_dtype
from ._config import ProximalFlowConfig
from ._flow import (euler_flow, hj_residual, hj_residual_discrete, kinetic_energy, max_speed,
                    step_size_invariance, straightness)
from ._networks import _Critic, _Potential, dv_divergence, one_sided_gradient_penalty

log = logging.getLogger(__name__)



class ProximalFlow(GenerativeModel):
    """W1⊕W2 proximal flow generator [W1W2] (see :mod:`magt_theory.models.proximal_flow`).

    Attributes (after ``fit``)
    --------------------------
    potential_net_, critic_ : torch.nn.Module
    history_ : pandas.DataFrame
        ``step, dv, kinetic, gp, grad_phi_max`` every ``log_every`` generator steps.
    diverged_ : bool
        A loss became non-finite (only with ``on_nonfinite="stop"``); ``diverged_step_``.
    seconds_ : float
    """

    config_class = ProximalFlowConfig
    _networks = ("potential_net_", "critic_")

    @property
    def nfe(self) -> int:
        """Euler steps per sample (one ``grad U`` evaluation each)."""
        return self.config.n_steps

    def _build(self, ambient_dim: int, extra: dict | None = None) -> None:
        cfg = self.config
        dt = resolve_dtype(cfg.dtype)
        with torch.random.fork_rng():
            torch.manual_seed(cfg.seed)
            self.potential_net_ = _Potential(ambient_dim, cfg.width, cfg.depth, cfg.activation,
                                             dt)
            self.critic_ = _Critic(ambient_dim, cfg.width, cfg.depth, cfg.activation, dt)
        self.ambient_dim_ = int(ambient_dim)

    # ----------------------------------------------------------------- fields
    def potential(self, x: torch.Tensor, t) -> torch.Tensor:
        """``U(x, t) = lambda N_theta([x, t])`` (torch, differentiable), shape ``(n,)``."""
        self._check_fitted()
        return self.config.lam * self.potential_net_(x, t)

    def _velocity(self, x: torch.Tensor, t, create_graph: bool) -> torch.Tensor:
        with torch.enable_grad():
            xx = x if x.requires_grad else x.detach().requires_grad_(True)
            g = torch.autograd.grad(self.potential_net_(xx, t).sum(), xx,
                                    create_graph=create_graph)[0]
        return -g

    def velocity(self, x: torch.Tensor, t) -> torch.Tensor:
        """``v = -grad_x U / lambda`` at ``(x, t)`` (torch, detached)."""
        self._check_fitted()
        return self._velocity(x.detach(), t, False).detach()

    def discriminator(self, x: torch.Tensor) -> torch.Tensor:
        """``phi(x)``, shape ``(n,)``."""
        self._check_fitted()
        return self.critic_(x)

    # ----------------------------------------------------------------- training
    def fit(self, data, progress: bool = False, on_nonfinite: str = "raise") -> "ProximalFlow":
        """Alternate ``critic_steps`` discriminator ascents and one generator descent.

        Parameters
        ----------
        data : (n, D) array_like
        on_nonfinite : {"raise", "stop"}
            A non-finite loss raises FloatingPointError, or stops training with
            ``diverged_ = True`` (the W2-only ablation is *expected* to break).
        """
        import pandas as pd

        if on_nonfinite not in ("raise", "stop"):
            raise ValueError(f"on_nonfinite must be 'raise' or 'stop'; got {on_nonfinite!r}")
        cfg = self.config
        x_all = as_points(data, "data")
        n, D = x_all.shape
        dt = resolve_dtype(cfg.dtype)
        self._build(D)
        gen = torch.Generator().manual_seed(cfg.seed)
        X = torch.as_tensor(x_all, dtype=dt)
        opt_g = torch.optim.Adam(self.potential_net_.parameters(), lr=cfg.lr, betas=(0.5, 0.9))
        opt_d = torch.optim.Adam(self.critic_.parameters(), lr=cfg.lr, betas=(0.5, 0.9))
        B, h = cfg.batch_size, cfg.T / cfg.n_steps
        hist = {"step": [], "dv": [], "kinetic": [], "gp": [], "grad_phi_max": []}
        self.diverged_, self.diverged_step_ = False, None
        t0 = time.perf_counter()

        grid = [k * h for k in range(cfg.n_steps + 1)]

        def rollout(z, create_graph):
            """Euler on ``(x, KE)``: ``x' = v``, ``KE' = |v|^2 / 2`` (one grad U per step)."""
            def f(y, t):
                v = self._velocity(y[:, :D], t, create_graph)
                return torch.cat([v, 0.5 * (v * v).sum(1, keepdim=True)], 1)

            y0 = torch.cat([z, torch.zeros((z.shape[0], 1), dtype=dt)], 1)
            y = integrators.integrate(f, y0, grid, "euler", where="proximal flow: Euler step")[0]
            return y[:, :D], y[:, D]

        for step in range(cfg.steps):
            try:
                # one rollout per step; the critic ascends on its (detached) end points
                z = torch.randn((B, D), generator=gen, dtype=dt)
                xT, ke = rollout(z, True)
                xg = xT.detach()
                for _ in range(cfg.critic_steps):
                    xd = X[torch.randint(0, n, (B,), generator=gen)]
                    dv = dv_divergence(self.critic_(xg), self.critic_(xd))
                    gp = (one_sided_gradient_penalty(self.critic_, xg, xd, cfg.L, gen)
                          if cfg.lipschitz else torch.zeros((), dtype=dt))
                    loss_d = -dv + cfg.gp_weight * gp
                    optimizer_step(loss_d, opt_d, what=f"discriminator (step {step})")
                # generator descent on E phi(x_T) + lambda * KE
                loss_g = self.critic_(xT).mean()
                if cfg.kinetic:
                    loss_g = loss_g + cfg.lam * ke.mean()
                if not torch.isfinite(loss_g):
                    raise FloatingPointError(f"generator loss non-finite at step {step}")
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                opt_d.zero_grad(set_to_none=True)  # the generator step must not leak into phi
                opt_g.step()
            except FloatingPointError:
                if on_nonfinite == "raise":
                    raise
                self.diverged_, self.diverged_step_ = True, step
                log.warning("ProximalFlow(%s): training diverged at step %d", cfg.variant, step)
                break
            if step % cfg.log_every == 0 or step == cfg.steps - 1:
                xq = xd.detach().clone().requires_grad_(True)
                gphi = torch.autograd.grad(self.critic_(xq).sum(), xq)[0].norm(dim=1).max()
                hist["step"].append(step)
                hist["dv"].append(float(dv.detach()))
                hist["kinetic"].append(float(ke.detach().mean()))
                hist["gp"].append(float(gp.detach()))
                hist["grad_phi_max"].append(float(gphi))
        self.history_ = pd.DataFrame(hist)
        self.seconds_ = time.perf_counter() - t0
        for p in list(self.potential_net_.parameters()) + list(self.critic_.parameters()):
            p.requires_grad_(False)
        return self

    # ----------------------------------------------------------------- sampling
    def latent(self, n: int, seed: int = 0) -> torch.Tensor:
        """``n`` draws ``z ~ N(0, I_D)`` from ``seed`` (torch, model dtype)."""
        self._check_fitted()
        gen = torch.Generator().manual_seed(check_int(seed, "seed", low=0))
        dt = next(self.potential_net_.parameters()).dtype
        return torch.randn((check_int(n, "n", low=1), self.ambient_dim_), generator=gen, dtype=dt)

    sample_latent = latent

    def trajectory(self, n: int, seed: int = 0, n_steps: int | None = None) -> np.ndarray:
        """Euler states ``(K + 1, n, D)`` from ``z ~ N(0, I)`` (numpy float64)."""
        _, tr = euler_flow(self.velocity, self.latent(n, seed), self.config.T,
                           n_steps or self.config.n_steps, return_trajectory=True)
        return tr.double().numpy()

    def sample(self, n: int, seed: int = 0, n_steps: int | None = None) -> np.ndarray:
        """``x(T)`` by forward Euler with ``n_steps`` (default ``K``) steps; NFE = ``n_steps``."""
        return euler_flow(self.velocity, self.latent(n, seed), self.config.T,
                          n_steps or self.config.n_steps).double().numpy()

    # ----------------------------------------------------------------- diagnostics
    def diagnostics(self, data, n: int = 1000, seed: int = 0, factors=(1, 2, 4)) -> dict:
        """Kinetic energy, speed, straightness, HJ/terminal residuals, step-size invariance.

        Returns a dict of floats: ``kinetic_energy``, ``kinetic_bound`` (``T L^2/(2 lambda^2)``),
        ``max_speed``, ``speed_bound`` (``L/lambda``), ``straightness`` (mean),
        ``hj_residual_rms`` (raw), ``hj_residual_centred_rms`` (the residual minus its mean
        over particles at each time) and ``hj_residual_rel`` (the centred one divided by the RMS
        of ``|grad U|^2/(2 lambda)``) over trajectory states, ``hj_residual_step_rel`` (the
        step-integrated residual of :func:`hj_residual_discrete`, which needs no ``d_t U``
        and vanishes at the optimum for every ``h``, over the RMS of the potential's own
        Hamiltonian increment ``h |grad U(x_k, t_k)|^2 / (2 lambda)``, so that a velocity that is
        not ``-grad U / lambda`` shows), ``acceleration_rel``
        (``T`` times the RMS material acceleration ``|x_{k+2} - 2 x_{k+1} + x_k|/h^2`` over the
        RMS speed; 0 for straight constant-speed motion, which is what ``grad r = lambda
        (d_t v + (v . grad) v)`` says for ``r = 0``), ``terminal_residual_rms`` and
        ``terminal_residual_rel`` (``|grad phi - grad U(., T)|`` at ``x_T``, relative to the RMS
        of ``|grad phi|``), ``step_rms_h``, ``step_rms_h2`` (RMS distance of the samples with
        ``h`` and ``h/2`` to those with the finest step), ``step_rel_h`` (the first divided by
        the RMS displacement ``|x_T - x_0|``), ``dv`` (DV objective on the samples vs ``data``)
        and ``grad_phi_max``.
        """
        self._check_fitted()
        cfg = self.config
        x_data = as_points(data, "data", self.ambient_dim_)
        tr = self.trajectory(n, seed)
        out = {
            "kinetic_energy": kinetic_energy(tr, cfg.T),
            "kinetic_bound": cfg.T * cfg.L**2 / (2 * cfg.lam**2),
            "max_speed": max_speed(tr, cfg.T),
            "speed_bound": cfg.L / cfg.lam,
            "straightness": float(np.mean(straightness(tr))),
        }
        dt = next(self.potential_net_.parameters()).dtype
        K = tr.shape[0] - 1
        res, scale = [], []
        for k in range(K):
            xk = torch.as_tensor(tr[k], dtype=dt)
            res.append(hj_residual(self.potential, xk, k * cfg.T / K, cfg.lam))
            gu = self.potential_net_(xk.requires_grad_(True), k * cfg.T / K)
            g = torch.autograd.grad(gu.sum(), xk)[0] * cfg.lam
            scale.append(((g * g).sum(1) / (2 * cfg.lam)).double().numpy())
        if K >= 2:  # integrated over each Euler step: exact zero at the optimum for any h
            rd = hj_residual_discrete(self.potential, tr, cfg.T, cfg.lam, dtype=dt)
            inc = np.concatenate(scale[: K - 1]) * cfg.T / K  # h |grad U|^2 / (2 lambda)
            out["hj_residual_step_rel"] = float(np.sqrt(np.mean(rd**2))
                                                / max(np.sqrt(np.mean(inc**2)), 1e-300))
        centred = np.concatenate([r - r.mean() for r in res])
        res, scale = np.concatenate(res), np.concatenate(scale)
        out["hj_residual_rms"] = float(np.sqrt(np.mean(res**2)))
        out["hj_residual_centred_rms"] = float(np.sqrt(np.mean(centred**2)))
        out["hj_residual_rel"] = out["hj_residual_centred_rms"] / max(
            float(np.sqrt(np.mean(scale**2))), 1e-300)
        if K >= 2:
            h = cfg.T / K
            acc = np.linalg.norm(np.diff(tr, n=2, axis=0), axis=2) / h**2
            speed = np.linalg.norm(np.diff(tr, axis=0), axis=2) / h
            out["acceleration_rel"] = float(cfg.T * np.sqrt(np.mean(acc**2))
                                            / max(np.sqrt(np.mean(speed**2)), 1e-300))
        xT = torch.as_tensor(tr[-1], dtype=dt).requires_grad_(True)
        gphi = torch.autograd.grad(self.critic_(xT).sum(), xT)[0]
        xT2 = torch.as_tensor(tr[-1], dtype=dt).requires_grad_(True)
        gU = torch.autograd.grad(self.potential(xT2, cfg.T).sum(), xT2)[0]
        tres = np.sqrt(np.mean(((gphi - gU) ** 2).sum(1).double().numpy()))
        out["terminal_residual_rms"] = float(tres)
        out["terminal_residual_rel"] = float(
            tres / max(float(np.sqrt(np.mean((gphi**2).sum(1).double().numpy()))), 1e-300))
        inv = step_size_invariance(self.velocity, self.latent(n, seed), cfg.T, cfg.n_steps,
                                   factors)
        disp = float(np.sqrt(np.mean(np.sum((tr[-1] - tr[0]) ** 2, 1))))
        out["step_rms_h"] = inv["rms_to_finest"][0]
        out["step_rms_h2"] = inv["rms_to_finest"][1]
        out["step_rel_h"] = out["step_rms_h"] / max(disp, 1e-300)
        with torch.no_grad():
            xd = torch.as_tensor(x_data, dtype=dt)
            out["dv"] = float(dv_divergence(self.critic_(torch.as_tensor(tr[-1], dtype=dt)),
                                            self.critic_(xd)))
        xq = torch.as_tensor(x_data, dtype=dt).requires_grad_(True)
        out["grad_phi_max"] = float(
            torch.autograd.grad(self.critic_(xq).sum(), xq)[0].norm(dim=1).max())
        return out
