"""W1⊕W2 proximal generative flow and its W1-only / W2-only ablations [W1W2].

The generator moves particles ``x(0) = z ~ N(0, I_D)`` with a potential velocity
``v = -grad U / lambda`` for a time ``T`` (forward Euler, ``K`` steps of size ``h = T/K``) and is
trained on

.. math::

    \\inf_{U} \\sup_{\\phi \\in \\mathrm{Lip}_L}
        \\Big\\{ \\mathbb E_{\\rho_T} \\phi - \\log \\mathbb E_{\\pi} e^{\\phi} \\Big\\}
        + \\lambda\\, \\mathbb E \\int_0^T \\frac{|v(x(t), t)|^2}{2}\\, dt :

a Lipschitz-regularised KL divergence between the generated law ``rho_T`` and the data ``pi``
(Donsker–Varadhan dual, W1 proximal; the Lipschitz constraint is a one-sided gradient penalty
``E relu(|grad phi(x_hat)| - L)^2`` at random interpolates ``x_hat``) plus the kinetic energy
(W2 proximal). Ablations: ``"w1"`` drops the kinetic term, ``"w2"`` drops the Lipschitz
constraint (plain KL, ill-posed once the data have positive codimension).

Optimality [derived here, see below]: with the multiplier ``-U`` of the continuity equation
``d_t rho + div(rho v) = 0``, stationarity in ``v``, ``rho_t`` and ``rho_T`` gives

.. math::

    v = -\\frac{\\nabla U}{\\lambda},\\qquad
    -\\partial_t U + \\frac{|\\nabla U|^2}{2\\lambda} = 0,\\qquad U(\\cdot, T) = \\phi^*,

(the Lagrangian is ``E int [lambda |v|^2/2 + d_t U + grad U . v] - E U(x_T, T) + D(rho_T)``;
``delta/delta v`` gives ``lambda v + grad U = 0`` and ``delta/delta rho`` gives
``d_t U - |grad U|^2/(2 lambda) = 0``). Along characteristics ``d/dt grad U(x(t), t) = 0``, so
trajectories are straight, ``x(t) = x(T) + (T - t)/lambda grad phi*(x(T))``, with speed
``|grad phi*|/lambda <= L/lambda`` and kinetic energy ``<= T L^2/(2 lambda^2)``.

Diagnostics (:meth:`ProximalFlow.diagnostics`): kinetic energy and its bound, maximal speed vs
``L/lambda``, straightness ``|x_K - x_0| / sum_k |x_{k+1} - x_k|``, the HJ residual
``-d_t U + |grad U|^2/(2 lambda)`` (:func:`hj_residual`; exact solutions include
``U = lambda |x|^2 / (2 (C - t))``) and its integral over each Euler step
(:func:`hj_residual_discrete`: no ``d_t U`` needed, exactly 0 at the optimum for every step), the terminal residual ``|grad phi - grad U(., T)|`` and
step-size invariance (:func:`step_size_invariance`: Euler with ``h``, ``h/2``, ``h/4``).

The potential network is ``U(x, t) = lambda N_theta([x, t])``, so ``v = -grad_x N_theta``
(the scale of ``lambda`` stays out of the optimisation). The training objective sees ``U`` only
through ``grad_x U``: ``U -> U + c(t)`` changes the HJ residual by ``-c'(t)`` and nothing else,
so the diagnostics report the residual *centred* over particles at each time (gauge free) next
to the raw one; its gradient ``grad_x r = lambda (d_t v + (v . grad) v)`` is ``lambda`` times the
material acceleration, which the ``acceleration_rel`` diagnostic measures along trajectories.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .._validation import as_points, check_int, check_positive
from . import integrators
from ._protocol import (
    GenerativeModel,
    ModelConfig,
    activation_field,
    choice,
    dtype_field,
    integer,
    positive,
)
from ._step import optimizer_step
from .mlp import MLP, resolve_dtype

log = logging.getLogger(__name__)

__all__ = [
    "VARIANTS",
    "ProximalFlowConfig",
    "ProximalFlow",
    "euler_flow",
    "hj_residual",
    "hj_residual_discrete",
    "straightness",
    "kinetic_energy",
    "max_speed",
    "step_size_invariance",
    "dv_divergence",
    "one_sided_gradient_penalty",
]

#: variant -> (kinetic term on, Lipschitz penalty on)
VARIANTS = {"w1w2": (True, True), "w1": (False, True), "w2": (True, False)}


# -------------------------------------------------------------------------- generic pieces
def euler_flow(velocity, z: torch.Tensor, T: float, n_steps: int,
               return_trajectory: bool = False):
    """Forward Euler ``x_{k+1} = x_k + h v(x_k, t_k)``, ``h = T/K``, ``t_k = k h``, ``x_0 = z``.

    Parameters
    ----------
    velocity : callable ``(x, t) -> v`` on torch tensors (``t`` a float)
    z : (n, D) torch.Tensor
    T : float > 0
    n_steps : int >= 1
    return_trajectory : bool
        Also return the states ``(K + 1, n, D)``.
    """
    T = check_positive(T, "T")
    n_steps = check_int(n_steps, "n_steps", low=1)
    h = T / n_steps
    x, _, traj, _ = integrators.integrate(velocity, z, [k * h for k in range(n_steps + 1)],
                                          "euler", return_trajectory=return_trajectory,
                                          where="proximal flow: Euler step")
    return (x, torch.stack(traj)) if return_trajectory else x


def hj_residual(potential, x, t: float, lam: float) -> np.ndarray:
    """Hamilton–Jacobi residual of the W1⊕W2 optimality system [W1W2].

    .. math:: r(x, t) = -\\partial_t U(x, t) + \\frac{|\\nabla_x U(x, t)|^2}{2 \\lambda}

    Zero for an optimal potential; e.g. ``U = lambda |x|^2 / (2 (C - t))`` (``C > t``) solves it
    exactly, while ``lambda |x|^2 / (2 (C + t))`` solves the equation with the opposite sign.

    Parameters
    ----------
    potential : callable ``(x, t) -> (n,)`` on torch tensors, ``t`` a tensor of shape ``(n,)``
    x : (n, D) array_like or torch.Tensor
    t : float
    lam : float > 0

    Returns
    -------
    (n,) ndarray, float64
    """
    lam = check_positive(lam, "lam")
    xt = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x).detach()
    if not xt.is_floating_point():
        xt = xt.double()
    xt = xt.clone().requires_grad_(True)
    tt = torch.full((xt.shape[0],), float(t), dtype=xt.dtype, requires_grad=True)
    with torch.enable_grad():
        u = potential(xt, tt)
        gx, gt = torch.autograd.grad(u.sum(), (xt, tt))
    r = -gt + (gx * gx).sum(1) / (2.0 * lam)
    return r.detach().double().numpy()


def hj_residual_discrete(potential, trajectory, T: float, lam: float,
                         n_last: int | None = None, dtype=torch.float64) -> np.ndarray:
    """Hamilton–Jacobi residual integrated over each Euler step, centred per step [derived].

    .. math:: r_k(x_k) = U(x_{k+1}, t_{k+1}) - U(x_k, t_k)
                         + h \\frac{\\lambda}{2} \\Big|\\frac{x_{k+1} - x_k}{h}\\Big|^2
                         - \\overline{(\\ldots)}_k,\\qquad k = 0, \\ldots, K - 2,

    the bar being the mean over particles at step ``k``. Along an exact characteristic of
    ``-d_t U + |grad U|^2/(2 lambda) = 0`` the path is straight with constant velocity
    ``v = -grad U/lambda`` and ``d/ds U(x + s v, t + s) = d_t U + grad U . v
    = -lambda |v|^2/2``, so ``r_k = 0`` exactly, for every step ``h``, and Euler reproduces the
    path exactly: the residual has no discretisation error. It only uses ``U`` at the
    times ``t_k`` where training evaluates ``grad_x U`` (``k <= K - 1``), and the per-step
    centring removes the gauge ``U -> U + c(t)`` (the loss sees ``grad_x U`` only). The
    pointwise :func:`hj_residual` needs ``d_t U`` between those times, which no loss
    constrains.

    Parameters
    ----------
    potential : callable ``(x, t) -> (n,)`` on torch tensors (``t`` a float)
    trajectory : (K + 1, n, D) array_like
        Euler states ``x_k`` at ``t_k = k T / K``, ``K >= 2``.
    T, lam : float > 0
    n_last : int, optional
        Use only steps ``k <= n_last`` (default ``K - 2``: ``U(., T)`` is not trained).
    dtype : torch.dtype
        Dtype of the states handed to ``potential``.

    Returns
    -------
    (K - 1, n) ndarray, float64
        ``r_k`` per step and particle (multiply by nothing: same units as ``U``).
    """
    T, lam = check_positive(T, "T"), check_positive(lam, "lam")
    tr = np.asarray(trajectory, dtype=np.float64)
    if tr.ndim != 3 or tr.shape[0] < 3:
        raise ValueError(f"trajectory must have shape (K + 1, n, D) with K >= 2; got {tr.shape}")
    K = tr.shape[0] - 1
    h = T / K
    last = K - 2 if n_last is None else check_int(n_last, "n_last", low=0, high=K - 1)
    out = []
    with torch.no_grad():
        def u(k):
            return potential(torch.as_tensor(tr[k], dtype=dtype), k * h).double().numpy()

        u_k = u(0)
        for k in range(last + 1):
            u_next = u(k + 1)
            v = (tr[k + 1] - tr[k]) / h
            r = u_next - u_k + h * lam * np.sum(v * v, 1) / 2
            out.append(r - r.mean())
            u_k = u_next
    return np.stack(out)


def straightness(trajectory) -> np.ndarray:
    """Per-particle ``|x_K - x_0| / sum_k |x_{k+1} - x_k|`` in ``[0, 1]`` (1: a straight line).

    ``trajectory`` has shape ``(K + 1, n, D)``. Particles that do not move get 1.
    """
    tr = np.asarray(trajectory, dtype=np.float64)
    if tr.ndim != 3 or tr.shape[0] < 2:
        raise ValueError(f"trajectory must have shape (K + 1, n, D) with K >= 1; got {tr.shape}")
    steps = np.linalg.norm(np.diff(tr, axis=0), axis=2).sum(0)
    chord = np.linalg.norm(tr[-1] - tr[0], axis=1)
    out = np.ones_like(chord)
    moving = steps > 0
    out[moving] = chord[moving] / steps[moving]
    return out


def kinetic_energy(trajectory, T: float) -> float:
    """Mean kinetic energy ``E sum_k h |v_k|^2 / 2 = E sum_k |x_{k+1} - x_k|^2 / (2 h)``.

    Exact for the Euler scheme (``x_{k+1} - x_k = h v_k``); bound at the optimum
    ``T L^2 / (2 lambda^2)`` [W1W2].
    """
    tr = np.asarray(trajectory, dtype=np.float64)
    if tr.ndim != 3 or tr.shape[0] < 2:
        raise ValueError(f"trajectory must have shape (K + 1, n, D) with K >= 1; got {tr.shape}")
    h = check_positive(T, "T") / (tr.shape[0] - 1)
    return float(np.mean(np.sum(np.diff(tr, axis=0) ** 2, axis=(0, 2))) / (2 * h))


def max_speed(trajectory, T: float) -> float:
    """``max_{k, i} |x_{k+1, i} - x_{k, i}| / h`` (bound at the optimum: ``L / lambda``)."""
    tr = np.asarray(trajectory, dtype=np.float64)
    h = check_positive(T, "T") / (tr.shape[0] - 1)
    return float(np.max(np.linalg.norm(np.diff(tr, axis=0), axis=2)) / h)


def step_size_invariance(velocity, z: torch.Tensor, T: float, n_steps: int,
                         factors=(1, 2, 4)) -> dict:
    """Run Euler with step ``h / f`` for each ``f`` in ``factors`` from the same ``z``.

    Returns a dict with ``n_steps`` (``K f``), ``h`` (``T / (K f)``), ``samples`` (numpy) and
    ``rms_to_finest``: ``sqrt(E|x^{(h/f)} - x^{(h/f_max)}|^2)`` for each factor. Straight
    (optimal) trajectories make every Euler step exact, so the results do not depend on ``h``.
    """
    n_steps = check_int(n_steps, "n_steps", low=1)
    fs = [check_int(f, "factors entries", low=1) for f in factors]
    if len(fs) < 2 or len(set(fs)) != len(fs):
        raise ValueError(f"factors must hold at least 2 distinct integers >= 1; got {factors!r}")
    samples = [euler_flow(velocity, z, T, n_steps * f).detach().double().numpy() for f in fs]
    fine = samples[int(np.argmax(fs))]
    return {
        "factors": fs,
        "n_steps": [n_steps * f for f in fs],
        "h": [T / (n_steps * f) for f in fs],
        "samples": samples,
        "rms_to_finest": [float(np.sqrt(np.mean(np.sum((s - fine) ** 2, 1)))) for s in samples],
    }


def dv_divergence(phi_gen: torch.Tensor, phi_data: torch.Tensor) -> torch.Tensor:
    """Donsker–Varadhan objective ``E_gen phi - log E_data e^phi`` (KL(gen || data) >= it)."""
    return phi_gen.mean() - (torch.logsumexp(phi_data, 0) - math.log(phi_data.shape[0]))


def one_sided_gradient_penalty(disc, x_gen, x_data, L: float, gen=None) -> torch.Tensor:
    """``E relu(|grad phi(x_hat)| - L)^2``, ``x_hat = e x_gen + (1 - e) x_data``, ``e ~ U[0,1]``."""
    b = min(x_gen.shape[0], x_data.shape[0])
    e = torch.rand((b, 1), generator=gen, dtype=x_gen.dtype)
    xh = (e * x_gen[:b] + (1 - e) * x_data[:b]).detach().requires_grad_(True)
    g = torch.autograd.grad(disc(xh).sum(), xh, create_graph=True)[0]
    return torch.relu(g.norm(dim=1) - L).pow(2).mean()


# ------------------------------------------------------------------------------- the model
@dataclass(frozen=True)
class ProximalFlowConfig(ModelConfig):
    """Hyper-parameters of :class:`ProximalFlow` (validated on construction).

    Parameters
    ----------
    variant : {"w1w2", "w1", "w2"}
        Both proximals; W1 only (no kinetic term); W2 only (no Lipschitz penalty).
    lam : float > 0
        Kinetic weight ``lambda`` (also the scale of ``U``).
    L : float > 0
        Lipschitz level of the discriminator.
    T : float > 0
        Flow time.
    n_steps : int
        Euler steps ``K`` during training (and the default at sampling).
    gp_weight : float > 0
        Weight of the one-sided gradient penalty (ignored by ``"w2"``).
    width, depth, activation
        Both MLPs (potential ``N_theta(x, t)`` and discriminator ``phi(x)``); the potential
        needs a smooth activation (``grad U`` and ``d_t U`` are used).
    steps : int
        Generator updates.
    critic_steps : int
        Discriminator updates per generator update (on the end points of the generator's
        current rollout, detached, with fresh data batches).
    lr : float
        Adam learning rate of both networks; ``betas = (0.5, 0.9)``.
    batch_size : int
    log_every : int
        History stride.
    seed : int
    dtype : {"float32", "float64"}
    """

    variant: str = choice("w1w2", VARIANTS)
    lam: float = positive(0.05)
    L: float = positive(1.0)
    T: float = positive(1.0)
    n_steps: int = integer(10)
    gp_weight: float = positive(10.0)
    width: int = integer(128)
    depth: int = integer(3, low=0)
    activation: str = activation_field("silu")
    steps: int = integer(1000, low=0)
    critic_steps: int = integer(2)
    lr: float = positive(1e-3)
    batch_size: int = integer(256, low=2)
    log_every: int = integer(25)
    seed: int = integer(0, low=0)
    dtype: str = dtype_field("float32")

    def _validate(self):
        if self.activation == "relu":
            raise ValueError("activation must be smooth for the potential (d_t U, grad U); "
                             "choose one of silu, softplus, tanh, gelu, elu")

    @property
    def kinetic(self) -> bool:
        return VARIANTS[self.variant][0]

    @property
    def lipschitz(self) -> bool:
        return VARIANTS[self.variant][1]


class _Potential(nn.Module):
    def __init__(self, dim, width, depth, activation, dtype):
        super().__init__()
        self.net = MLP(dim + 1, 1, width=width, depth=depth, activation=activation, dtype=dtype)

    def forward(self, x, t):
        t = torch.as_tensor(t, dtype=x.dtype).expand(x.shape[:-1])
        return self.net(torch.cat([x, t[..., None]], -1))[..., 0]


class _Critic(nn.Module):
    def __init__(self, dim, width, depth, activation, dtype):
        super().__init__()
        self.net = MLP(dim, 1, width=width, depth=depth, activation=activation, dtype=dtype)

    def forward(self, x):
        return self.net(x)[..., 0]


class ProximalFlow(GenerativeModel):
    """W1⊕W2 proximal flow generator [W1W2] (see the module docstring).

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
