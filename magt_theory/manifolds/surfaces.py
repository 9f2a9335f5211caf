"""Surfaces of the MAGT synthetic protocol: swiss roll and donut torus in R^3.

Both are reduced to a *one-dimensional* quadrature (:mod:`._quadrature`) by an exact inner
integral (docs/conventions.md §3, last bullet; MAGT §2 for the Tweedie identity):

* **swiss roll** ``x = scale (u cos u, h, u sin u)``, uniform in ``(u, h)``: the Gaussian
  kernel factorises, ``|y - x|^2 = |(y_1, y_3) - c(u)|^2 + (y_2 - h)^2``, so ``u`` and ``h`` are
  independent given ``y``; the ``h`` factor is a Gaussian times a box (``log_ndtr``; posterior
  a truncated normal) and the ``u`` factor an Archimedean-spiral curve integral.
* **donut torus** ``x = ((R + r cos phi) cos theta, (R + r cos phi) sin theta, r sin phi)``,
  uniform in area (``phi`` density ``∝ R + r cos phi``, ``theta`` uniform): with
  ``rho = R + r cos phi``, ``y_xy = |(y_1, y_2)|``, ``kappa = rho y_xy / s^2``,

  .. math::

      \\int_0^{2\\pi} e^{-|y - x|^2 / 2 s^2} d\\theta
        = 2\\pi\\, e^{-[(y_{xy} - \\rho)^2 + (y_3 - r\\sin\\phi)^2] / 2 s^2}\\,
          \\frac{I_0(\\kappa)}{e^{\\kappa}},

  and ``theta | phi, y`` is von Mises around the azimuth of ``y``: in the frame
  ``(e_1, e_2, e_z)`` with ``e_1`` the horizontal direction of ``y``,
  ``E[x | phi, y] = (rho A, 0, r sin phi)`` and
  ``Cov[x | phi, y] = diag(rho^2 (1 - A^2 - A/kappa), rho^2 A/kappa, 0)`` (``A = I_1/I_0``,
  ``E sin^2 = A/kappa`` from ``I_2 = I_0 - 2 I_1/kappa``). The remaining ``phi`` integral is a
  closed-curve quadrature in the half plane ``(y_xy, y_3)``; the posterior covariance is the
  law of total covariance ``E_phi Cov[x|phi] + Cov_phi E[x|phi]``.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _xp
from .._validation import check_positive
from ._base import Manifold, Posterior
from ._quadrature import CurveQuadrature, CurveSpec
from ._registry import register
from ._truncnorm import box_gaussian_moments
from ._vmf import von_mises_moments
from .curves import _check_spiral, _spiral_reach, _spiral_spec

__all__ = ["SwissRoll", "Torus3D"]

_LOG_2PI = math.log(2.0 * math.pi)
_TWO_PI = 2.0 * math.pi


# ============================================================================ swiss roll
@register
class SwissRoll(Manifold):
    """Swiss roll ``x = scale (u cos u, h, u sin u)``, uniform in ``(u, h)``.

    Defaults: ``sklearn.datasets.make_swiss_roll``'s geometry (``u in [1.5 pi, 4.5 pi]``,
    ``h in [0, 21]``) scaled by ``1/pi`` (radius 1.5 to 4.5, turns 2 apart, area ~190). Like
    sklearn the law is uniform in the parameters, so the density w.r.t. area is

    .. math:: \\log p(x) = -\\log\\big((u_{max} - u_{min})\\, h_{max}\\big)
                            - \\log\\big(scale^2 \\sqrt{1 + u^2}\\big).

    Smoothed law: spiral quadrature in ``u`` times the exact box integral in ``h``
    (:func:`box_gaussian_moments`); posterior covariance block-diagonal (``u`` and ``h``
    independent given ``y``). Reach: that of the spiral cross-section (product with an
    interval), Federer's formula via :func:`curve_reach`: ``3.1113 / pi = 0.99036`` for the
    defaults (half the gap between the inner end and the next turn). Exact generator
    ``h*(v) = x(u_min + (u_max - u_min) v_1, h_max v_2)``.

    Parameters
    ----------
    ambient_dim, seed
        See :class:`Manifold`.
    u_min, u_max : float
        Spiral parameter range, ``0 < u_min < u_max <= 1e3``.
    height : float
        ``h_max`` (> 0), before scaling; ``height * scale <= 1e12``.
    scale : float
        Overall scale in ``[1e-6, 1e6]``.
    """

    name = "swiss_roll"
    dim = 2
    native_dim = 3
    generator_latent_dim = 2

    def __init__(
        self, ambient_dim=None, seed=0, u_min=1.5 * math.pi, u_max=4.5 * math.pi, height=21.0,
        scale=1 / math.pi,
    ):  # fmt: skip
        super().__init__(ambient_dim, seed)
        self.u_min, self.u_max, self.scale = _check_spiral(u_min, u_max, scale)
        self.height = check_positive(height, "height")
        if self.height * self.scale > 1e12:
            raise ValueError(
                f"height * scale must be <= 1e12; got height={height!r}, scale={scale!r}"
            )
        self._spec = _spiral_spec(self.u_min, self.u_max, self.scale)
        self._quad = CurveQuadrature(
            self._spec, params=f"u_min={self.u_min:g}, u_max={self.u_max:g}, scale={self.scale:g}"
        )
        self.reach = _spiral_reach(self.u_min, self.u_max, self.scale)

    def _assemble(self, xz, h):
        return np.stack([xz[:, 0], h, xz[:, 1]], axis=-1)

    def _param(self, x):
        return np.clip(np.hypot(x[:, 0], x[:, 2]) / self.scale, self.u_min, self.u_max)

    def _sample(self, n, rng):
        u = rng.uniform(self.u_min, self.u_max, n)
        h = rng.uniform(0.0, self.height, n)
        return self._assemble(self._spec.point(u, None), self.scale * h)

    def _project(self, y):
        xz = self._quad.project(y[:, [0, 2]])[2]
        return self._assemble(xz, np.clip(y[:, 1], 0.0, self.scale * self.height))

    def _tangent(self, x):
        d1, _ = self._spec.derivatives(self._param(x), None)
        d1 = d1 / np.linalg.norm(d1, axis=1, keepdims=True)
        n = x.shape[0]
        T = np.zeros((n, 3, 2))
        T[:, 0, 0], T[:, 2, 0] = d1[:, 0], d1[:, 1]
        T[:, 1, 1] = 1.0
        return T

    def _log_density(self, x):
        u = self._param(x)
        return -math.log((self.u_max - self.u_min) * self.height) - np.log(
            self.scale**2 * np.sqrt(1.0 + u * u)
        )

    def _posterior(self, y, s, cov):
        logi, m_xz, c_xz = self._quad.integrate(y[:, [0, 2]], s, cov)
        hmax = self.scale * self.height
        log_mass, m_h, v_h = box_gaussian_moments(y[:, 1], s, 0.0, hmax)
        log_marg = logi - (_LOG_2PI + 2.0 * math.log(s)) + log_mass - math.log(hmax)
        mean = self._assemble(m_xz, m_h)
        c = None
        if cov:
            c = np.zeros((y.shape[0], 3, 3))
            c[:, 0, 0], c[:, 0, 2] = c_xz[:, 0, 0], c_xz[:, 0, 1]
            c[:, 2, 0], c[:, 2, 2] = c_xz[:, 1, 0], c_xz[:, 1, 1]
            c[:, 1, 1] = v_h
        return Posterior(mean, log_marg, c)

    def _generator(self, v):
        xp = _xp.namespace(v)
        u = self.u_min + (self.u_max - self.u_min) * v[:, 0]
        h = self.height * v[:, 1]
        return self.scale * xp.stack([u * xp.cos(u), h, u * xp.sin(u)], -1)


# ============================================================================ donut torus
def _torus_phi_inverse_cdf(v: np.ndarray, R: float, r: float) -> np.ndarray:
    """Solve ``R phi + r sin phi = 2 pi R v`` on ``[0, 2 pi]`` (safeguarded Newton, to rounding)."""
    target = _TWO_PI * R * v
    lo = np.zeros_like(v)
    hi = np.full_like(v, _TWO_PI)
    phi = v * _TWO_PI
    for _ in range(100):
        g = R * phi + r * np.sin(phi) - target
        lo = np.where(g < 0, phi, lo)
        hi = np.where(g > 0, phi, hi)
        step = g / (R + r * np.cos(phi))
        new = phi - step
        bad = ~((new > lo) & (new < hi))
        new = np.where(bad, 0.5 * (lo + hi), new)
        done = np.abs(new - phi) <= 4e-16 * _TWO_PI
        phi = new
        if np.all(done):
            break
    return phi


@register
class Torus3D(Manifold):
    """Donut torus in ``R^3`` (MAGT's torus3d: ``R = 2, r = 1``), uniform in surface area.

    ``x = ((R + r cos phi) cos theta, (R + r cos phi) sin theta, r sin phi)``; the area element
    is ``r (R + r cos phi) dphi dtheta``, so ``log p = -log(4 pi^2 R r)``, ``theta`` is uniform
    and ``phi`` has density ``(R + r cos phi) / (2 pi R)``. The ``theta`` integral is exact
    (Bessel ``I_0``, see the module docstring) and the ``phi`` integral a windowed
    Gauss–Legendre quadrature over the tube's circular cross-section (periodic, smooth).
    Projection is closed form. Reach ``min(r, R - r)`` (= 1). Exact generator: ``theta = 2 pi
    v_2`` and ``phi = F^{-1}(v_1)`` with ``F(phi) = (R phi + r sin phi) / (2 pi R)``, solved by
    safeguarded Newton to rounding; under torch the root is found without gradient (in numpy,
    on the CPU) and one final Newton step on the tensor carries the exact derivative
    ``dphi/dv_1 = 2 pi R / (R + r cos phi)`` (implicit function theorem), so the map is
    differentiable.

    Parameters
    ----------
    ambient_dim, seed
        See :class:`Manifold`.
    R, r : float
        Major and minor radius, ``1e12 >= R > r >= 1e-12 R``.
    """

    name = "torus3d"
    dim = 2
    native_dim = 3
    generator_latent_dim = 2

    def __init__(self, ambient_dim=None, seed=0, R=2.0, r=1.0):
        super().__init__(ambient_dim, seed)
        self.R = check_positive(R, "R")
        self.r = check_positive(r, "r")
        if not self.r < self.R:
            raise ValueError(f"r must be smaller than R (a donut torus); got R={R!r}, r={r!r}")
        if self.R > 1e12 or self.r < 1e-12 * self.R:
            raise ValueError(f"R must be <= 1e12 and r >= 1e-12 R; got R={R!r}, r={r!r}")
        self.reach = min(self.r, self.R - self.r)
        Rr, rr = self.R, self.r

        def point(u, piece):
            return np.stack([Rr + rr * np.cos(u), rr * np.sin(u)], axis=-1)

        def derivatives(u, piece):
            c, s = np.cos(u), np.sin(u)
            return rr * np.stack([-s, c], axis=-1), rr * np.stack([-c, -s], axis=-1)

        def log_prior(u, piece):
            return np.log((Rr + rr * np.cos(u)) / (_TWO_PI * Rr))

        self._spec = CurveSpec(2, ((0.0, _TWO_PI),), point, derivatives, log_prior)
        # log I0e(kappa) varies over phi by at most 0.5 log((R + r)/(R - r)) (sqrt(k) I0e(k) grows)
        extra = 0.5 * math.log((Rr + rr) / (Rr - rr)) + 0.1
        self._quad = CurveQuadrature(
            self._spec, panel_length=0.25 * rr * math.pi, extra_bound=extra
        )

    # -------------------------------------------------------------- geometry
    def _angles(self, x):
        theta = np.arctan2(x[:, 1], x[:, 0])
        phi = np.arctan2(x[:, 2], np.hypot(x[:, 0], x[:, 1]) - self.R)
        return theta, phi

    def _embed(self, theta, phi):
        rho = self.R + self.r * np.cos(phi)
        return np.stack([rho * np.cos(theta), rho * np.sin(theta), self.r * np.sin(phi)], axis=-1)

    def _sample(self, n, rng):
        # rejection: phi uniform, accepted with probability (R + r cos phi) / (R + r)
        phis = []
        got = 0
        while got < n:
            m = 2 * (n - got) + 16
            phi = rng.uniform(0.0, _TWO_PI, m)
            acc = rng.uniform(size=m) * (self.R + self.r) < self.R + self.r * np.cos(phi)
            phis.append(phi[acc])
            got += int(acc.sum())
        phi = np.concatenate(phis)[:n]
        theta = rng.uniform(0.0, _TWO_PI, n)
        return self._embed(theta, phi)

    def _project(self, y):
        theta, phi = self._angles(y)
        return self._embed(theta, phi)

    def _tangent(self, x):
        theta, phi = self._angles(x)
        ct, st, cp, sp = np.cos(theta), np.sin(theta), np.cos(phi), np.sin(phi)
        e_theta = np.stack([-st, ct, np.zeros_like(ct)], axis=-1)
        e_phi = np.stack([-sp * ct, -sp * st, cp], axis=-1)
        return np.stack([e_theta, e_phi], axis=-1)

    def _log_density(self, x):
        return np.full(x.shape[0], -math.log(_TWO_PI * _TWO_PI * self.R * self.r))

    # -------------------------------------------------------------- smoothed law
    def _posterior(self, y, s, cov):
        rho_y = np.hypot(y[:, 0], y[:, 1])
        z = np.stack([rho_y, y[:, 2]], axis=-1)

        def cond(zq, u, piece, c, s_):
            rho = c[:, 0]
            kappa = rho * zq[:, 0] / (s_ * s_)
            log_i0e, A, Ak, V = von_mises_moments(kappa)
            cm = np.stack([rho * A, np.zeros_like(rho), c[:, 1]], axis=-1)
            cc = None
            if cov:
                cc = np.zeros((rho.size, 3, 3))
                cc[:, 0, 0] = rho * rho * V
                cc[:, 1, 1] = rho * rho * Ak
            return log_i0e, cm, cc

        logi, m, c = self._quad.integrate(z, s, cov, cond=cond)
        # frame (e1, e2, ez): e1 the horizontal direction of y (any direction on the axis)
        on_axis = rho_y <= 0
        safe = np.where(on_axis, 1.0, rho_y)
        e1 = np.where(on_axis[:, None], np.array([1.0, 0.0]), y[:, :2] / safe[:, None])
        F = np.zeros((y.shape[0], 3, 3))
        F[:, 0, 0], F[:, 1, 0] = e1[:, 0], e1[:, 1]
        F[:, 0, 1], F[:, 1, 1] = -e1[:, 1], e1[:, 0]
        F[:, 2, 2] = 1.0
        mean = np.einsum("nij,nj->ni", F, m)
        cv = np.einsum("nij,njk,nlk->nil", F, c, F) if cov else None
        return Posterior(mean, logi - 1.5 * (_LOG_2PI + 2.0 * math.log(s)), cv)

    # -------------------------------------------------------------- generator
    def _generator(self, v):
        xp = _xp.namespace(v)
        R, r = self.R, self.r
        if _xp.is_torch(v):
            import torch

            v1 = v[:, 0]
            root = _torus_phi_inverse_cdf(v1.detach().cpu().numpy().astype(np.float64), R, r)
            p0 = torch.as_tensor(root, dtype=v.dtype, device=v.device)
        else:
            v1 = v[:, 0]
            p0 = _torus_phi_inverse_cdf(np.asarray(v1, dtype=np.float64), R, r)
        # one Newton step from the root: same value, exact derivative w.r.t. v1
        phi = p0 - (R * p0 + r * xp.sin(p0) - _TWO_PI * R * v1) / (R + r * xp.cos(p0))
        theta = _TWO_PI * v[:, 1]
        rho = R + r * xp.cos(phi)
        return xp.stack([rho * xp.cos(theta), rho * xp.sin(theta), r * xp.sin(phi)], -1)
