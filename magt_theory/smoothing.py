"""Smoothing schedules and jitter [MAGT].

MAGT smooths the data at one variance-preserving (VP) level ``t``:
``Y_t = alpha_t Y_0 + sigma_t Z`` with ``sigma_t^2 = t`` and ``alpha_t = sqrt(1 - t)`` [MAGT].
Data jittered by ``N(0, s0^2 I)`` are themselves a Gaussian smoothing of the clean manifold
law, so their level-``t`` score is the clean score at
``sigma_eff^2 = sigma_t^2 + alpha_t^2 s0^2`` [derived].
"""

from __future__ import annotations

import numpy as np

from . import _xp
from ._validation import check_alpha, check_in_open_interval, check_positive

__all__ = ["vp", "vp_level", "effective_sigma"]


def vp(t, *, allow_zero: bool = False):
    """Variance-preserving schedule ``t -> (alpha, sigma)``, the one definition in the package.

    .. math:: \\alpha_t = \\sqrt{1 - t}, \\qquad \\sigma_t = \\sqrt{t}, \\qquad t \\in (0, 1)

    Used by MAGT (its training level), the VP samplers of :mod:`magt_theory.models.diffusion`
    and the step Jacobians of :mod:`magt_theory.dynamics`.

    Parameters
    ----------
    t : float, array_like or torch.Tensor
        Smoothing level(s) in the open interval (0, 1) (``[0, 1)`` with ``allow_zero``). A
        torch tensor gives tensors of its dtype and device (this module does not import torch).
    allow_zero : bool
        Also accept ``t = 0`` (``alpha = 1, sigma = 0``), the end point of a sampler's final
        denoising step.

    Returns
    -------
    alpha, sigma : float, ndarray or torch.Tensor
        Same shape as ``t``; Python floats for a scalar ``t``.
    """
    lo = "[0, 1)" if allow_zero else "(0, 1)"
    if _xp.is_torch(t):
        bad = ~t.isfinite() | (t < 0.0 if allow_zero else t <= 0.0) | (t >= 1.0)
        if bool(bad.any()):
            raise ValueError(f"t must lie in {lo}; got a tensor with entries outside")
        return (1 - t).sqrt(), t.sqrt()
    arr = np.asarray(t, dtype=np.float64)
    low_bad = arr < 0.0 if allow_zero else arr <= 0.0
    if not np.all(np.isfinite(arr)) or np.any(low_bad) or np.any(arr >= 1.0):
        raise ValueError(f"t must lie in {lo}; got {t!r}")
    alpha, sigma = np.sqrt(1.0 - arr), np.sqrt(arr)
    if arr.ndim == 0:
        return float(alpha), float(sigma)
    return alpha, sigma


def vp_level(sigma):
    """Inverse of :func:`vp`: the VP level ``t = sigma^2`` for ``sigma`` in (0, 1)."""
    s = check_in_open_interval(sigma, "sigma", 0.0, 1.0)
    return s * s


def effective_sigma(sigma, alpha: float = 1.0, jitter: float = 0.0) -> float:
    """Noise scale seen by the clean manifold when the data carry Gaussian jitter.

    .. math:: \\sigma_{\\rm eff} = \\sqrt{\\sigma^2 + \\alpha^2 s_0^2}

    so that ``alpha (X + s0 Z') + sigma Z`` has the law of ``alpha X + sigma_eff Z``.

    Parameters
    ----------
    sigma : float
        Smoothing noise scale (> 0).
    alpha : float
        Signal scale in (0, 1].
    jitter : float
        Standard deviation ``s0 >= 0`` of the isotropic jitter added to the data.
    """
    sigma = check_positive(sigma, "sigma")
    alpha = check_alpha(alpha)
    jitter = float(jitter)
    if not np.isfinite(jitter) or jitter < 0:
        raise ValueError(f"jitter must be a finite number >= 0; got {jitter!r}")
    return float(np.sqrt(sigma**2 + (alpha * jitter) ** 2))
