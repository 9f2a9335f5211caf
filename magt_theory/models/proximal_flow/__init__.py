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

The implementation is split into private modules, every name re-exported here:

* ``_config`` -- :data:`VARIANTS`, :class:`ProximalFlowConfig`;
* ``_flow`` -- :func:`euler_flow` and the diagnostics :func:`hj_residual`,
  :func:`hj_residual_discrete`, :func:`straightness`, :func:`kinetic_energy`,
  :func:`max_speed`, :func:`step_size_invariance`;
* ``_networks`` -- the potential and critic networks, :func:`dv_divergence`,
  :func:`one_sided_gradient_penalty`;
* ``_model`` -- the :class:`ProximalFlow` estimator (training loop, sampling, diagnostics).
"""

from __future__ import annotations

from ._config import VARIANTS, ProximalFlowConfig
from ._flow import (
    euler_flow,
    hj_residual,
    hj_residual_discrete,
    kinetic_energy,
    max_speed,
    step_size_invariance,
    straightness,
)
from ._model import ProximalFlow
from ._networks import dv_divergence, one_sided_gradient_penalty

__all__ = [
    "VARIANTS",
    "ProximalFlow",
    "ProximalFlowConfig",
    "dv_divergence",
    "euler_flow",
    "hj_residual",
    "hj_residual_discrete",
    "kinetic_energy",
    "max_speed",
    "one_sided_gradient_penalty",
    "step_size_invariance",
    "straightness",
]
