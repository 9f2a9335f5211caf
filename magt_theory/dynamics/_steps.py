"""One DDIM step of the VP sampler: its coefficients and exact Jacobian; Benettin QR helpers.

.. math::

    F(x) = c_1 x + c_2\\, \\mathbb E[Y_0 \\mid Y_t = x],\\qquad
    dF(x) = c_1 I + c_2 \\frac{\\alpha_t}{\\sigma_t^2} \\operatorname{Cov}[Y_0 \\mid Y_t = x],
    \\qquad c_1 = \\frac{\\sigma_{t'}}{\\sigma_t},\\quad c_2 = \\alpha_{t'} - c_1 \\alpha_t

with ``(alpha_t, sigma_t)`` from :func:`magt_theory.smoothing.vp` [CdC; derived].
"""

from __future__ import annotations

import numpy as np

from .. import smoothing
from ..models.integrators import ddim_coefficients
from .._validation import as_points, as_rng, check_int



#: DDIM step coefficients ``(c1, c2)`` (one definition: :mod:`magt_theory.models.integrators`)
step_coefficients = ddim_coefficients


def ddim_step_jacobian(manifold, x, t: float, t_next: float) -> np.ndarray:
    """Exact Jacobian of one oracle DDIM step ``t -> t_next`` at ``x``.

    .. math:: dF(x) = c_1 I + c_2 \\frac{\\alpha_t}{\\sigma_t^2}\\operatorname{Cov}[Y_0 \\mid Y_t = x]

    (CdC; ``c1, c2`` from :func:`step_coefficients`).

    Parameters
    ----------
    manifold : Manifold
        Must provide ``posterior_cov``.
    x : (n, D) array_like
    t, t_next : float
        ``0 <= t_next < t < 1``.

    Returns
    -------
    (n, D, D) ndarray, float64
    """
    c1, c2 = step_coefficients(t, t_next)
    x = as_points(x, "x", manifold.ambient_dim)
    a, s = smoothing.vp(t, allow_zero=True)
    cov = manifold.posterior_cov(x, s, a)
    J = (c2 * a / s**2) * cov
    idx = np.arange(x.shape[1])
    J[:, idx, idx] += c1
    return J


def random_frame(n: int, dim: int, k: int, seed=0) -> np.ndarray:
    """``n`` independent Haar-random orthonormal ``dim x k`` frames, shape ``(n, dim, k)``."""
    n = check_int(n, "n", low=1)
    dim = check_int(dim, "dim", low=1)
    k = check_int(k, "k", low=1, high=dim)
    g = as_rng(seed).standard_normal((n, dim, k))
    q, r = np.linalg.qr(g)
    return q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]


def _qr_positive(A):
    """Batched QR with ``diag(R) >= 0``; returns ``Q, log|diag R|``."""
    q, r = np.linalg.qr(A)
    d = np.diagonal(r, axis1=-2, axis2=-1)
    sgn = np.where(d < 0, -1.0, 1.0)
    with np.errstate(divide="ignore"):
        return q * sgn[..., None, :], np.log(np.abs(d))
