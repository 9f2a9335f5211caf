"""Curves of the MAGT synthetic protocol: helix, spiral, concentric rings, two moons.

Each curve ``c(u)`` carries a parameter density ``pi(u)`` and the smoothed law at VE level ``s``
is the one-dimensional integral

.. math::

    p_s(y) = \\int \\pi(u)\\, \\varphi(y; c(u), s^2 I)\\, du,\\qquad
    E[X \\mid y] = \\frac{\\int c(u)\\, \\pi(u)\\, \\varphi(y; c(u), s^2 I)\\, du}{p_s(y)}

(docs/conventions.md §3; MAGT §2 for the Tweedie identity ``grad log p = (E[X|y] - y)/s^2``). The rings
are von Mises–Fisher mixtures in closed form; the others use the windowed Gauss–Legendre
quadrature of :mod:`._quadrature`, accurate to ~1e-12 relative for ``s`` in ``[1e-3, 10]`` and
any finite query (error bound in that module's docstring). The intrinsic density is w.r.t. arc
length: ``log p(c(u)) = log pi(u) - log |c'(u)|``.

The MAGT paper (docs/conventions.md §4-5) gives the helix ``(cos t, sin t, t)`` and leaves ring radii,
spiral range and moons geometry open; the choices below are documented per class.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .. import _xp
from .._validation import check_positive
from ._base import Manifold, Posterior
from ._quadrature import CurveQuadrature, CurveSpec
from ._reach import curve_reach
from ._registry import register
from ._vmf import von_mises_moments

__all__ = ["Helix3D", "Spiral2D", "Rings2D", "Moons2D"]

_LOG_2PI = math.log(2.0 * math.pi)
_TWO_PI = 2.0 * math.pi


def _unit_rows(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=1, keepdims=True)


# ============================================================================ helix
@register
class Helix3D(Manifold):
    """Helix ``c(u) = (cos u, sin u, u)``, ``u in [0, t_max]``, uniform in arc length.

    MAGT's helix3d (docs/conventions.md §4-5; ``D = 3, d = 1``). Speed ``|c'| = sqrt(2)``, so uniform in
    ``u`` is uniform in arc length: ``log p = -log(sqrt(2) t_max)``. Curvature ``1/2`` and no
    bottleneck (``<c(u+D) - c(u), c'(u)> = D + sin D != 0`` for ``D != 0``), so the reach is
    exactly ``2``. The exact generator is ``h*(v) = c(t_max v)``.

    Parameters
    ----------
    ambient_dim, seed
        See :class:`Manifold`.
    t_max : float
        Parameter range ``[0, t_max]``, ``0 < t_max <= 1e4``; default ``4 pi`` (two turns).
    """

    name = "helix3d"
    dim = 1
    native_dim = 3
    generator_latent_dim = 1

    def __init__(self, ambient_dim=None, seed=0, t_max: float = 4 * math.pi):
        super().__init__(ambient_dim, seed)
        self.t_max = check_positive(t_max, "t_max")
        if self.t_max > 1e4:
            raise ValueError(f"t_max must be in (0, 1e4]; got {t_max!r}")
        self.reach = 2.0
        self._spec = self._make_spec()
        self._quad = CurveQuadrature(self._spec, params=f"t_max={self.t_max:g}")

    def _make_spec(self) -> CurveSpec:
        log_pi = -math.log(self.t_max)

        def point(u, piece):
            return np.stack([np.cos(u), np.sin(u), u], axis=-1)

        def derivatives(u, piece):
            c, s = np.cos(u), np.sin(u)
            return (
                np.stack([-s, c, np.ones_like(u)], axis=-1),
                np.stack([-c, -s, np.zeros_like(u)], axis=-1),
            )

        def log_prior(u, piece):
            return np.full(u.shape, log_pi)

        return CurveSpec(3, ((0.0, self.t_max),), point, derivatives, log_prior)

    def _sample(self, n, rng):
        return self._spec.point(rng.uniform(0.0, self.t_max, n), None)

    def _project(self, y):
        return self._quad.project(y)[2]

    def _tangent(self, x):
        u = np.clip(x[:, 2], 0.0, self.t_max)
        t = np.stack([-np.sin(u), np.cos(u), np.ones_like(u)], axis=-1) / math.sqrt(2.0)
        return t[:, :, None]

    def _log_density(self, x):
        return np.full(x.shape[0], -math.log(math.sqrt(2.0) * self.t_max))

    def _posterior(self, y, s, cov):
        logi, mean, c = self._quad.integrate(y, s, cov)
        return Posterior(mean, logi - 1.5 * (_LOG_2PI + 2.0 * math.log(s)), c)

    def _generator(self, v):
        xp = _xp.namespace(v)
        u = self.t_max * v[:, 0]
        return xp.stack([xp.cos(u), xp.sin(u), u], -1)


# ============================================================================ spiral
@lru_cache(maxsize=32)
def _spiral_reach(u_min: float, u_max: float, scale: float) -> float:
    return curve_reach(_spiral_spec(u_min, u_max, scale))


def _spiral_spec(u_min: float, u_max: float, scale: float) -> CurveSpec:
    """Archimedean spiral ``scale * u (cos u, sin u)``, uniform in ``u`` on ``[u_min, u_max]``."""
    log_pi = -math.log(u_max - u_min)

    def point(u, piece):
        return scale * np.stack([u * np.cos(u), u * np.sin(u)], axis=-1)

    def derivatives(u, piece):
        c, s = np.cos(u), np.sin(u)
        d1 = scale * np.stack([c - u * s, s + u * c], axis=-1)
        d2 = scale * np.stack([-2.0 * s - u * c, 2.0 * c - u * s], axis=-1)
        return d1, d2

    def log_prior(u, piece):
        return np.full(u.shape, log_pi)

    return CurveSpec(2, ((u_min, u_max),), point, derivatives, log_prior)


def _check_spiral(u_min, u_max, scale):
    try:
        u_min, u_max = float(u_min), float(u_max)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"u_min, u_max must be real numbers; got {u_min!r}, {u_max!r}") from exc
    if not (np.isfinite(u_min) and np.isfinite(u_max) and 0.0 < u_min < u_max <= 1e3):
        raise ValueError(
            f"u_min, u_max must satisfy 0 < u_min < u_max <= 1e3; got {u_min!r}, {u_max!r}"
        )
    scale = check_positive(scale, "scale")
    if not 1e-6 <= scale <= 1e6:
        raise ValueError(f"scale must be in [1e-6, 1e6]; got {scale!r}")
    return u_min, u_max, scale


@register
class Spiral2D(Manifold):
    """Archimedean spiral ``c(u) = scale * u (cos u, sin u)``, uniform in the parameter ``u``.

    ``u in [u_min, u_max]``, defaults ``[pi, 4 pi]`` and ``scale = 1/pi``: radius from 1 to 4,
    one and a half turns 2 apart. Like the usual toy spiral generators the law is uniform in
    the *parameter* (denser near the centre), so the density w.r.t. arc length is

    .. math:: \\log p(c(u)) = -\\log(u_{max} - u_{min}) - \\log\\big(scale\\sqrt{1 + u^2}\\big).

    The reach (Federer's formula, :func:`curve_reach`) is the curvature radius at the inner
    end, ``scale (1 + u_min^2)^{3/2} / (2 + u_min^2) = 0.9610`` for the defaults. Exact generator
    ``h*(v) = c(u_min + (u_max - u_min) v)``.

    Parameters
    ----------
    ambient_dim, seed
        See :class:`Manifold`.
    u_min, u_max : float
        Parameter range, ``0 < u_min < u_max <= 1e3``.
    scale : float
        Overall scale in ``[1e-6, 1e6]`` (the curve may have at most 20000 quadrature panels
        of arclength 0.5).
    """

    name = "spiral2d"
    dim = 1
    native_dim = 2
    generator_latent_dim = 1

    def __init__(
        self, ambient_dim=None, seed=0, u_min=math.pi, u_max=4 * math.pi, scale=1 / math.pi
    ):
        super().__init__(ambient_dim, seed)
        self.u_min, self.u_max, self.scale = _check_spiral(u_min, u_max, scale)
        self._spec = _spiral_spec(self.u_min, self.u_max, self.scale)
        self._quad = CurveQuadrature(
            self._spec, params=f"u_min={self.u_min:g}, u_max={self.u_max:g}, scale={self.scale:g}"
        )
        self.reach = _spiral_reach(self.u_min, self.u_max, self.scale)

    def _param(self, x):
        return np.clip(np.linalg.norm(x, axis=1) / self.scale, self.u_min, self.u_max)

    def _sample(self, n, rng):
        return self._spec.point(rng.uniform(self.u_min, self.u_max, n), None)

    def _project(self, y):
        return self._quad.project(y)[2]

    def _tangent(self, x):
        d1, _ = self._spec.derivatives(self._param(x), None)
        return _unit_rows(d1)[:, :, None]

    def _log_density(self, x):
        u = self._param(x)
        return -math.log(self.u_max - self.u_min) - np.log(self.scale * np.sqrt(1.0 + u * u))

    def _posterior(self, y, s, cov):
        logi, mean, c = self._quad.integrate(y, s, cov)
        return Posterior(mean, logi - (_LOG_2PI + 2.0 * math.log(s)), c)

    def _generator(self, v):
        xp = _xp.namespace(v)
        u = self.u_min + (self.u_max - self.u_min) * v[:, 0]
        return self.scale * xp.stack([u * xp.cos(u), u * xp.sin(u)], -1)


# ============================================================================ rings
@register
class Rings2D(Manifold):
    """Union of concentric circles, uniform in total length.

    Radii default ``(1, 2, 3)``; ring ``k`` has weight ``w_k = r_k / sum r`` and the density
    w.r.t. arc length is ``1 / (2 pi sum r)``. Each ring's posterior is von Mises with
    ``kappa_k = r_k |y| / s^2`` (docs/conventions.md §3, circle):

    .. math::

        p_s(y) = \\sum_k \\frac{w_k}{2\\pi s^2}\\, e^{-(|y| - r_k)^2 / 2 s^2}\\,
            \\frac{I_0(\\kappa_k)}{e^{\\kappa_k}},\\qquad
        E[X \\mid y] = \\sum_k \\pi_k(y)\\, r_k A(\\kappa_k) \\frac{y}{|y|},

    with posterior ring probabilities ``pi_k`` (log-sum-exp) and ``A = I_1/I_0``; the covariance
    is the law of total covariance over rings, each ring contributing radial variance
    ``r_k^2 (1 - A^2 - A/kappa)`` and tangential variance ``r_k^2 A/kappa``. Reach:
    ``min(r_1, min_k (r_{k+1} - r_k)/2)`` (= 0.5). Exact generator from one uniform ``v``: the
    ring is the cell of ``v`` in the partition of ``[0, 1]`` by the cumulative weights, the
    angle ``2 pi`` times the rescaled remainder (measure preserving, injective; discontinuous at
    the cell edges).

    Parameters
    ----------
    ambient_dim, seed
        See :class:`Manifold`.
    radii : sequence of float
        Strictly increasing positive radii.
    """

    name = "rings2d"
    dim = 1
    native_dim = 2
    generator_latent_dim = 1

    def __init__(self, ambient_dim=None, seed=0, radii=(1.0, 2.0, 3.0)):
        super().__init__(ambient_dim, seed)
        try:
            r = np.asarray(radii, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"radii must be a sequence of positive numbers; got {radii!r}") from exc
        if r.size < 1 or not np.all(np.isfinite(r)) or np.any(r <= 0) or np.any(np.diff(r) <= 0):
            raise ValueError(f"radii must be finite, > 0 and strictly increasing; got {radii!r}")
        self.radii = r
        self.weights = r / r.sum()
        self.reach = float(min(r[0], np.min(np.diff(r)) / 2.0) if r.size > 1 else r[0])
        self._edges = np.cumsum(self.weights)[:-1]  # interior cell edges of the generator

    def _sample(self, n, rng):
        k = rng.choice(self.radii.size, size=n, p=self.weights)
        th = rng.uniform(0.0, _TWO_PI, n)
        return self.radii[k][:, None] * np.stack([np.cos(th), np.sin(th)], axis=-1)

    def _direction(self, y):
        ny = np.linalg.norm(y, axis=1)
        e = np.where(ny[:, None] > 0, y / np.where(ny > 0, ny, 1.0)[:, None], np.array([1.0, 0.0]))
        return ny, e

    def _project(self, y):
        ny, e = self._direction(y)
        k = np.argmin(np.abs(ny[:, None] - self.radii[None, :]), axis=1)
        return self.radii[k][:, None] * e

    def _tangent(self, x):
        _, e = self._direction(x)
        return np.stack([-e[:, 1], e[:, 0]], axis=-1)[:, :, None]

    def _log_density(self, x):
        return np.full(x.shape[0], -math.log(_TWO_PI * self.radii.sum()))

    def _posterior(self, y, s, cov):
        ny, e1 = self._direction(y)
        r = self.radii[None, :]
        kappa = r * ny[:, None] / (s * s)
        log_i0e, A, Ak, V = von_mises_moments(kappa)
        logw = np.log(self.weights)[None, :] - 0.5 * ((ny[:, None] - r) / s) ** 2 + log_i0e
        mx = logw.max(axis=1, keepdims=True)
        w = np.exp(logw - mx)
        tot = w.sum(axis=1, keepdims=True)
        log_marg = (mx + np.log(tot))[:, 0] - (_LOG_2PI + 2.0 * math.log(s))
        w /= tot
        mk = r * A  # radial conditional means
        m1 = np.sum(w * mk, axis=1)
        mean = m1[:, None] * e1
        c = None
        if cov:
            var_r = np.sum(w * (r * r * V + (mk - m1[:, None]) ** 2), axis=1)
            var_t = np.sum(w * r * r * Ak, axis=1)
            e2 = np.stack([-e1[:, 1], e1[:, 0]], axis=-1)
            c = var_r[:, None, None] * e1[:, :, None] * e1[:, None, :] + var_t[:, None, None] * (
                e2[:, :, None] * e2[:, None, :]
            )
        return Posterior(mean, log_marg, c)

    def _generator(self, v):
        xp = _xp.namespace(v)
        if _xp.is_torch(v):
            import torch

            def arr(a):
                return torch.as_tensor(a, dtype=v.dtype, device=v.device)
        else:
            arr = np.asarray
        v0 = v[:, 0]
        k = (v0[:, None] >= arr(self._edges)[None, :]).sum(1)  # ring index (cell of v0)
        starts = arr(np.concatenate([[0.0], self._edges]))
        th = _TWO_PI * (v0 - starts[k]) / arr(self.weights)[k]
        rad = arr(self.radii)[k]
        return xp.stack([rad * xp.cos(th), rad * xp.sin(th)], -1)


# ============================================================================ moons
# sklearn.datasets.make_moons geometry: outer (cos t, sin t), inner (1 - cos t, 1/2 - sin t),
# t in [0, pi]; as arcs: centre + (cos psi, sin psi) with psi in [psi0, psi0 + pi].
_MOON_CENTRES = np.array([[0.0, 0.0], [1.0, 0.5]])
_MOON_PSI0 = np.array([0.0, math.pi])


def _moons_spec() -> CurveSpec:
    log_pi = -math.log(_TWO_PI)  # each arc has probability 1/2 and parameter length pi

    def point(u, piece):
        psi = u + _MOON_PSI0[piece]
        return _MOON_CENTRES[piece] + np.stack([np.cos(psi), np.sin(psi)], axis=-1)

    def derivatives(u, piece):
        psi = u + _MOON_PSI0[piece]
        c, s = np.cos(psi), np.sin(psi)
        return np.stack([-s, c], axis=-1), np.stack([-c, -s], axis=-1)

    def log_prior(u, piece):
        return np.full(u.shape, log_pi)

    return CurveSpec(2, ((0.0, math.pi), (0.0, math.pi)), point, derivatives, log_prior)


@register
class Moons2D(Manifold):
    """Two interleaving half circles (``sklearn.datasets.make_moons`` geometry), uniform in length.

    Outer moon ``(cos t, sin t)``, inner moon ``(1 - cos t, 1/2 - sin t)``, ``t in [0, pi]``,
    each with probability 1/2; both have unit radius, so the density w.r.t. arc length is
    ``1 / (2 pi)``. The smoothed law needs the non-periodic arc integral (an incomplete Bessel
    function): windowed composite Gauss–Legendre (:mod:`._quadrature`). Projection is closed
    form (radial projection when the direction from the arc's centre lies in its angular range,
    else the nearer end point). Reach ``1/4``: the tip ``(1, 0)`` of the outer moon is ``1/2``
    from the inner moon's point ``(1, -1/2)`` and their midpoint is equidistant from both
    (Federer's formula with the tip's half-line tangent cone); curvature radii are 1. Exact
    generator: ``v < 1/2`` maps to the outer moon with ``t = 2 pi v``, else the inner moon with
    ``t = 2 pi v - pi``.
    """

    name = "moons2d"
    dim = 1
    native_dim = 2
    generator_latent_dim = 1

    def __init__(self, ambient_dim=None, seed=0):
        super().__init__(ambient_dim, seed)
        self.reach = 0.25
        self._spec = _moons_spec()
        self._quad = CurveQuadrature(self._spec)

    def _sample(self, n, rng):
        piece = (rng.uniform(size=n) < 0.5).astype(np.int64)
        return self._spec.point(rng.uniform(0.0, math.pi, n), piece)

    def _project_param(self, y):
        """Nearest ``(t, piece, point, squared distance)`` in closed form."""
        best = None
        for k in range(2):
            w = y - _MOON_CENTRES[k]
            psi = np.mod(np.arctan2(w[:, 1], w[:, 0]) - _MOON_PSI0[k], _TWO_PI)  # in [0, 2pi)
            cands = [np.zeros(len(y)), np.full(len(y), math.pi)]
            inside = psi <= math.pi
            cands.append(np.where(inside, psi, 0.0))
            for t in cands:
                piece = np.full(len(y), k)
                p = self._spec.point(t, piece)
                d2 = np.sum((y - p) ** 2, axis=1)
                if best is None:
                    best = [t, piece, p, d2]
                else:
                    better = d2 < best[3]
                    best = [
                        np.where(better, t, best[0]),
                        np.where(better, piece, best[1]),
                        np.where(better[:, None], p, best[2]),
                        np.where(better, d2, best[3]),
                    ]
        return best

    def _project(self, y):
        return self._project_param(y)[2]

    def _tangent(self, x):
        t, piece, _, _ = self._project_param(x)
        d1, _ = self._spec.derivatives(t, piece)
        return d1[:, :, None]

    def _log_density(self, x):
        return np.full(x.shape[0], -math.log(_TWO_PI))

    def _posterior(self, y, s, cov):
        logi, mean, c = self._quad.integrate(y, s, cov)
        return Posterior(mean, logi - (_LOG_2PI + 2.0 * math.log(s)), c)

    def _generator(self, v):
        xp = _xp.namespace(v)
        a = _TWO_PI * v[:, 0]
        outer = xp.stack([xp.cos(a), xp.sin(a)], -1)
        inner = xp.stack([1.0 + xp.cos(a), 0.5 + xp.sin(a)], -1)
        return xp.where(v[:, :1] < 0.5, outer, inner)
