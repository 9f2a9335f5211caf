"""W1⊕W2 proximal flow and its ablations: the testable consequences of its optimality [W1W2].

One job trains :class:`magt_theory.models.proximal_flow.ProximalFlow` (``variant`` "w1w2",
"w1" or "w2") on ``n`` samples of a known manifold embedded in ``R^D`` and records, besides
``w2`` / ``w2_noise_floor`` (exact W2 of ``n_eval`` samples against clean samples):

- the optimality consequences: ``kinetic_energy`` vs ``kinetic_bound`` = ``T L^2/(2 lambda^2)``,
  ``max_speed`` vs ``speed_bound`` = ``L/lambda``, ``straightness``, ``hj_residual_rms``,
  ``hj_residual_centred_rms``, ``hj_residual_rel`` (pointwise), ``hj_residual_step_rel``
  (integrated over each Euler step: exactly 0 at the optimum for every step size),
  ``acceleration_rel``, ``terminal_residual_rel``;
- step-size invariance: ``step_rms_h``, ``step_rms_h2`` (RMS distance of samples drawn with
  ``h`` and ``h/2`` to those with ``h/4``, same noise) and ``step_rel_h`` (relative to the RMS
  displacement);
- well-posedness: ``dv`` (the Donsker–Varadhan estimate on fresh samples), ``dv_growth`` (mean DV
  over the last quarter of training over that of the second quarter), ``grad_phi_max``,
  ``diverged`` (1 if a loss became non-finite), and ``L_w1`` = ``L W1(generated, data)``, an
  upper bound on the Lipschitz-regularised KL (take the coupling ``gamma = data`` in
  ``D^L(P||Q) = inf_gamma KL(gamma||Q) + L W1(P, gamma)``) [derived].

Negative control (``control="curl"``): at sampling and in the diagnostics the velocity of a
flow trained *with* the kinetic term (variants ``"w1w2"`` and ``"w2"``; the ``"w1"`` reference
is left as trained) gets a non-potential rotation ``omega J x`` in the first two coordinates
(``J`` the quarter turn, ``omega T = pi/4``): trajectories turn by up to ``pi/4`` and the
velocity is no longer ``-grad U / lambda``, so the HJ residual and the straightness no longer
describe an optimal flow; the rows of :func:`magt_theory.claims.w1w2_rows` must turn
``inconsistent``.

Calibration against a closed form (``velocity_error_rel``, only for ``gaussian_subspace`` at
``D = d`` with zero mean): data ``N(0, diag(s_i^2))``, latents ``N(0, I)``, Lipschitz level
inactive (``|grad phi*| = lambda |v| << L``), so the optimum is the linear map ``x_T = a x_0``
per coordinate with ``a_i^2 (1/s_i^2 + lambda/T) - (lambda/T) a_i - 1 = 0`` (stationarity of
``KL(N(0, a^2) || N(0, s^2)) + lambda (1 - a)^2 / (2T)``), i.e. the exact HJ solution
``U = lambda sum_i c_i x_i^2 / (2 (T - c_i t))``, ``c_i = 1 - a_i``, with velocity
``v*_i(x, t) = -c_i x_i / (T - c_i t)`` [derived]. ``velocity_error_rel`` is
``RMS |v(x_k, t_k) - v*(x_k, t_k)| / RMS |v*(x_k, t_k)|`` over the model's own Euler states.

The codimension claim compares ``variant = "w2"`` at ``D > d`` (KL between a continuous law and
one on a lower-dimensional set is infinite: the discriminator can grow without bound) with the
same at ``D = d`` and with ``"w1w2"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .. import manifolds
from ..metrics import wasserstein
from ._common import rows
from ._spec import Experiment, param

if TYPE_CHECKING:  # annotations only: torch is imported when a job runs
    from ..models.proximal_flow import ProximalFlow

NAME = "w1w2_checks"
CONTROLS = ("none", "curl")


@dataclass(frozen=True)
class Params:
    """Parameters of one ``w1w2_checks`` sweep point (defaults; schema in the field metadata)."""

    manifold: str = param('gaussian_subspace', 'manifold')
    D: int | None = param(None, 'D')
    variant: str = param('w1w2', 'pf_variant')
    lam: float = param(0.05, 'posnum')
    L: float = param(1.0, 'posnum')
    T: float = param(1.0, 'posnum')
    K: int = param(8, 'posint')
    width: int = param(64, 'posint')
    depth: int = param(2, 'posint')
    steps: int = param(400, 'posint')
    critic_steps: int = param(2, 'posint')
    batch_size: int = param(256, {"type": "integer", "minimum": 2})
    lr: float = param(0.001, 'lr')
    n: int = param(2000, 'n')
    n_eval: int = param(1000, 'n')
    seed: int = param(0, 'seed')
    control: str = param('none', {"enum": list(CONTROLS)})


SPEC = Experiment(
    NAME, Params,
    claims=(
        "w1w2_rows",
    ),
)
#: every parameter with its default (``SPEC.defaults()``)
DEFAULTS = SPEC.defaults()


def _add_curl(model: ProximalFlow, omega: float) -> None:
    """Add ``omega J x`` (rotation in the first two coordinates) to ``model.velocity``."""
    import torch

    base = model.velocity

    def velocity(x: torch.Tensor, t) -> torch.Tensor:
        rot = torch.zeros_like(x)
        rot[:, 0], rot[:, 1] = -x[:, 1], x[:, 0]
        return base(x, t) + omega * rot

    model.velocity = velocity


def exact_gaussian_velocity(scales, lam: float, T: float):
    """``v*(x, t)`` of the W1⊕W2 optimum from ``N(0, I)`` to ``N(0, diag(scales^2))`` (docstring).

    Returns a function ``(x (n, d) ndarray, t float) -> (n, d) ndarray``.
    """
    s2 = np.asarray(scales, dtype=np.float64) ** 2
    b = lam / T
    q = 1.0 / s2 + b
    a = (b + np.sqrt(b * b + 4.0 * q)) / (2.0 * q)  # the positive root
    c = 1.0 - a
    return lambda x, t: -c * np.asarray(x, dtype=np.float64) / (T - c * t)


def _velocity_error(model: ProximalFlow, M, n: int, seed: int) -> float:
    import torch

    cfg = model.config
    vstar = exact_gaussian_velocity(M.scales, cfg.lam, cfg.T)
    tr = model.trajectory(n, seed)
    K, num, den = tr.shape[0] - 1, 0.0, 0.0
    dt = next(model.potential_net_.parameters()).dtype
    for k in range(K):
        t = k * cfg.T / K
        v = model.velocity(torch.as_tensor(tr[k], dtype=dt), t).double().numpy()
        ve = vstar(tr[k], t)
        num += float(np.sum((v - ve) ** 2))
        den += float(np.sum(ve**2))
    return math.sqrt(num / max(den, 1e-300))


def run(params: dict):
    """Train one proximal-flow variant and measure its diagnostics (module docstring)."""
    from ..models.proximal_flow import ProximalFlow, ProximalFlowConfig

    p = SPEC.resolve(params)
    M = manifolds.make(p["manifold"], ambient_dim=p["D"], seed=0)
    rng = np.random.default_rng([p["seed"], 4])
    data = M.sample(p["n"], rng)
    cfg = ProximalFlowConfig(variant=p["variant"], lam=p["lam"], L=p["L"], T=p["T"],
                             n_steps=p["K"], width=p["width"], depth=p["depth"],
                             steps=p["steps"], critic_steps=p["critic_steps"],
                             batch_size=p["batch_size"], lr=p["lr"], seed=p["seed"])
    model = ProximalFlow(cfg).fit(data, on_nonfinite="stop")
    if p["control"] == "curl" and cfg.kinetic:
        _add_curl(model, math.pi / (4 * cfg.T))
    ref, ref2 = M.sample(p["n_eval"], rng), M.sample(p["n_eval"], rng)
    base = {"experiment": NAME, "manifold": p["manifold"], "d": M.dim, "D": M.ambient_dim,
            "seed": p["seed"], "variant": p["variant"], "lam": cfg.lam, "L": cfg.L, "T": cfg.T,
            "K": cfg.n_steps, "steps": cfg.steps, "n": p["n"], "control": p["control"]}
    hist = model.history_
    meas = {"diverged": float(model.diverged_), "seconds_train": model.seconds_}
    q = len(hist) // 4
    if q >= 1:
        meas["dv_growth"] = float(hist["dv"].iloc[-q:].mean() / max(
            abs(hist["dv"].iloc[q:2 * q].mean()), 1e-12))
    try:
        x = model.sample(p["n_eval"], seed=p["seed"] + 1)
        diag = model.diagnostics(ref, n=min(p["n_eval"], 500), seed=p["seed"] + 2)
    except FloatingPointError:  # a diverged W2-only flow may not even sample
        meas["diverged"] = 1.0
        x, diag = None, {}
    if x is not None and np.all(np.isfinite(x)):
        meas["w2"] = wasserstein(x, ref)
        meas["L_w1"] = cfg.L * wasserstein(x, ref2, p=1)
    meas["w2_noise_floor"] = wasserstein(ref2, ref)
    meas.update({k: v for k, v in diag.items() if np.isfinite(v)})
    if (x is not None and p["manifold"] == "gaussian_subspace" and M.ambient_dim == M.dim
            and not np.any(M.mean)):
        meas["velocity_error_rel"] = _velocity_error(model, M, min(p["n_eval"], 500),
                                                     p["seed"] + 2)
    return rows(base, [{"quantity": k, "value": v} for k, v in meas.items()])
