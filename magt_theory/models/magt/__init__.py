"""Manifold-aligned generative transport (MAGT): training, sampling, likelihoods [MAGT].

A generator ``h_theta: R^d -> R^D`` with base law ``pi`` (``N(0, I_d)`` or uniform on
``[0,1]^d``) is trained at one variance-preserving level ``t`` (``alpha = sqrt(1-t)``,
``sigma = sqrt(t)``) by denoising score matching, with the model score given by the SNIS
estimate over ``K`` latent anchors re-drawn every step (MAGT Algorithm 1):

.. math::

    \\ell_K(y_0, z) = \\frac{\\alpha^2}{\\sigma^4}\\,|\\tilde m(y_t) - y_0|^2,\\qquad
    y_t = \\alpha y_0 + \\sigma z,\\qquad
    \\tilde m(y) = \\sum_k w_k(y) h(u_k),\\quad
    w_k(y) = \\operatorname{softmax}_k\\Big(\\lambda_k - \\frac{|y - \\alpha h(u_k)|^2}{2\\sigma^2}\\Big)

with ``lambda_k = log pi(u_k) - log pi~(u_k)`` (0 for MC/QMC anchors). This equals
``|s~(y_t) - (alpha y_0 - y_t)/sigma^2|^2`` with ``s~ = (alpha m~ - y)/sigma^2``.

Exact chunked gradient [derived]: for the batch mean ``L = (1/B) sum_b l_b``, put
``c_b = dL/dm_b = (2/B)(alpha^2/sigma^4)(m_b - y0_b)`` and ``Delta_bk = <h(u_k) - m_b, c_b>``.
Since ``dw_bj = w_bj (dl_bj - sum_i w_bi dl_bi)`` and
``d logit_bk / d h(u_k) = (alpha/sigma^2) y_b - (alpha^2/sigma^2) h(u_k)``,

.. math::

    g_k = \\frac{\\partial L}{\\partial h(u_k)} = \\sum_b w_{bk}\\Big[c_b + \\Delta_{bk}
        \\Big(\\frac{\\alpha}{\\sigma^2} y_b - \\frac{\\alpha^2}{\\sigma^2} h(u_k)\\Big)\\Big].

Phase 1 (no autograd) evaluates ``h`` on all anchors in chunks and forms ``w, m, c, g``;
phase 2 backpropagates ``sum_k <h(u_k), g_k>`` chunk by chunk (``K_c`` anchors at a time), so
autograd memory scales with ``K_c`` while the gradient equals the full autograd gradient.
Per-query (MAP) anchors: the sum over ``b`` in ``g`` collapses to the anchor's own query.

Sampling is one forward pass ``h(u)``, ``u ~ pi``. The intrinsic log density uses the area
formula ``log p(h(u)) = log pi(u) - (1/2) log det(J^T J)`` (:func:`area_log_density`); the
smoothed ambient density at level ``t`` is the anchor Monte Carlo average
``p_t(y) ~ (1/K) sum_k (pi/pi~)(u_k) phi(y; alpha h(u_k), sigma^2 I)``.

The implementation is split into private modules, all re-exported here:

* ``_config`` -- :class:`MAGTConfig` (validation, ``replace``, ``to_dict``/``from_dict``);
* ``_loss`` -- the SNIS forward pass of training and :func:`magt_loss_and_grad`;
* ``_densities`` -- :func:`snis_mean`, :func:`snis_score` (through
  :func:`magt_theory.anchors.snis`), :func:`area_log_density`, :func:`smoothed_log_density`;
* ``_estimator`` -- the :class:`MAGT` estimator (fit, sample, score, densities);
* persistence -- the versioned model file shared by every generator
  (:mod:`magt_theory.models._persistence`: :data:`FORMAT_NAME`, :data:`FORMAT_VERSION`,
  :func:`state_checksum`);
* ``_select`` -- :func:`select_t`.
"""

from __future__ import annotations

from ._config import LR_SCHEDULES, MAGTConfig
from ._densities import area_log_density, smoothed_log_density, snis_mean, snis_score
from ._estimator import MAGT
from ._loss import Generator, magt_loss_and_grad
from .._persistence import FORMAT_NAME, FORMAT_VERSION, state_checksum
from ._select import select_t

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAGT",
    "MAGTConfig",
    "area_log_density",
    "magt_loss_and_grad",
    "select_t",
    "smoothed_log_density",
    "snis_mean",
    "snis_score",
]
