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

The sphere and circle are defined here; the vMF mixture (:mod:`._vmf_mixture`) and the flat
torus (:mod:`._flat_torus`) are re-exported from their modules, the Bessel-ratio and vMF
helpers live in :mod:`._vmf` and the fused embedded score in :mod:`._fused`.
"""

from __future__ import annotations

import numpy as np

from .. import _xp
from .._validation import check_int, check_positive
from ._base import Manifold
from ._flat_torus import FlatTorus
from ._fused import _FusedEmbedding
from ._registry import register
from ._vmf import (
    _householder_frame,
    _log_sphere_area,
    _ratio_over_kappa,  # noqa: F401 (re-exported: tests/test_fast_scores.py)
    _uniform_sphere_posterior,
    _unit_rows,
    vmf_log_mgf,
    vmf_moments,
)
from ._vmf_mixture import VMFMixture

__all__ = ["Sphere", "Circle", "VMFMixture", "FlatTorus", "vmf_log_mgf", "vmf_moments"]


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
