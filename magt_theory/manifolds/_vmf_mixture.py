"""Mixture of von Mises–Fisher laws on a sphere: ``vmf_mixture``, its posterior in closed form.

With ``y`` the noisy point at VE level ``s``, component ``j`` (weight ``w_j``, mean direction
``m_j``, concentration ``c_j``) has the vMF posterior of natural parameter
``eta_j = c_j m_j + r y / s^2`` (:mod:`.spheres`) and the posterior weights are

.. math::

    \\pi_j(y) \\propto w_j \\frac{M_p(|\\eta_j|)}{M_p(c_j)},

with ``M_p`` the uniform-sphere moment generating function (:mod:`._vmf`); the posterior mean
and covariance are those of the mixture of vMF laws. docs/conventions.md §3; MAGT §2.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.special as sc

from .. import _xp
from .._validation import check_int, check_positive
from ._base import Manifold, Posterior
from ._registry import register
from ._vmf import (
    _householder_frame,
    _log_mgf_scaled,
    _log_sphere_area,
    _unit_rows,
    vmf_log_mgf,
    vmf_moments,
)

__all__ = ["VMFMixture"]


def _torch_const(x, arr):
    """``arr`` as a constant matching the array namespace, dtype and device of ``x``."""
    if _xp.is_torch(x):
        import torch

        return torch.as_tensor(np.asarray(arr), dtype=x.dtype, device=x.device)
    return np.asarray(arr, dtype=np.float64)


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
