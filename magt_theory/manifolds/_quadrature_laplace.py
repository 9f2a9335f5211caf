"""Far-field fallback of the curve quadrature (:mod:`._quadrature`, item 5): Laplace windows.

The window of :meth:`._quadrature.CurveQuadrature._window` compares absolute squared distances
``f(u) = |z - c(u)|^2``, whose rounding ``~eps (|z| + |c|)^2`` exceeds the unit ``2 s^2`` of
log weight once ``|z| / s`` passes ``~1 / sqrt(8 eps) = 2.4e7``. For such queries, and for any
query whose window hits a cap or loses every interval to rounding,
:meth:`_LaplaceWindows._laplace_window` builds the intervals from the Laplace limit instead:
far from the curve the posterior of ``u`` concentrates at the nearest point ``u*``, and with
``g = f'(u*)`` (non-zero only at a piece's end), ``h = f''(u*) / 2`` and ``delta = u - u*``,

.. math::

    \\log \\text{integrand} = -\\frac{g\\,\\delta + h\\,\\delta^2}{2 s^2}
        + O\\Big(\\frac{|f_3|\\,\\delta^3}{12 s^2}\\Big).

Each near-optimal local minimum of ``f`` gets a window from this quadratic model (Gaussian, or
exponential boundary layer at a curve's end), with the cubic term at the window's edge as the
error estimate; an estimate above 1, or a window needing more than
``_MAX_LAPLACE_PARTS = 4000`` intervals, raises ``ValueError`` naming ``y`` and ``sigma``
instead of returning a wrong value. Windows narrower than the resolution of ``u`` collapse to
one node with the model's exact mass (:func:`_quadratic_limit`). A query at distance ``1e8``
with ``s = 1e-6`` takes a few milliseconds; the tests compare such queries with mpmath at 60
digits.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.special as sc

from ._quadrature_base import _EPS, _MAX_LAPLACE_PARTS, _SLOPE_STEP
from ._truncnorm import box_gaussian_moments


class _LaplaceWindows:
    """Far-field test and Laplace windows of :class:`._quadrature.CurveQuadrature` (a mixin).

    Uses the host's ``spec``, ``cutoff``, ``width``, ``c_max`` and ``_candidates``.
    """

    def _far(self, z, s):
        """Queries where rounding of ``f = |z - c|^2`` exceeds one unit ``2 s^2`` of log weight.

        There the window of :meth:`_window` (built on absolute values of ``f``) is meaningless and
        :meth:`_laplace_window` is used instead.
        """
        zn = np.linalg.norm(z, axis=1)
        return 8.0 * _EPS * (zn + self.c_max) ** 2 > 2.0 * s * s

    def _laplace_window(self, z, s):
        """Intervals around each near-optimal local minimum of ``f`` (Laplace limit).

        Far from the curve (``dist / s`` beyond ~``1 / sqrt(eps)``), or when the caps of
        :meth:`_window` are reached, the posterior of ``u`` concentrates at the nearest point
        ``u*``: with ``g = f'(u*)`` (non-zero only at a piece's end) and ``h = f''(u*) / 2``,
        the log integrand is ``-(g delta + h delta^2) / (2 s^2) + O(|f3| delta^3 / (12 s^2))``
        for ``delta = u - u*`` (``f3`` the third derivative of ``f``). The window is the set
        where the quadratic part stays below the cutoff ``T`` (in units of ``2 s^2``), clipped
        to the piece; it is cut into parts that satisfy the same width and slope rules as
        :meth:`_window` and integrated with Gauss–Legendre nodes and the exact exponent relative
        to the reference point (:mod:`._quadrature`, item 4). Every local minimum within
        ``2 s^2 T`` (plus rounding) of the best one gets its own window, so near-ties
        (symmetric queries) are kept.

        The neglected mass outside the window is below ``e^{-T}`` as long as the cubic term is
        small there; its size at the window's edge, ``E = |f3| W^3 / (12 s^2)``, is the error
        estimate of the limit. ``E > 1`` (the quadratic model fails inside the window) raises
        ``ValueError``: the query cannot be integrated to the documented accuracy.

        A window narrower than ``1e-8 |u|`` (below the resolution of ``u``) becomes one node at
        the model's mean with the model's exact mass (:func:`_quadratic_limit`).

        Returns ``(query index, lo, hi, piece, log length)`` of the final intervals, sorted by
        query (the log length is ``log(hi - lo)``, or the model's log mass for a point window).
        """
        n = z.shape[0]
        T = self.cutoff
        W = 2.0 * s * s * T
        qi, u, p, fu, _, _ = self._candidates(z, W)
        fbest = np.full(n, np.inf)
        np.minimum.at(fbest, qi, fu)
        keep = fu - fbest[qi] <= W + 8.0 * _EPS * fbest[qi]
        qi, u, p, fu = qi[keep], u[keep], p[keep], fu[keep]
        spec = self.spec
        a_pc = np.array([a for a, _ in spec.pieces], dtype=np.float64)[p]
        b_pc = np.array([b for _, b in spec.pieces], dtype=np.float64)[p]
        # far away f is flat to rounding near an end minimum, so the refined u can stop short
        # of the end: move it there when f still decreases towards that end
        d1 = spec.derivatives(u, p)[0]
        c = spec.point(u, p)
        g = -2.0 * np.einsum("ij,ij->i", z[qi] - c, d1)
        g_noise = 64.0 * _EPS * (np.linalg.norm(z[qi], axis=1) + np.linalg.norm(c, axis=1)) * (
            np.linalg.norm(d1, axis=1)
        )
        near_end = 1e-6 * (b_pc - a_pc)
        u = np.where((g < -g_noise) & (b_pc - u <= near_end), b_pc, u)
        u = np.where((g > g_noise) & (u - a_pc <= near_end), a_pc, u)
        c = spec.point(u, p)
        d1, d2 = spec.derivatives(u, p)
        r = z[qi] - c
        g = -2.0 * np.einsum("ij,ij->i", r, d1)
        h = np.einsum("ij,ij->i", d1, d1) - np.einsum("ij,ij->i", r, d2)  # f''/2
        # g != 0 at an end minimum (pointing into the piece); at an interior minimum g is
        # rounding, ~eps |z - c| |c'| (the refined u may sit within rounding of an end, so the
        # test is the size of g, not the position of u)
        g_noise = 64.0 * _EPS * (np.linalg.norm(z[qi], axis=1) + np.linalg.norm(c, axis=1)) * (
            np.linalg.norm(d1, axis=1)
        )
        g = np.where(np.abs(g) <= g_noise, 0.0, g)
        hp = np.maximum(h, 0.0)
        D = np.sqrt(g * g + 4.0 * hp * W)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            up = np.where(g >= 0, 2.0 * W / (D + g), (D - g) / (2.0 * hp))
            dn = np.where(g <= 0, -2.0 * W / (D - g), -(D + g) / (2.0 * hp))
        up = np.where(np.isfinite(up), up, np.inf)
        dn = np.where(np.isfinite(dn), dn, -np.inf)
        lo = np.maximum(u + dn, a_pc)
        hi = np.minimum(u + up, b_pc)
        # third derivative of f by a central difference of f'' (error estimate of the limit)
        du = 1e-4 * (b_pc - a_pc)
        f3 = np.zeros_like(u)
        for sgn in (1.0, -1.0):
            uu = u + sgn * du
            e1, e2 = spec.derivatives(uu, p)
            rr = z[qi] - spec.point(uu, p)
            f3 += sgn * 2.0 * (np.einsum("ij,ij->i", e1, e1) - np.einsum("ij,ij->i", rr, e2))
        f3 = np.abs(f3) / (2.0 * du)
        Wd = np.maximum(hi - u, u - lo)
        err = f3 * Wd**3 / (12.0 * s * s)
        if np.any(err > 1.0):
            k = int(np.argmax(err))
            raise ValueError(
                f"query y (row {int(qi[k])}) at distance {math.sqrt(fu[k]):.3g} cannot be "
                f"integrated at sigma={s:.3g}: the posterior does not concentrate at one point "
                f"(Laplace error estimate {err[k]:.2g} > 1; y is near the medial axis, e.g. "
                "equidistant from a whole arc) and the windowed quadrature would exceed its "
                "interval cap; use a larger sigma"
            )
        # windows below the resolution of u (H / |u| < 1e-8): one node at the mean of the
        # quadratic model, carrying the model's exact mass (the window's own length would be
        # quantised by rounding); the neglected posterior spread is below 1e-8 |u| |c'|
        tiny = (hi - lo) <= 1e-8 * np.maximum(np.abs(u), 1.0)
        log_len = np.zeros_like(u)
        if np.any(tiny):
            ut = u[tiny]
            node, ll = _quadratic_limit(g[tiny], hp[tiny], lo[tiny] - ut, hi[tiny] - ut, s)
            lo[tiny] = hi[tiny] = np.clip(u[tiny] + node, a_pc[tiny], b_pc[tiny])
            log_len[tiny] = ll
        # parts: Gaussian width and boundary-layer slope rules of _window
        L = hi - lo
        hmax = hp + 0.5 * f3 * Wd
        gmax = np.abs(g) + 2.0 * hmax * L
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            parts = np.maximum(
                L * np.sqrt(hmax) / (self.width * s), L * gmax / (2.0 * s * s * _SLOPE_STEP)
            )
        parts = np.ceil(np.nan_to_num(parts, nan=1.0, posinf=np.inf))
        parts = np.where(tiny, 1.0, np.maximum(parts, 1.0))
        if np.any(parts > _MAX_LAPLACE_PARTS):
            k = int(np.argmax(parts))
            raise ValueError(
                f"query y (row {int(qi[k])}) cannot be integrated at sigma={s:.3g}: its "
                f"posterior needs {parts[k]:.3g} quadrature intervals (cap {_MAX_LAPLACE_PARTS})"
            )
        # merge overlapping windows of one query and piece (candidates of the same minimum)
        # (a point window is kept once per query and piece: duplicates of the same minimum)
        order = np.lexsort((lo, p, qi))
        qi, p, lo, hi, parts = qi[order], p[order], lo[order], hi[order], parts[order]
        tiny, log_len = tiny[order], log_len[order]
        mq, mp, mlo, mhi, mparts, mll = [], [], [], [], [], []
        for k in range(qi.size):
            same = mq and mq[-1] == qi[k] and mp[-1] == p[k]
            if same and (lo[k] <= mhi[-1] or (tiny[k] and mll[-1] is not None)):
                if mll[-1] is None or not tiny[k]:  # a resolved window absorbs a point
                    mhi[-1] = max(mhi[-1], hi[k])
                    if mll[-1] is None:
                        mparts[-1] += parts[k]
                continue
            mq.append(qi[k])
            mp.append(p[k])
            mlo.append(lo[k])
            mhi.append(hi[k])
            mparts.append(parts[k])
            mll.append(float(log_len[k]) if tiny[k] else None)
        m = np.asarray(mparts, dtype=np.int64)
        idx = np.repeat(np.arange(m.size), m)
        j = np.arange(idx.size) - (np.cumsum(m) - m)[idx]
        mlo, mhi = np.asarray(mlo), np.asarray(mhi)
        Hm = (mhi - mlo)[idx]
        out_lo = mlo[idx] + Hm * (j / m[idx])
        out_hi = np.where(j == m[idx] - 1, mhi[idx], mlo[idx] + Hm * ((j + 1) / m[idx]))
        pt = np.array([x is not None for x in mll], dtype=bool)[idx]
        with np.errstate(divide="ignore"):
            ll = np.where(pt, np.array([x or 0.0 for x in mll])[idx], np.log(out_hi - out_lo))
        return np.asarray(mq, dtype=np.int64)[idx], out_lo, out_hi, np.asarray(mp)[idx], ll


def _quadratic_limit(g, h, dl, du, s):
    """Mass and mean of ``exp(-(g delta + h delta^2) / (2 s^2))`` on ``[dl, du]``, ``dl <= 0 <= du``.

    The Laplace limit of a curve integral at its nearest point (:meth:`CurveQuadrature.
    _laplace_window`), for windows below the resolution of the parameter. At an end point
    (``g != 0``; the window lies on the side where ``g delta > 0``) the far end is negligible
    (the window reaches ``T = 50`` units) and, with ``a = |g| / 2 s^2``, ``b = h / 2 s^2``,

    .. math::

        \\int_0^\\infty e^{-a t - b t^2} dt = \\frac12 \\sqrt{\\pi / b}\\;
            \\mathrm{erfcx}\\Big(\\frac{a}{2\\sqrt b}\\Big),\\qquad
        E[t] = \\frac{1/L - a}{2 b}

    (``1/a`` for ``b = 0`` or ``a^2 / b > 1e6``, where the difference cancels). At an interior
    minimum (``g = 0``, ``h > 0``) the mass is that of ``N(0, s^2 / h)`` on ``[dl, du]`` and the
    mean its truncated mean (:func:`box_gaussian_moments`).

    Returns
    -------
    mean_delta, log_mass : ndarrays
    """
    g, h = np.asarray(g, float), np.asarray(h, float)
    a = np.abs(g) / (2.0 * s * s)
    b = h / (2.0 * s * s)
    end = g != 0.0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        sb = np.sqrt(np.where(end & (b > 0), b, 1.0))
        L = np.where(b > 0, 0.5 * np.sqrt(math.pi) / sb * sc.erfcx(a / (2.0 * sb)), 1.0 / a)
        series = (b <= 0) | (a * a > 1e6 * b)
        E = np.where(series, 1.0 / a, (1.0 / L - a) / (2.0 * b))
        mean_end = np.sign(g) * E
        log_end = np.log(L)
        hs = np.where(end | (h <= 0), 1.0, h)
        sd = s / np.sqrt(hs)
        log_mass, m_int, _ = box_gaussian_moments(np.zeros_like(g), 1.0, dl / sd, du / sd)
        log_int = log_mass + 0.5 * math.log(2.0 * math.pi) + np.log(sd)
        mean_int = sd * m_int
    return np.where(end, mean_end, mean_int), np.where(end, log_end, log_int)
