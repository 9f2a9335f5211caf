"""Tangent dynamics of generative samplers: Lyapunov vectors, alignment, robustness of support.

CdC's mechanism: along a sampler ``x_{i+1} = F_i(x_i)`` the tangent propagator
``dF^{0->N} = dF_{N-1} ... dF_0`` compresses directions normal to the data manifold and keeps the
tangent ones, so its top ``d`` left singular vectors at the output align with the tangent space
and score errors move samples mostly *along* the manifold. This module measures that.

One DDIM step (VP schedule ``alpha_t = sqrt(1-t)``, ``sigma_t = sqrt(t)``,
:func:`magt_theory.smoothing.vp`; see :mod:`magt_theory.models.diffusion`) and its exact
Jacobian for a closed-form posterior
[derived; checked against central finite differences in ``tests/test_dynamics.py``]:

.. math::

    F(x) = c_1 x + c_2\\, \\mathbb E[Y_0 \\mid Y_t = x],\\qquad
    dF(x) = c_1 I + c_2 \\frac{\\alpha_t}{\\sigma_t^2} \\operatorname{Cov}[Y_0 \\mid Y_t = x],

    c_1 = \\frac{\\sigma_{t'}}{\\sigma_t},\\qquad c_2 = \\alpha_{t'} - c_1 \\alpha_t,

using ``d E[Y_0|y] / dy = (alpha/sigma^2) Cov[Y_0|y]`` (differentiate Tweedie). The ``c_1`` factors
telescope: directions orthogonal to the span of the data are contracted by exactly
``prod c_1 = sigma_{t_N} / sigma_{t_0}``.

Contents
--------
* exact step Jacobians (:func:`ddim_step_jacobian`), oracle tangent propagation with Benettin QR
  and the full flow-map Jacobian (:func:`oracle_tangent_dynamics`); the same for a learned
  denoiser through ``torch.func`` (:func:`learned_tangent_dynamics`);
* frame-independent SVD of the flow-map Jacobian (:func:`flow_map_svd`, full product; and
  :func:`subspace_iteration` with JVP/VJP for large ``D``);
* alignment metrics (:func:`alignment_metrics`, :func:`estimate_intrinsic_dim`);
* robustness of support under injected errors (:class:`SmoothErrorField`,
  :class:`PerturbedDenoiser`, :func:`displacement_split`);
* one-step generators ``G: R^k -> R^D`` (:func:`one_step_alignment`,
  :func:`parameter_displacement`).

The code lives in private modules re-exported here: ``_steps`` (step coefficients and
Jacobians, Benettin QR helpers), ``_tangent`` (the one Benettin loop, oracle and learned
tangent dynamics, Lyapunov exponents), ``_svd`` (flow-map SVD), ``_alignment`` (alignment
metrics, one-step generators) and ``_perturb`` (error fields, perturbed denoisers). The builders
of experiment tables live with their experiments and are re-exported here on first access:
:func:`alignment_table` (:mod:`magt_theory.experiments.alignment`) and
:func:`support_robustness` (:mod:`magt_theory.experiments.robustness`); this package never
imports :mod:`magt_theory.experiments` at import time, so there is no import cycle.
"""

from __future__ import annotations

import importlib

from ._alignment import (
    alignment_metrics,
    estimate_intrinsic_dim,
    one_step_alignment,
    parameter_displacement,
)
from ._perturb import SITES, PerturbedDenoiser, SmoothErrorField, displacement_split
from ._steps import ddim_step_jacobian, random_frame, step_coefficients
from ._svd import flow_map_svd, learned_flow_map_svd, subspace_iteration
from ._tangent import (
    TangentDynamics,
    learned_flow_map,
    learned_tangent_dynamics,
    lyapunov_exponents,
    oracle_tangent_dynamics,
)

__all__ = [
    "step_coefficients",
    "ddim_step_jacobian",
    "random_frame",
    "TangentDynamics",
    "oracle_tangent_dynamics",
    "learned_tangent_dynamics",
    "lyapunov_exponents",
    "flow_map_svd",
    "subspace_iteration",
    "learned_flow_map",
    "learned_flow_map_svd",
    "alignment_metrics",
    "estimate_intrinsic_dim",
    "alignment_table",
    "SmoothErrorField",
    "PerturbedDenoiser",
    "displacement_split",
    "support_robustness",
    "one_step_alignment",
    "parameter_displacement",
    "SITES",
]

# experiment-table builders: defined in magt_theory.experiments, imported on first access
_TABLE_BUILDERS = {"alignment_table": "alignment", "support_robustness": "robustness"}


def __getattr__(name):
    if name in _TABLE_BUILDERS:
        module = importlib.import_module(f"magt_theory.experiments.{_TABLE_BUILDERS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_TABLE_BUILDERS))
