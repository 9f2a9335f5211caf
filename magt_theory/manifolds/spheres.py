"""Spheres, circles, von Mises–Fisher mixtures and flat tori: smoothed laws in closed form.

Every manifold here is a sphere of radius ``r`` in ``R^p`` (``p = k + 1``), or a product of
circles, and its VE posterior is a von Mises–Fisher (vMF) law or a finite mixture of them
(docs/conventions.md §3). With ``y`` the noisy point at VE level ``s`` and a prior
``f(omega) ∝ exp(<c m, omega>)`` on the unit sphere (``c = 0``: uniform),

.. math::

    p(\\omega \\mid y) \\propto \\exp(\\langle \\eta, \\omega\\rangle),\\qquad
    \\eta = c\\, m + \\frac{r}{s^2} y,\\qquad \\kappa = |\\eta|,

a vMF law with mean resultant ``A_p(kappa) = I_{p/2}(kappa) / I_{p/2-1}(kappa)`` and

.. math::

    E[X \\mid y] = r \\frac{A_p(\\kappa)}{\\kappa}\\, \\eta,\\qquad
    \\mathrm{Cov}[X \\mid y] = r^2\\Big[\\frac{A_p}{\\kappa} I_p
        + \\Big(1 - A_p^2 - \\frac{p A_p}{\\kappa}\\Big) \\hat\\eta \\hat\\eta^T\\Big].

(Tangential variance ``A/kappa`` per direction, radial second moment ``1 - (p-1) A/kappa``;
[derived], checked by quadrature and Monte Carlo in the tests.) The uniform moment generating
function ``M_p(kappa) = E_unif[exp(kappa <e, omega>)] = Gamma(p/2) (kappa/2)^{1-p/2}
I_{p/2-1}(kappa)`` normalises everything; it is evaluated through ``scipy.special.ive``
(exponentially scaled Bessel functions) and a series below ``kappa = 1e-4``, so nothing
overflows for ``s`` in ``[1e-3, 10]`` and any finite ``|y|`` (Hankel's expansion above
``kappa = 1e7``, where AMOS' ``ive`` gives up). References: MAGT §2 (Tweedie
identity), docs/conventions.md §3.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.special as sc
from scipy.linalg.blas import dgemm as _dgemm

from .. import _xp
from .._validation import check_alpha, check_int, check_positive
from ._base import Manifold, Posterior
from ._registry import register

__all__ = ["Sphere", "Circle", "VMFMixture", "FlatTorus", "vmf_log_mgf", "vmf_moments"]

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


def _torch_const(x, arr):
    """``arr`` as a constant matching the array namespace, dtype and device of ``x``."""
    if _xp.is_torch(x):
        import torch

        return torch.as_tensor(np.asarray(arr), dtype=x.dtype, device=x.device)
    return np.asarray(arr, dtype=np.float64)


# ---------------------------------------------------------------------------- fused embedding
#: bytes of one row block of the fused score/mean (a block of ``y``, its output and a temporary
#: stay in the L2 cache while the native posterior is computed)
_FUSED_BLOCK_BYTES = 2**20


class _FusedEmbedding:
    """Fast ``posterior_mean`` / ``smoothed_score`` for manifolds whose native posterior mean
    has a vectorised closed form ``_native_mean(yn, s)`` (no log density, no covariance).

    Same formulas as :meth:`Manifold.posterior` / :meth:`Manifold.smoothed_score`
    (docs/conventions.md, "Embedding and smoothing"): with ``yn = Q^T y / alpha`` and
    ``s = sigma / alpha``, ``E[X | y] = Q m_s(yn)`` and the score is
    ``(alpha E[X | y] - y) / sigma^2``. Here ``y`` is read once per row block: the block's
    native coordinates, posterior mean, embedding and score are computed while it is in the
    cache, and written once. Inputs the fast path does not cover (other dtypes or shapes,
    non-finite values) go to the general path, which validates them.
    """

    def _native_mean(self, yn: np.ndarray, s: float) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _fused(self, y, sigma, alpha, score: bool):
        sigma = check_positive(sigma, "sigma")
        alpha = check_alpha(alpha)
        if not (isinstance(y, np.ndarray) and y.dtype == np.float64 and y.ndim == 2
                and y.shape[1] == self.ambient_dim):
            return None
        N, D = y.shape
        s = sigma / alpha
        Q = self.Q
        out = np.empty((N, D))
        rows = int(min(max(_FUSED_BLOCK_BYTES // (8 * D), 64), 8192))
        for start in range(0, N, rows):
            yc = y[start : start + rows]
            yn = (yc if Q is None else yc @ Q) / alpha
            if not np.all(np.isfinite(yn)):
                return None  # the general path names the bad argument
            m = self._native_mean(yn, s)
            if not np.all(np.isfinite(m)):
                return None
            oc = out[start : start + rows]
            if not score:
                if Q is None:
                    oc[...] = m
                else:
                    np.matmul(m, Q.T, out=oc)
                continue
            if Q is None:
                np.divide(alpha * m - yc, sigma**2, out=oc)
                continue
            # oc = Q (alpha m / sigma^2) - y / sigma^2 as one BLAS update on the block (in
            # cache): copy y, then dgemm with beta = -1/sigma^2 in place (oc.T is Fortran-
            # ordered, so f2py does not copy it)
            np.copyto(oc, yc)
            res = _dgemm(1.0, Q, (m * (alpha / sigma**2)).T, beta=-1.0 / sigma**2, c=oc.T,
                         overwrite_c=1)
            if res.ctypes.data != oc.ctypes.data:  # pragma: no cover (a copy was made)
                oc[...] = res.T
        return out

    @_xp.boundary("y")
    def posterior_mean(self, y, sigma: float, alpha: float = 1.0) -> np.ndarray:
        """``E[X | alpha X + sigma Z = y]``, shape ``(n, D)`` (fused closed form)."""
        out = self._fused(y, sigma, alpha, score=False)
        return Manifold.posterior_mean(self, y, sigma, alpha) if out is None else out

    @_xp.boundary("y")
    def smoothed_score(self, y, sigma: float, alpha: float = 1.0) -> np.ndarray:
        """Score of the law of ``alpha X + sigma Z``: ``(alpha E[X|y] - y) / sigma^2``
        (fused closed form)."""
        out = self._fused(y, sigma, alpha, score=True)
        return Manifold.smoothed_score(self, y, sigma, alpha) if out is None else out


# ---------------------------------------------------------------------------- sphere / circle
@register
class Sphere(_FusedEmbedding, Manifold):
    """Uniform law on the round sphere ``S^k`` of radius ``r`` in ``R^{k+1}``.

    Posterior at VE level ``s``: ``vMF(eta = r y / s^2)``, so ``kappa = r |y| / s^2`` and
    ``E[X | y] = r A_p(kappa) y / |y|``, ``A_p = I_{p/2} / I_{p/2-1}``, ``p = k + 1``
    (docs/conventions.md §3; MAGT §2).

    Parameters
    ----------
    k : int
        Intrinsic dimension (``>= 1``); default 2.
    radius : float
        Radius ``r > 0``; default 1. The reach equals ``r``.
    ambient_dim, seed
        See :class:`Manifold`.

    Notes
    -----
    Exact generator ``h*`` (``generator_latent_dim``): ``k = 1`` the angle map
    ``v -> r (cos 2 pi v, sin 2 pi v)``; ``k = 2`` Archimedes' equal-area chart
    ``z = 2 v_1 - 1``, ``phi = 2 pi v_2``, ``x = r (sqrt(1-z^2) cos phi, sqrt(1-z^2) sin phi, z)``
    (the pushforward of uniform ``[0,1]^2`` is uniform on ``S^2``). ``None`` for ``k >= 3``.
    """

    name = "sphere"

    def __init__(
        self, k: int = 2, radius: float = 1.0, ambient_dim: int | None = None, seed: int = 0
    ):
        self.k = check_int(k, "k", low=1)
        self.radius = check_positive(radius, "radius")
        self.dim = self.k
        self.native_dim = self.k + 1
        self.generator_latent_dim = self.k if self.k <= 2 else None
        self.reach = self.radius
        super().__init__(ambient_dim=ambient_dim, seed=seed)

    def _sample(self, n, rng):
        return self.radius * _unit_rows(rng.standard_normal((n, self.native_dim)))

    def _project(self, y):
        return self.radius * _unit_rows(y)

    def _tangent(self, x):
        return _householder_frame(_unit_rows(x))

    def _log_density(self, x):
        return np.full(x.shape[0], -_log_sphere_area(self.native_dim, self.radius))

    def _posterior(self, y, s, cov):
        return _uniform_sphere_posterior(y, s, self.radius, cov)

    def _native_mean(self, yn, s):
        return vmf_moments((self.radius / s**2) * yn, self.radius)[0]

    def _generator(self, v):
        xp = _xp.namespace(v)
        r = self.radius
        if self.k == 1:
            phi = 2.0 * np.pi * v[:, 0]
            return xp.stack([r * xp.cos(phi), r * xp.sin(phi)], -1)
        z = 2.0 * v[:, 0] - 1.0
        phi = 2.0 * np.pi * v[:, 1]
        rho = xp.sqrt(xp.clip(1.0 - z * z, 0.0, None))
        return xp.stack([r * rho * xp.cos(phi), r * rho * xp.sin(phi), r * z], -1)


@register
class Circle(Sphere):
    """Uniform law on the circle of radius ``r`` in ``R^2`` (the ``k = 1`` :class:`Sphere`).

    Posterior: von Mises with ``kappa = r |y| / s^2``; ``E[X|y] = r (I_1/I_0)(kappa) y/|y|``.
    Exact generator ``v -> r (cos 2 pi v, sin 2 pi v)`` from uniform ``[0, 1]``.

    Parameters
    ----------
    radius : float
        Radius ``r > 0``; default 1 (= reach).
    """

    name = "circle"

    def __init__(self, radius: float = 1.0, ambient_dim: int | None = None, seed: int = 0):
        super().__init__(k=1, radius=radius, ambient_dim=ambient_dim, seed=seed)


# ---------------------------------------------------------------------------- vMF mixture
def _default_vmf_means(k: int, n: int) -> np.ndarray:
    """Deterministic, documented component means (see :class:`VMFMixture`)."""
    j = np.arange(n, dtype=np.float64)
    if k == 1:
        ang = 2.0 * np.pi * (j + 0.5) / n
        return np.stack([np.cos(ang), np.sin(ang)], axis=1)
    if k == 2:  # spherical Fibonacci lattice
        z = 1.0 - (2.0 * j + 1.0) / n
        phi = j * np.pi * (3.0 - np.sqrt(5.0))
        rho = np.sqrt(1.0 - z * z)
        return np.stack([rho * np.cos(phi), rho * np.sin(phi), z], axis=1)
    p = k + 1
    if n > 2 * p:
        raise ValueError(
            f"n_components must be <= {2 * p} for k={k} unless means are given; got {n}"
        )
    means = np.zeros((n, p))
    idx = np.arange(n)
    means[idx, idx // 2] = np.where(idx % 2 == 0, 1.0, -1.0)
    return means


@register
class VMFMixture(Manifold):
    """Mixture of von Mises–Fisher laws on the sphere ``S^k`` of radius ``r``.

    .. math:: f(x) = \\frac{1}{|S^k_r|} \\sum_j w_j \\frac{\\exp(c_j \\langle m_j, x/r\\rangle)}
        {M_p(c_j)}, \\qquad p = k + 1,

    a density w.r.t. the surface (area) measure. The VE posterior is the vMF mixture with
    natural parameters ``eta_j = c_j m_j + r y / s^2`` and weights
    ``pi_j ∝ w_j M_p(|eta_j|) / M_p(c_j)``; the smoothed density is

    .. math:: \\log p_s(y) = -\\tfrac p2\\log(2\\pi s^2) - \\frac{(|y| - r)^2}{2s^2}
        + \\operatorname{LSE}_j\\big[\\log w_j + (|\\eta_j| - r|y|/s^2)
        + \\log M_p(|\\eta_j|) - |\\eta_j| - \\log M_p(c_j)\\big]

    with ``|eta_j| - r|y|/s^2 = (c_j^2 + 2 c_j r <m_j, y>/s^2) / (|eta_j| + r|y|/s^2)``
    (no cancellation). docs/conventions.md §3.

    Parameters
    ----------
    k : int
        Intrinsic dimension (default 2).
    n_components : int
        Number of components (default 4); ignored when ``means`` is given.
    concentration : float or (n_components,) array
        Concentrations ``c_j > 0`` (default 10).
    radius : float
        Sphere radius ``r`` (default 1; the reach).
    means : (n_components, k+1) array or None
        Mean directions (normalised here). Default: ``k = 1`` angles ``2 pi (j + 1/2) / n``;
        ``k = 2`` the spherical Fibonacci lattice ``z_j = 1 - (2j+1)/n``,
        ``phi_j = j pi (3 - sqrt 5)``; ``k >= 3`` the signed axes ``e_0, -e_0, e_1, -e_1, ...``
        (at most ``2(k+1)`` components).
    weights : (n_components,) array or None
        Positive mixture weights (normalised here); default uniform.

    Notes
    -----
    Exact generator (``k = 2`` only, latent dimension 2, from uniform ``[0,1]^2``): ``v_1``
    picks component ``j`` by the cumulative weights and is rescaled to ``u in [0, 1)``;
    ``w = <m_j, omega> = 1 + log(u + (1 - u) e^{-2 c_j}) / c_j`` (inverse CDF of the density
    ``∝ e^{c w}`` on ``[-1, 1]``), ``phi = 2 pi v_2``,
    ``omega = w m_j + sqrt(1 - w^2)(cos phi e_1 + sin phi e_2)`` with ``(e_1, e_2)`` a fixed
    orthonormal frame of ``m_j^perp``. It is smooth inside each component's strip but *not*
    injective: every strip covers the whole sphere (``n_components`` preimages per point), so
    the area formula for ``log p`` must sum over the preimages (``generator_injective = False``).
    Sampling uses ``scipy.stats.vonmises_fisher`` (independent of the generator).
    """

    name = "vmf_mixture"
    #: h* maps each component strip of [0,1]^2 onto the whole sphere (see Notes)
    generator_injective = False

    def __init__(
        self,
        k: int = 2,
        n_components: int = 4,
        concentration=10.0,
        radius: float = 1.0,
        means=None,
        weights=None,
        ambient_dim: int | None = None,
        seed: int = 0,
    ):
        self.k = check_int(k, "k", low=1)
        p = self.k + 1
        self.radius = check_positive(radius, "radius")
        if means is None:
            n_comp = check_int(n_components, "n_components", low=1)
            m = _default_vmf_means(self.k, n_comp)
        else:
            m = np.asarray(means, dtype=np.float64)
            if m.ndim != 2 or m.shape[1] != p or m.shape[0] < 1:
                raise ValueError(f"means must have shape (n_components, {p}); got {m.shape}")
            norms = np.linalg.norm(m, axis=1)
            if not np.all(np.isfinite(m)) or np.any(norms <= 0):
                raise ValueError("means must be finite, non-zero vectors")
            m = m / norms[:, None]
            n_comp = m.shape[0]
        self.means = m
        if isinstance(concentration, numbers.Real):
            c = np.full(n_comp, check_positive(concentration, "concentration"))
        else:
            c = np.asarray(concentration, dtype=np.float64)
            if c.shape != (n_comp,) or not np.all(np.isfinite(c)) or np.any(c <= 0):
                raise ValueError(
                    f"concentration must be a number > 0 or {n_comp} finite numbers > 0"
                )
        self.concentration = c
        if weights is None:
            w = np.full(n_comp, 1.0 / n_comp)
        else:
            w = np.asarray(weights, dtype=np.float64)
            if w.shape != (n_comp,) or not np.all(np.isfinite(w)) or np.any(w <= 0):
                raise ValueError(f"weights must be {n_comp} finite numbers > 0")
            w = w / w.sum()
        self.weights = w
        self.dim = self.k
        self.native_dim = p
        self.generator_latent_dim = 2 if self.k == 2 else None
        self.reach = self.radius
        self._log_mgf_c = vmf_log_mgf(p, c)
        self._frames = _householder_frame(m)  # (J, p, p-1) orthonormal frames of m_j^perp
        super().__init__(ambient_dim=ambient_dim, seed=seed)

    def _sample(self, n, rng):
        from scipy.stats import vonmises_fisher  # scipy.stats costs ~1 s of start-up: lazily

        counts = rng.multinomial(n, self.weights)
        out = np.empty((n, self.native_dim))
        start = 0
        for mj, cj, nj in zip(self.means, self.concentration, counts):
            if nj:
                out[start : start + nj] = vonmises_fisher(mj, cj).rvs(int(nj), random_state=rng)
            start += nj
        out = out[rng.permutation(n)]
        return self.radius * _unit_rows(out)

    def _project(self, y):
        return self.radius * _unit_rows(y)

    def _tangent(self, x):
        return _householder_frame(_unit_rows(x))

    def _log_density(self, x):
        omega = _unit_rows(x)
        lw = (
            np.log(self.weights)
            + self.concentration * (omega @ self.means.T)
            - self._log_mgf_c
        )
        return sc.logsumexp(lw, axis=1) - _log_sphere_area(self.native_dim, self.radius)

    def _posterior(self, y, s, cov):
        p, r = self.native_dim, self.radius
        c, m = self.concentration, self.means
        norm = np.linalg.norm(y, axis=1)
        ky = (r / s**2) * norm  # (n,)
        eta = c[None, :, None] * m[None] + (r / s**2) * y[:, None, :]  # (n, J, p)
        kap = np.linalg.norm(eta, axis=2)
        dk = (c[None] ** 2 + 2.0 * c[None] * (r / s**2) * (y @ m.T)) / (kap + ky[:, None])
        lw = np.log(self.weights)[None] + dk + _log_mgf_scaled(p, kap) - self._log_mgf_c[None]
        lse = sc.logsumexp(lw, axis=1)
        post_w = np.exp(lw - lse[:, None])
        logp = -0.5 * p * np.log(2 * np.pi * s * s) - (norm - r) ** 2 / (2 * s * s) + lse
        means_j, covs_j = vmf_moments(eta, r, cov)
        mean = np.einsum("nj,njp->np", post_w, means_j)
        cmat = None
        if cov:
            dev = means_j - mean[:, None, :]
            cmat = np.einsum("nj,njpq->npq", post_w, covs_j) + np.einsum(
                "nj,njp,njq->npq", post_w, dev, dev
            )
        return Posterior(mean, logp, cmat)

    def _generator(self, v):
        xp = _xp.namespace(v)
        cum = np.concatenate([[0.0], np.cumsum(self.weights)])
        cum[-1] = 1.0
        v1, v2 = v[:, 0], v[:, 1]
        inner = _torch_const(v, cum[1:-1])
        if _xp.is_torch(v):
            j = xp.searchsorted(inner, v1.contiguous(), right=True)
        else:
            j = np.searchsorted(inner, v1, side="right")
        lo = _torch_const(v, cum[:-1])[j]
        wj = _torch_const(v, self.weights)[j]
        cj = _torch_const(v, self.concentration)[j]
        mj = _torch_const(v, self.means)[j]
        fj = _torch_const(v, self._frames)[j]
        u = xp.clip((v1 - lo) / wj, 0.0, 1.0)
        w = 1.0 + xp.log(u + (1.0 - u) * xp.exp(-2.0 * cj)) / cj
        w = xp.clip(w, -1.0, 1.0)
        rho = xp.sqrt(xp.clip(1.0 - w * w, 0.0, None))
        phi = 2.0 * np.pi * v2
        omega = (
            w[:, None] * mj
            + (rho * xp.cos(phi))[:, None] * fj[:, :, 0]
            + (rho * xp.sin(phi))[:, None] * fj[:, :, 1]
        )
        return self.radius * omega


# ---------------------------------------------------------------------------- flat torus
@register
class FlatTorus(_FusedEmbedding, Manifold):
    """Uniform law on the flat (Clifford) torus ``r_1 S^1 x ... x r_k S^1`` in ``R^{2k}``.

    Coordinates ``(2i, 2i+1)`` hold circle ``i``. The law and the Gaussian kernel factorise,
    so the VE posterior is a product of von Mises posteriors, one per circle
    (``kappa_i = r_i |y_(i)| / s^2``), ``log p_s`` is the sum of the circle terms and the
    posterior covariance is block diagonal (docs/conventions.md §3).

    Parameters
    ----------
    radii : float or sequence of float
        Circle radii ``r_i > 0``; default ``(1.0, 1.0)`` (the Clifford torus in ``R^4``).
    k : int or None
        Number of circles; with a scalar ``radii`` it defaults to 2, with a sequence it must
        match its length.

    Notes
    -----
    ``dim = k``, ``native_dim = 2k``, reach ``min_i r_i``, density ``prod_i 1/(2 pi r_i)``.
    Exact generator from uniform ``[0,1]^k``: ``x_(i) = r_i (cos 2 pi v_i, sin 2 pi v_i)``.
    """

    name = "flat_torus"

    def __init__(
        self, radii=(1.0, 1.0), k: int | None = None, ambient_dim: int | None = None, seed: int = 0
    ):
        if isinstance(radii, numbers.Real):
            kk = 2 if k is None else check_int(k, "k", low=1)
            r = np.full(kk, check_positive(radii, "radii"))
        else:
            r = np.asarray(radii, dtype=np.float64)
            if r.ndim != 1 or r.size < 1 or not np.all(np.isfinite(r)) or np.any(r <= 0):
                raise ValueError(
                    f"radii must be a number > 0 or a 1-d sequence of numbers > 0; got {radii!r}"
                )
            if k is not None and check_int(k, "k", low=1) != r.size:
                raise ValueError(f"k must equal len(radii)={r.size}; got {k}")
        self.radii = r
        self.k = r.size
        self.dim = self.k
        self.native_dim = 2 * self.k
        self.generator_latent_dim = self.k
        self.reach = float(r.min())
        super().__init__(ambient_dim=ambient_dim, seed=seed)

    def _blocks(self, y):
        return y.reshape(y.shape[0], self.k, 2)

    def _sample(self, n, rng):
        g = rng.standard_normal((n * self.k, 2))
        return (self.radii[None, :, None] * _unit_rows(g).reshape(n, self.k, 2)).reshape(n, -1)

    def _project(self, y):
        u = _unit_rows(self._blocks(y).reshape(-1, 2)).reshape(y.shape[0], self.k, 2)
        return (self.radii[None, :, None] * u).reshape(y.shape[0], -1)

    def _tangent(self, x):
        n = x.shape[0]
        u = _unit_rows(self._blocks(x).reshape(-1, 2)).reshape(n, self.k, 2)
        t = np.zeros((n, self.native_dim, self.k))
        idx = np.arange(self.k)
        t[:, 2 * idx, idx] = -u[:, :, 1]
        t[:, 2 * idx + 1, idx] = u[:, :, 0]
        return t

    def _log_density(self, x):
        return np.full(x.shape[0], -float(np.sum(np.log(2.0 * np.pi * self.radii))))

    def _posterior(self, y, s, cov):
        n = y.shape[0]
        yb = self._blocks(y)
        mean = np.empty((n, self.k, 2))
        logp = np.zeros(n)
        c = np.zeros((n, self.native_dim, self.native_dim)) if cov else None
        for i, r in enumerate(self.radii):
            post = _uniform_sphere_posterior(yb[:, i, :], s, float(r), cov)
            mean[:, i] = post.mean
            logp += post.log_marginal
            if cov:
                c[:, 2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = post.cov
        return Posterior(mean.reshape(n, -1), logp, c)

    def _native_mean(self, yn, s):
        # every circle at once, on contiguous (n, 2k) columns: eta_(i) = (r_i / s^2) y_(i),
        # kappa_i = |eta_(i)|, m_(i) = r_i A_2(kappa_i) / kappa_i eta_(i) (one Bessel-ratio
        # evaluation on the (n, k) concentrations; the same arithmetic as _posterior)
        eta = yn * np.repeat(self.radii / s**2, 2)[None, :]
        sq = eta * eta
        kappa = np.sqrt(sq[:, 0::2] + sq[:, 1::2])
        w = self.radii[None, :] * _ratio_over_kappa(2, kappa)
        return np.repeat(w, 2, axis=1) * eta

    def _generator(self, v):
        xp = _xp.namespace(v)
        cols = []
        for i, r in enumerate(self.radii):
            phi = 2.0 * np.pi * v[:, i]
            cols += [float(r) * xp.cos(phi), float(r) * xp.sin(phi)]
        return xp.stack(cols, -1)
