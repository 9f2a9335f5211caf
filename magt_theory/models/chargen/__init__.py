"""Characteristic generator: velocity matching, Euler characteristics, one-step map [CharGen].

A package of private modules (``_oracle``, ``_rollouts``, ``_networks``, ``_model``,
``_diagnostics``), every name re-exported here.

Föllmer interpolant between noise (``s = 0``) and data (``s = 1``):

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
  ``(1 - T)^2 E|X_1|^2 + (1 - T^2) D`` ~ ``2 (1 - T) D`` [derived].

By the triangle inequality ``W2(g(0,T,.)_# N, mu) <=`` the sum of the four terms (when ``v*``
is the velocity of ``mu``).
"""

from __future__ import annotations

from ._oracle import (
    S_FLOOR,
    follmer_coefficients,
    oracle_posterior_mean,
    oracle_velocity,
    velocity_from_mean,
    velocity_matching_loss,
)
from ._rollouts import _time_grid, euler_rollout, midpoint_rollout
from ._networks import CharacteristicMap, FollmerMeanNetwork
from ._model import CharGen, CharGenConfig
from ._diagnostics import error_decomposition, horizon_rms, semigroup_defect

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
