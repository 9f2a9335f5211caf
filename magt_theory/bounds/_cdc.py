"""Expected behaviours of the oracle sampler for the Lyapunov-tangent alignment paper [CdC].

The paper's claim is qualitative; these scalings are derived (docs/conventions.md §8), with
``sigma = sigma_min`` the last noise level of the sampler and ``c = sigma_T`` the first:

.. math:: \\frac{s_d}{s_{d+1}} \\sim \\frac{C}{\\sigma}, \\quad
          \\sin\\theta_{\\max} \\sim C\\sigma, \\quad
          |\\Delta\\,\\mathrm{dist}|_{\\text{score}} \\sim C\\varepsilon\\sigma, \\quad
          |\\Delta\\,\\mathrm{dist}|_{\\text{denoiser}} \\sim C\\varepsilon e^{-\\sigma/c}.
"""

from __future__ import annotations

import sympy as sp

from ._core import Bound
from ._symbols import C, c, eps, sigma

CDC_BOUNDS: tuple[Bound, ...] = (
    Bound(
        name="cdc_gap_ratio",
        expr=C / sigma,
        source="CdC (derived)",
        claim="rate",
        quantity="singular_value_ratio",
        description="spectral gap log s_d - log s_{d+1} ~ log(sigma_T / sigma_min) + const, i.e. "
        "the flow-map singular-value ratio s_d / s_{d+1} ~ C sigma_min^-1 (normal directions are "
        "contracted exactly like sigma, tangent ones stay O(1)).",
    ),
    Bound(
        name="cdc_tangent_error",
        expr=C * sigma,
        source="CdC (derived)",
        claim="rate",
        quantity="sin_theta_max_svd",
        description="tangent error of the top-d left singular vectors of the flow map, "
        "sin theta_max = |(I - T T^T) E_d|_2 ~ C sigma_min (non-uniform laws; exactly 0 by "
        "symmetry on homogeneous ones).",
    ),
    Bound(
        name="cdc_score_injection",
        expr=C * eps * sigma,
        source="CdC (derived: score injection)",
        claim="rate",
        quantity="abs_delta_distance",
        description="linear response to a score error eps chi: the normal part injected at level "
        "sigma (size eps sigma^2) is contracted by sigma_min / sigma, so the change of the "
        "distance to M is ~ eps sigma_min int sigma dlog sigma ~ C eps sigma_min.",
    ),
    Bound(
        name="cdc_denoiser_injection",
        expr=C * eps * sp.exp(-sigma / c),
        source="CdC (derived: denoiser injection)",
        claim="rate",
        quantity="abs_delta_distance",
        description="negative control, error eps chi in the denoiser: eps sigma_min int dlog sigma "
        "/ sigma = eps (1 - sigma_min / sigma_T) ~ C eps exp(-sigma_min / c), c = sigma_T: not "
        "compressed (slope 0 as sigma_min -> 0).",
    ),
)
"""The CdC bounds, in registry order."""
