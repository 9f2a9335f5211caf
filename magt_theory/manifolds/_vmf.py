"""Von Mises–Fisher algebra: Bessel ratios, the uniform-sphere MGF, vMF and von Mises moments.

On the unit sphere ``S^{p-1}`` the vMF law ``∝ exp(<eta, omega>)``, ``kappa = |eta|``, is
normalised by the uniform moment generating function and has mean resultant ``A_p``:

.. math::

    M_p(\\kappa) = \\Gamma(p/2)\\, (\\kappa/2)^{1-p/2}\\, I_{p/2-1}(\\kappa),\\qquad
    A_p(\\kappa) = \\frac{I_{p/2}(\\kappa)}{I_{p/2-1}(\\kappa)}
        = \\frac{d}{d\\kappa} \\log M_p(\\kappa).

Everything is evaluated without overflow for any finite ``kappa``: exponentially scaled Bessel
functions (``scipy.special.ive``, ``i0e``, ``i1e``), Taylor series below ``kappa = 1e-4`` and
Hankel's expansion above ``1e7`` (``A_2``: above 50; von Mises moments: above 100). Used by the
sphere, circle and vMF mixture (:mod:`.spheres`), the flat torus, the rings (:mod:`.curves`)
and the donut torus's inner angle (:mod:`.surfaces`). Also the sphere geometry they share
(unit rows, tangent frames, area) and the uniform sphere's VE posterior. MAGT §2 (Tweedie
identity); the posterior moments are in :mod:`.spheres`.
"""

from __future__ import annotations

import numpy as np
import scipy.special as sc

from .._validation import check_int
from ._base import Posterior

__all__ = ["vmf_log_mgf", "vmf_moments", "von_mises_moments"]

#: below this concentration the Bessel ratios use their Taylor series (error O(kappa^4) < 1e-16)
_KAPPA_SERIES = 1e-4


# ---------------------------------------------------------------------------- vMF algebra
#: above this argument ``scipy.special.ive`` (AMOS) is replaced by Hankel's expansion (it
#: returns NaN from about 1e9 on)
_KAPPA_HANKEL = 1e7


def _log_ive(nu: float, kappa: np.ndarray) -> np.ndarray:
    """``log ive(nu, kappa) = log I_nu(kappa) - kappa`` for ``kappa > 0``.

    ``scipy.special.ive`` below ``1e7``; above, Hankel's large-argument expansion

    .. math:: I_\\nu(\\kappa) e^{-\\kappa} = (2\\pi\\kappa)^{-1/2}
        \\sum_{j=0}^{4} (-1)^j \\frac{\\prod_{i=1}^{j} (4\\nu^2 - (2i-1)^2)}{j!\\,(8\\kappa)^j}
        + O(\\kappa^{-5}),

    whose truncation error is below ``1e-30`` for ``nu <= 50``.
    """
    big = kappa > _KAPPA_HANKEL
    k_small = np.where(big, 1.0, kappa)
    with np.errstate(divide="ignore"):
        direct = np.log(sc.ive(nu, k_small))
    k_big = np.where(big, kappa, _KAPPA_HANKEL)
    mu = 4.0 * nu * nu
    term = np.ones_like(k_big)
    total = np.ones_like(k_big)
    for j in range(1, 5):
        term = -term * (mu - (2 * j - 1) ** 2) / (j * 8.0 * k_big)
        total = total + term
    hankel = -0.5 * np.log(2.0 * np.pi * k_big) + np.log(total)
    return np.where(big, hankel, direct)


def _log_mgf_scaled(p: int, kappa: np.ndarray) -> np.ndarray:
    """``log M_p(kappa) - kappa`` with ``M_p`` the uniform-sphere moment generating function.

    .. math:: \\log M_p(\\kappa) - \\kappa
        = \\log\\Gamma(\\nu+1) - \\nu \\log(\\kappa/2) + \\log \\mathrm{ive}(\\nu, \\kappa),
        \\quad \\nu = p/2 - 1,

    and ``kappa^2 / (2p) - kappa`` (Taylor) for ``kappa < 1e-4``.
    """
    kappa = np.asarray(kappa, dtype=np.float64)
    nu = 0.5 * p - 1.0
    small = kappa < _KAPPA_SERIES
    k_big = np.where(small, 1.0, kappa)
    direct = sc.gammaln(nu + 1.0) - nu * np.log(0.5 * k_big) + _log_ive(nu, k_big)
    k_small = np.where(small, kappa, 0.0)  # the series is only used (and evaluated) below 1e-4
    series = k_small * k_small / (2.0 * p) - k_small
    return np.where(small, series, direct)


def vmf_log_mgf(p: int, kappa) -> np.ndarray:
    """Log of the uniform-sphere moment generating function ``log M_p(kappa)``.

    .. math:: M_p(\\kappa) = E_{\\omega \\sim \\mathrm{Unif}(S^{p-1})} e^{\\kappa \\omega_1}
        = \\Gamma(p/2) (\\kappa/2)^{1-p/2} I_{p/2-1}(\\kappa).

    The vMF density w.r.t. the *normalised* uniform measure is ``exp(c <m, omega>) / M_p(c)``.

    Parameters
    ----------
    p : int
        Dimension of the ambient space of the unit sphere ``S^{p-1}`` (``p >= 2``).
    kappa : array_like
        Concentrations ``>= 0``.
    """
    p = check_int(p, "p", low=2)
    kappa = np.asarray(kappa, dtype=np.float64)
    if not np.all(np.isfinite(kappa)) or np.any(kappa < 0):
        raise ValueError("kappa must be finite and >= 0")
    return kappa + _log_mgf_scaled(p, kappa)


#: ``A_2(kappa) = I_1 / I_0`` for ``kappa >= _A2_ASYMPTOTIC``: the quotient of Hankel's series,
#: ``A_2 = sum_k c_k kappa^{-k}`` with the exact rational ``c_k`` below (k = 0..12; computed by
#: dividing the series of ``I_1`` and ``I_0`` exactly). Truncation error below ``4e-18``
#: relative for ``kappa >= 50`` (checked against mpmath at 50 digits on a log grid up to
#: ``1e9``, also in the tests); the exponentially small ``e^{-2 kappa}`` part is below
#: ``1e-43`` there. Six times cheaper than ``i1e / i0e``.
_A2_ASYMPTOTIC = 50.0
_A2_COEFS = tuple(a / b for a, b in (
    (1, 1), (-1, 2), (-1, 8), (-1, 8), (-25, 128), (-13, 32), (-1073, 1024), (-103, 32),
    (-375733, 32768), (-23797, 512), (-55384775, 262144), (-2180461, 2048),
    (-24713030909, 4194304),
))


def _a2_large(kappa: np.ndarray) -> np.ndarray:
    """``A_2(kappa) = I_1(kappa) / I_0(kappa)`` for ``kappa >= 50`` (Horner in ``1/kappa``)."""
    u = 1.0 / kappa
    acc = np.full_like(kappa, _A2_COEFS[-1])
    for c in _A2_COEFS[-2::-1]:
        acc *= u
        acc += c
    return acc


def _ratio_over_kappa(p: int, kappa: np.ndarray) -> np.ndarray:
    """``A_p(kappa) / kappa`` with ``A_p = I_{p/2} / I_{p/2-1}``, one Bessel-ratio evaluation.

    * ``kappa < 1e-4``: Taylor series ``1/p - kappa^2 / (p^2 (p + 2))``;
    * ``p = 2`` (circles): ``i1e(kappa) / i0e(kappa)`` (Cephes' exponentially scaled ``I_0``,
      ``I_1``) below ``kappa = 50``, the quotient of Hankel's series above
      (:func:`_a2_large`);
    * ``p = 3`` (the 2-sphere): ``A_3 = coth(kappa) - 1/kappa`` for ``kappa >= 1`` (no
      cancellation there), the ``ive`` ratio below;
    * other ``p``: ``ive(p/2, kappa) / ive(p/2 - 1, kappa)`` up to ``1e7`` and Hankel's
      expansion (:func:`_log_ive`) above.

    All branches agree with each other to round-off (tested against ``mpmath``-free
    references in ``tests/test_manifolds_closed.py``).
    """
    kappa = np.asarray(kappa, dtype=np.float64)
    nu = 0.5 * p - 1.0
    small = kappa < _KAPPA_SERIES
    k_big = np.where(small, 1.0, kappa)
    if p == 2:
        large = k_big >= _A2_ASYMPTOTIC
        if np.all(large):
            direct = _a2_large(k_big) / k_big
        else:
            direct = sc.i1e(k_big) / sc.i0e(k_big) / k_big
            if np.any(large):
                kl = k_big[large]
                direct[large] = _a2_large(kl) / kl
    elif p == 3:
        direct = (1.0 / np.tanh(k_big) - 1.0 / k_big) / k_big
        low = k_big < 1.0
        if np.any(low):
            kl = k_big[low]
            direct[low] = sc.ive(nu + 1.0, kl) / sc.ive(nu, kl) / kl
    else:
        hankel = k_big > _KAPPA_HANKEL
        k_mid = np.where(hankel, 1.0, k_big)
        direct = sc.ive(nu + 1.0, k_mid) / sc.ive(nu, k_mid) / k_mid
        if np.any(hankel):
            kh = k_big[hankel]
            direct[hankel] = np.exp(_log_ive(nu + 1.0, kh) - _log_ive(nu, kh)) / kh
    if not np.any(small):
        return direct
    series = 1.0 / p - kappa * kappa / (p * p * (p + 2.0))
    return np.where(small, series, direct)


def vmf_moments(eta, radius: float = 1.0, cov: bool = False):
    """Mean and covariance of ``r * omega`` with ``omega ~ vMF`` of natural parameter ``eta``.

    .. math:: E = r \\frac{A_p(\\kappa)}{\\kappa} \\eta, \\quad
        \\mathrm{Cov} = r^2\\Big[\\frac{A_p}{\\kappa} I + \\Big(1 - A_p^2 - \\frac{p A_p}{\\kappa}
        \\Big)\\hat\\eta\\hat\\eta^T\\Big], \\quad \\kappa = |\\eta|.

    Parameters
    ----------
    eta : (..., p) ndarray
        Natural parameters (``kappa * mean direction``); ``eta = 0`` is the uniform law.
    radius : float
        Sphere radius ``r``.
    cov : bool
        Also return the covariance.

    Returns
    -------
    mean : (..., p) ndarray
    cov : (..., p, p) ndarray or None
    """
    eta = np.asarray(eta, dtype=np.float64)
    p = eta.shape[-1]
    kappa = np.linalg.norm(eta, axis=-1)
    a_over_k = _ratio_over_kappa(p, kappa)
    mean = radius * a_over_k[..., None] * eta
    if not cov:
        return mean, None
    a = a_over_k * kappa
    small = kappa < _KAPPA_SERIES
    radial = np.where(small, -2.0 * kappa**2 / (p * p * (p + 2.0)), 1.0 - a * a - p * a_over_k)
    unit = eta / np.where(kappa > 0, kappa, 1.0)[..., None]
    c = a_over_k[..., None, None] * np.eye(p) + radial[..., None, None] * (
        unit[..., :, None] * unit[..., None, :]
    )
    return mean, radius * radius * c


# ---------------------------------------------------------------------- von Mises moments
# Hankel asymptotic coefficients (in 1/kappa) for kappa > _VM_SERIES, derived with sympy:
# I0(k) e^-k sqrt(2 pi k) = sum c_j k^-j;  A = I1/I0;  V = 1 - A^2 - A/k.
_VM_SERIES = 100.0
_I0_COEF = np.array(
    [1, 1 / 8, 9 / 128, 75 / 1024, 3675 / 32768, 59535 / 262144, 2401245 / 4194304,
     57972915 / 33554432, 13043905875 / 2147483648]
)
_A_COEF = np.array(_A2_COEFS[:10])  # A = I1/I0: the first ten terms of _A2_COEFS
_V_COEF = np.array(
    [0, 0, 1 / 2, 1 / 4, 3 / 8, 25 / 32, 65 / 32, 3219 / 512, 721 / 32, 375733 / 4096]
)


def von_mises_moments(kappa):
    """Moments of the von Mises law ``p(psi) ∝ exp(kappa cos psi)`` on the circle.

    .. math::

        \\log \\frac{I_0(\\kappa)}{e^{\\kappa}},\\quad
        A = \\frac{I_1(\\kappa)}{I_0(\\kappa)} = E\\cos\\psi,\\quad
        \\frac{A}{\\kappa} = E\\sin^2\\psi,\\quad
        V = 1 - A^2 - \\frac{A}{\\kappa} = \\mathrm{Var}\\cos\\psi

    (``I_2 = I_0 - 2 I_1 / kappa``). ``scipy.special.ive`` up to ``kappa = 100``, Hankel's
    expansion above (``ive`` returns NaN beyond ``~1e9``); ``A/kappa -> 1/2`` at ``kappa = 0``.

    Parameters
    ----------
    kappa : ndarray, >= 0

    Returns
    -------
    log_i0e, A, A_over_kappa, V : ndarrays of the shape of ``kappa``
    """
    k = np.asarray(kappa, dtype=np.float64)
    big = k > _VM_SERIES
    ks = np.where(big, _VM_SERIES, k)  # small-kappa branch (safe values where big)
    i0 = sc.ive(0, ks)
    i1 = sc.ive(1, ks)
    A_s = i1 / i0
    tiny = ks < 1e-8
    Ak_s = np.where(tiny, 0.5 - ks * ks / 16.0, A_s / np.where(tiny, 1.0, ks))
    V_s = 1.0 - A_s * A_s - Ak_s
    log_s = np.log(i0)
    kb = np.where(big, k, 2 * _VM_SERIES)
    e = 1.0 / kb
    A_b = np.polynomial.polynomial.polyval(e, _A_COEF)
    V_b = np.polynomial.polynomial.polyval(e, _V_COEF)
    log_b = -0.5 * np.log(2 * np.pi * kb) + np.log(np.polynomial.polynomial.polyval(e, _I0_COEF))
    return (
        np.where(big, log_b, log_s),
        np.where(big, A_b, A_s),
        np.where(big, A_b * e, Ak_s),
        np.maximum(np.where(big, V_b, V_s), 0.0),
    )


# ---------------------------------------------------------------------------- sphere geometry
def _householder_frame(u: np.ndarray) -> np.ndarray:
    """Orthonormal basis ``(n, p, p-1)`` of the complement of unit vectors ``u`` ``(n, p)``.

    Columns 1..p-1 of the Householder reflection ``H = I - 2 v v^T / |v|^2``,
    ``v = u + sign(u_0) e_0``, which maps ``e_0`` to ``-sign(u_0) u``.
    """
    n, p = u.shape
    v = u.copy()
    v[:, 0] += np.where(u[:, 0] >= 0, 1.0, -1.0)
    h = np.eye(p)[None] - 2.0 * v[:, :, None] * v[:, None, :] / np.sum(v * v, axis=1)[:, None, None]
    return h[:, :, 1:]


def _unit_rows(y: np.ndarray) -> np.ndarray:
    """``y / |y|`` row-wise, with ``e_0`` for zero rows."""
    norm = np.linalg.norm(y, axis=1, keepdims=True)
    e0 = np.zeros_like(y)
    e0[:, 0] = 1.0
    return np.where(norm > 0, y / np.where(norm > 0, norm, 1.0), e0)


def _log_sphere_area(p: int, radius: float) -> float:
    """``log |S^{p-1}_r| = log(2 pi^{p/2} / Gamma(p/2)) + (p-1) log r``."""
    log_unit = np.log(2.0) + 0.5 * p * np.log(np.pi) - sc.gammaln(0.5 * p)
    return float(log_unit + (p - 1) * np.log(radius))


def _uniform_sphere_posterior(y: np.ndarray, s: float, radius: float, cov: bool) -> Posterior:
    """VE posterior for the uniform law on the sphere of radius ``r`` in ``R^p``.

    .. math:: \\log p_s(y) = -\\tfrac p2 \\log(2\\pi s^2) - \\frac{(|y| - r)^2}{2 s^2}
        + [\\log M_p(\\kappa) - \\kappa], \\qquad \\kappa = r |y| / s^2.
    """
    p = y.shape[1]
    norm = np.linalg.norm(y, axis=1)
    eta = (radius / s**2) * y
    kappa = (radius / s**2) * norm
    mean, c = vmf_moments(eta, radius, cov)
    logp = -0.5 * p * np.log(2 * np.pi * s * s) - (norm - radius) ** 2 / (2 * s * s)
    logp = logp + _log_mgf_scaled(p, kappa)
    return Posterior(mean, logp, c)
