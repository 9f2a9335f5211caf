"""Föllmer coefficients, oracle posterior mean and velocity, velocity-matching loss [CharGen]."""

from __future__ import annotations

import math

import numpy as np

from ..._validation import as_points


#: the posterior mean at ``s < S_FLOOR`` is taken at ``alpha = S_FLOOR`` (``s = 0`` is the prior)
S_FLOOR = 1e-6


def follmer_coefficients(s):
    """``(a_s, b_s, a'_s, b'_s) = (sqrt(1-s^2), s, -s/sqrt(1-s^2), 1)`` for ``s in [0, 1)``."""
    s = float(s)
    if not (math.isfinite(s) and 0.0 <= s < 1.0):
        raise ValueError(f"s must lie in [0, 1); got {s!r}")
    a = math.sqrt(1.0 - s * s)
    return a, s, -s / a, 1.0


def velocity_from_mean(m, x, s):
    """Föllmer velocity ``(m - s x) / (1 - s^2)`` from the posterior mean ``m = E[X_1|X_s=x]``.

    Works on numpy arrays and torch tensors; ``s`` a scalar in ``[0, 1)`` (or a tensor
    broadcastable against ``x[..., :1]``).
    """
    return (m - s * x) / (1.0 - s * s)


def oracle_posterior_mean(manifold, x, s: float, jitter: float = 0.0) -> np.ndarray:
    """``E[X_1 | s X_1 + sqrt(1-s^2) Z = x]`` for ``X_1 = Y + s0 E``, ``Y`` the manifold law.

    .. math::

        m_M = E[Y \\mid x]\\ \\text{at}\\ \\alpha = s,\\ \\sigma^2 = a_s^2 + s^2 s_0^2,\\qquad
        E[X_1 \\mid x] = m_M + \\frac{s s_0^2}{a_s^2 + s^2 s_0^2}(x - s m_M)

    [derived: given ``Y``, ``x - sY = s s0 E + a_s Z`` is Gaussian]. Below :data:`S_FLOOR` the
    posterior mean is evaluated at ``alpha = S_FLOOR``.

    Parameters
    ----------
    manifold : Manifold
    x : (n, D) array_like
    s : float in [0, 1)
    jitter : float >= 0
        ``s0``, the standard deviation of the Gaussian jitter on the data.
    """
    a, _, _, _ = follmer_coefficients(s)
    if not hasattr(manifold, "posterior_mean"):
        raise TypeError(f"manifold must be a magt_theory Manifold; got {type(manifold).__name__}")
    s0 = float(jitter)
    if not (math.isfinite(s0) and s0 >= 0):
        raise ValueError(f"jitter must be a finite number >= 0; got {jitter!r}")
    x = as_points(x, "x", manifold.ambient_dim)
    var = a * a + (s * s0) ** 2
    alpha = max(s, S_FLOOR)
    m = manifold.posterior_mean(x, math.sqrt(var), alpha)
    if s0 > 0:
        m = m + (s * s0 * s0 / var) * (x - s * m)
    return m


def oracle_velocity(manifold, x, s: float, jitter: float = 0.0) -> np.ndarray:
    """Exact Föllmer velocity ``v(s, x) = (m - s x)/(1 - s^2)`` of a known manifold law.

    See :func:`oracle_posterior_mean`. Returns ``(n, D)`` float64.
    """
    x = as_points(x, "x", getattr(manifold, "ambient_dim", None))
    return velocity_from_mean(oracle_posterior_mean(manifold, x, s, jitter), x, float(s))


def velocity_matching_loss(v, x1, z, s):
    """Per-sample velocity-matching loss ``|v - (a'_s z + x1)|^2`` at ``X_s = s x1 + a_s z``.

    ``v`` is the velocity evaluated at ``X_s`` (numpy arrays, one ``s`` for all rows).
    Returns ``(n,)`` float64.
    """
    a, _, da, db = follmer_coefficients(s)
    target = da * np.asarray(z, dtype=np.float64) + db * np.asarray(x1, dtype=np.float64)
    return np.sum((np.asarray(v, dtype=np.float64) - target) ** 2, axis=1)
