"""Quadrature for manifolds given by a parametrisation (docs/conventions.md §3, last bullet).

The smoothed law of a curve ``c: [a, b] -> R^k`` carrying a parameter density ``pi(u)`` is

.. math::

    p_s(z) = \\int \\pi(u)\\, e^{\\ell(z, u)}\\, \\varphi_k(z - c(u); s^2 I)\\, du ,

(``ell`` is an optional smooth extra log factor, used by the donut torus whose inner angle is
integrated in closed form), and every posterior moment is a ratio of such integrals (MAGT §2,
Tweedie identity). :class:`CurveQuadrature` evaluates them with **windowed composite
Gauss–Legendre quadrature** and log-sum-exp:

1. *Coarse panels.* Each parameter interval (a *piece*; the moons have two) is cut into panels
   of arclength about ``panel_length``. Per panel, bounds ``S >= max |c'|`` and
   ``G >= max |c''|`` are taken from 33 samples times a safety factor 1.25.
2. *Window.* For a query ``z`` and an interval ``[lo, hi]`` with endpoint squared distances
   ``f_lo, f_hi`` (``f(u) = |z - c(u)|^2``), two lower bounds hold on the whole interval:
   ``(min(d_lo, d_hi) - S (hi - lo) / 2)_+^2`` (every point lies within arclength
   ``S (hi-lo)/2`` of an endpoint) and ``min(f_lo, f_hi) - (S^2 + d_max G)(hi - lo)^2 / 4``
   (``f'' <= 2 (S^2 + d_max G)``, so ``f`` minus its chord is at least
   ``-(S^2 + d_max G)(u-lo)(hi-u)``). An interval whose lower bound exceeds the best squared
   distance found so far, ``f_up``, by more than ``2 s^2 T`` is dropped. With
   ``T = cutoff + (max - min) log pi + extra_bound`` the dropped mass relative to the kept
   mass is below ``e^{-cutoff} (b - a) sqrt(S^2 + d G) / s`` (the peak holds at least
   ``pi_min sqrt(2 pi) sigma_u / 2`` of mass), i.e. below ``1e-15`` for ``cutoff = 50``,
   ``s >= 1e-3`` and ``|z| <= 1e4`` (``1e-14`` at ``|z| = 1e6``).
3. *Refinement.* Around a minimiser of ``f`` the integrand is a Gaussian in ``u`` of width
   ``sigma_u = s / sqrt(f''/2) >= s / sqrt(S^2 + d_max G)``. Kept intervals are split (at most
   16 parts per pass, then re-windowed with the improved ``f_up``) until
   ``(hi - lo) <= width * sigma_u``; each final interval gets ``order`` Gauss–Legendre nodes.
   For a Gaussian integrand of width ``sigma`` on a panel of length ``H = beta sigma``, the
   ``q``-point rule errs by at most

   .. math::

       \\frac{H^{2q+1} (q!)^4}{(2q+1) ((2q)!)^3} \\max |f^{(2q)}|
       \\le \\frac{\\beta^{2q+1} (q!)^4 (2q-1)!!}{(2q+1)((2q)!)^3},

   which for ``q = 10`` and ``beta = 1.5`` is ``2e-17`` of the panel's mass (``2e-13`` for
   ``beta = 3``). Equivalently, the mean node spacing times ``sqrt(|c'|^2 + d |c''|)`` is at most
   ``s / c`` with ``c = order / width = 6.7``: the familiar trapezoid estimate
   ``exp(-2 pi^2 (s / (h |c'|))^2)`` for this spacing is ``e^{-880}``. The curvature term
   ``d |c''|`` makes far points on the convex side (whose posterior is narrower,
   ``s / sqrt(|c'|^2 (1 + d kappa))``) just as accurate.
   *Boundary layers.* When the nearest point is an end of an open curve, ``f' != 0`` there and
   the integrand is an exponential ``exp(-|f'| (u - u_end) / 2 s^2)`` of width
   ``2 s^2 / |f'| = s^2 / (d |c'| cos)``, far narrower than ``sigma_u`` once ``d >> s``. The
   slope is tracked at every interval end (``f' = -2 <z - c, c'>``) and intervals are also split
   until ``H max|f'| / (2 s^2) <= 5 + Delta / 2``, with ``Delta`` the interval's log-mass deficit
   below the peak (the 10-point rule errs by ``4e-16`` on ``exp(-5 x)``, ``3e-9`` on
   ``exp(-15 x)`` over ``[0, 1]``, always below ``1e-15 e^Delta``).
   Halving ``width`` (twice the nodes) and widening the window change the log density and the
   mean by less than ``1e-12`` relative, the covariance within the conditioning limit of item 4
   (the tests check ``1e-10`` and compare with ``scipy.integrate.quad_vec``).
4. *Log-sum-exp with a reference point.* With ``r`` the best curve point found in the window,
   the exponent is evaluated as ``|z - c|^2 - |z - r|^2 = <c - r, (c - r) + 2 (r - z)>``, which
   keeps the relative weights exact to rounding even for ``|z - r| = 1e4, s = 1e-3``
   (``-|z-r|^2 / 2 s^2`` is added to the log marginal separately). What remains is the
   conditioning of the problem itself: the curve points carry rounding ``eps |c|``, so weights
   are exact to ``~eps |c| d / s^2`` relative (``1e-7`` at ``d = 140, s = 1e-3``, where the
   posterior covariance is ``~1e-17``; the Hessian ``Cov / s^4 - I / s^2`` is still exact to
   ``1e-15`` relative).

5. *Caps and the far-field fallback.* Every loop stops: the refinement of step 3 runs at most
   ``_MAX_PASSES = 40`` passes and keeps at most ``_MAX_INTERVALS_PER_QUERY = 2000`` live
   intervals per query; a curve has at most ``_MAX_PANELS = 20000`` coarse panels (longer
   curves are rejected when the manifold is built); golden-section and Newton steps have fixed
   counts (caps in :mod:`._quadrature_base`). Queries too far for the window of step 2
   (``|z| / s`` beyond ``~2.4e7``, where rounding of ``f`` exceeds one unit of log weight),
   and queries whose window hits a cap or loses every interval to rounding, get their
   intervals from the Laplace limit at the nearest point instead, with an error estimate that
   raises ``ValueError`` rather than return a wrong value (:mod:`._quadrature_laplace`).

Memory is bounded: queries are processed in blocks whose node count stays below
``node_budget``, and nothing of size ``queries x nodes x k`` beyond one block is formed. Cost:
about 200 nodes per query at ``s = 1e-3`` (0.05-0.3 s of one core per 1000 queries, any ``s``
in ``[1e-3, 10]``, near or far points).

The same panels give the nearest point (:meth:`CurveQuadrature.project`,
:mod:`._quadrature_projection`).

Re-exported here, where they were defined before the split (the tests import them from
here): :class:`CurveSpec` and :func:`gauss_legendre` (:mod:`._quadrature_base`), the von Mises
moments (:func:`von_mises_moments`, :mod:`._vmf`), the truncated-normal moments
(:func:`truncnorm_edge_moments`, :func:`box_gaussian_moments`, :mod:`._truncnorm`) and
Federer's reach of a parametrised curve (:func:`curve_reach`, :mod:`._reach`).
"""

from __future__ import annotations

import math

import numpy as np

from ._quadrature_base import (
    _BOUND_SAFETY,
    _MAX_INTERVALS_PER_QUERY,
    _MAX_PANELS,
    _MAX_PASSES,
    _MAX_SPLIT,
    _SLOPE_STEP,
    CurveSpec,
    gauss_legendre,
)
from ._quadrature_laplace import _LaplaceWindows
from ._quadrature_projection import _NearestPoint
from ._reach import curve_reach
from ._truncnorm import box_gaussian_moments, truncnorm_edge_moments
from ._vmf import von_mises_moments

__all__ = [
    "CurveSpec",
    "CurveQuadrature",
    "von_mises_moments",
    "box_gaussian_moments",
    "truncnorm_edge_moments",
    "curve_reach",
    "gauss_legendre",
]


def _segment_starts(q: np.ndarray, n: int) -> np.ndarray:
    """Start index of each query's run in the sorted index array ``q`` (every query present)."""
    return np.searchsorted(q, np.arange(n))


class CurveQuadrature(_NearestPoint, _LaplaceWindows):
    """Windowed composite Gauss–Legendre quadrature over a parametrised curve.

    See the module docstring for the algorithm and its error bound.

    Parameters
    ----------
    spec : CurveSpec
        The curve.
    panel_length : float
        Target arclength of the coarse panels.
    order : int
        Gauss–Legendre nodes per final interval.
    width : float
        Final intervals have parameter length at most ``width * sigma_u``.
    cutoff : float
        Window cutoff ``T`` in units of ``2 s^2`` of squared distance (before the prior and
        ``extra_bound`` margins are added).
    extra_bound : float
        Bound on the variation over ``u`` of the extra log factor of ``cond`` (0 if none).
    node_budget : int
        Largest number of quadrature nodes formed at once.
    """

    def __init__(
        self,
        spec: CurveSpec,
        *,
        panel_length: float = 0.5,
        order: int = 10,
        width: float = 1.5,
        cutoff: float = 50.0,
        extra_bound: float = 0.0,
        node_budget: int = 2**18,
        params: str = "the curve's parameters",
    ):
        self.spec = spec
        self._args = dict(
            panel_length=panel_length, order=order, width=width, cutoff=cutoff,
            extra_bound=extra_bound, node_budget=node_budget, params=params,
        )  # fmt: skip
        self.order = int(order)
        self.width = float(width)
        self.node_budget = int(node_budget)
        lo, hi, piece, S, G, lp = [], [], [], [], [], []
        t = np.linspace(0.0, 1.0, 33)
        for i, (a, b) in enumerate(spec.pieces):
            x, w = gauss_legendre(64)
            uu = a + (b - a) * np.linspace(0, 1, 65)
            length = 0.0
            for j in range(64):  # arclength of the piece (composite GL, smooth speed)
                nodes = uu[j] + (uu[j + 1] - uu[j]) * x
                d1, _ = spec.derivatives(nodes, np.full(nodes.shape, i))
                length += (uu[j + 1] - uu[j]) * float(w @ np.linalg.norm(d1, axis=1))
            if not (math.isfinite(length) and length / panel_length <= _MAX_PANELS):
                raise ValueError(
                    f"{params}: the curve is {length:.3g} long, over {_MAX_PANELS} quadrature "
                    f"panels of arclength {panel_length:g}; use a shorter or smaller curve"
                )
            n_pan = max(4, int(math.ceil(length / panel_length)))
            br = np.linspace(a, b, n_pan + 1)
            samples = br[:-1, None] + (br[1:] - br[:-1])[:, None] * t[None, :]
            pc = np.full(samples.size, i)
            d1, d2 = spec.derivatives(samples.ravel(), pc)
            S.append(_BOUND_SAFETY * np.linalg.norm(d1, axis=1).reshape(samples.shape).max(1))
            G.append(_BOUND_SAFETY * np.linalg.norm(d2, axis=1).reshape(samples.shape).max(1))
            lp.append(spec.log_prior(samples.ravel(), pc))
            lo.append(br[:-1])
            hi.append(br[1:])
            piece.append(np.full(n_pan, i))
        self.p_lo = np.concatenate(lo)
        self.p_hi = np.concatenate(hi)
        self.p_piece = np.concatenate(piece)
        self.p_S = np.concatenate(S) + 1e-300
        self.p_G = np.concatenate(G)
        lp = np.concatenate(lp)
        self.cutoff = float(cutoff) + float(lp.max() - lp.min()) + 0.1 + float(extra_bound)
        self.n_panels = self.p_lo.size
        ends = np.concatenate([self.p_lo, self.p_hi])
        pe = np.concatenate([self.p_piece, self.p_piece])
        #: bound on |c(u)| (panel ends plus half a panel's arclength)
        self.c_max = float(
            np.max(np.linalg.norm(spec.point(ends, pe), axis=1))
            + np.max(self.p_S * (self.p_hi - self.p_lo))
        )

    def refined(self, factor: float = 2.0, cutoff: float | None = None) -> "CurveQuadrature":
        """A copy with ``factor`` times the node density (and optionally another cutoff).

        Used to check convergence: results must not move when the nodes are doubled or the
        window is widened.
        """
        args = dict(self._args)
        args["width"] = args["width"] / float(factor)
        if cutoff is not None:
            args["cutoff"] = float(cutoff)
        return CurveQuadrature(self.spec, **args)

    # ------------------------------------------------------------------ helpers
    def _eval(self, z, q, u, piece):
        """``f = |z - c|^2``, ``f' = -2 <z - c, c'>`` and ``c`` at ``u`` for queries ``q``."""
        c = self.spec.point(u, piece)
        d1, _ = self.spec.derivatives(u, piece)
        diff = z[q] - c
        return np.einsum("ij,ij->i", diff, diff), -2.0 * np.einsum("ij,ij->i", diff, d1), c

    # ------------------------------------------------------------------ windowing
    def _window(self, z: np.ndarray, s: float):
        """Final intervals (sorted by query), best squared distance and reference point."""
        n = z.shape[0]
        P = self.n_panels
        q = np.repeat(np.arange(n), P)
        lo = np.tile(self.p_lo, n)
        hi = np.tile(self.p_hi, n)
        pc = np.tile(self.p_piece, n)
        S = np.tile(self.p_S, n)
        G = np.tile(self.p_G, n)
        f_lo, g_lo, c_lo = self._eval(z, q, lo, pc)
        f_hi, g_hi, c_hi = self._eval(z, q, hi, pc)
        both = np.concatenate([f_lo.reshape(n, P), f_hi.reshape(n, P)], axis=1)
        arg = np.argmin(both, axis=1)
        f_up = both[np.arange(n), arg]
        ends = np.concatenate([c_lo.reshape(n, P, -1), c_hi.reshape(n, P, -1)], axis=1)
        ref = ends[np.arange(n), arg].copy()
        thresh = 2.0 * s * s * self.cutoff
        max_intervals = n * (P + _MAX_INTERVALS_PER_QUERY)
        for _pass in range(_MAX_PASSES + 1):
            if _pass == _MAX_PASSES or q.size > max_intervals:
                return None  # cap reached: the caller uses the Laplace windows
            d_lo, d_hi = np.sqrt(f_lo), np.sqrt(f_hi)
            H = hi - lo
            L = S * H
            dmax = np.maximum(d_lo, d_hi) + 0.5 * L
            curv = S * S + dmax * G  # >= f''/2 on the interval
            low1 = np.maximum(np.minimum(d_lo, d_hi) - 0.5 * L, 0.0) ** 2
            low2 = np.minimum(f_lo, f_hi) - 0.25 * curv * H * H
            deficit = np.maximum(low1, low2) - f_up[q]
            keep = deficit <= thresh
            q, lo, hi, pc, S, G, f_lo, f_hi, g_lo, g_hi, H, curv, deficit = (
                a[keep] for a in (q, lo, hi, pc, S, G, f_lo, f_hi, g_lo, g_hi, H, curv, deficit)
            )
            # Gaussian width: H sqrt(f''/2) <= width s. Boundary layers (minimum at an end
            # point where f' != 0): H max|f'| / (2 s^2) <= 5 + Delta/2, Delta >= 0 the interval's
            # log-mass deficit below the peak (10-point GL errs by 4e-16 on exp(-5x), 3e-9 on
            # exp(-15x), 2e-5 on exp(-30x) over [0, 1]: always < 1e-15 e^Delta)
            need_curv = H * np.sqrt(curv) / (self.width * s)
            slope = np.minimum(np.abs(g_lo), np.abs(g_hi)) + 2.0 * curv * H
            step = _SLOPE_STEP + 0.5 * np.maximum(deficit, 0.0) / (2.0 * s * s)
            need_slope = H * slope / (2.0 * s * s * step * self.width / 1.5)
            need = np.maximum(need_curv, need_slope)
            m = np.where(need > 1.0, np.minimum(np.ceil(need), _MAX_SPLIT), 1).astype(np.int64)
            if np.all(m == 1):
                break
            # split: new interior points j/m, j = 1..m-1, of every interval with m > 1
            idx = np.repeat(np.arange(q.size), m)
            first = np.cumsum(m) - m
            j = np.arange(idx.size) - first[idx]  # 0..m-1 within each interval
            new_lo = lo[idx] + H[idx] * (j / m[idx])
            new_hi = np.where(j == m[idx] - 1, hi[idx], lo[idx] + H[idx] * ((j + 1) / m[idx]))
            interior = j > 0  # points new_lo[j] for j >= 1 are new
            qi = q[idx[interior]]
            f_new, g_new, c_new = self._eval(z, qi, new_lo[interior], pc[idx[interior]])
            f_lo_new = np.empty(idx.size)
            g_lo_new = np.empty(idx.size)
            f_lo_new[~interior] = f_lo[idx[~interior]]
            g_lo_new[~interior] = g_lo[idx[~interior]]
            f_lo_new[interior] = f_new
            g_lo_new[interior] = g_new
            last = j == m[idx] - 1
            nxt = np.nonzero(~last)[0] + 1
            f_hi_new = np.empty(idx.size)
            g_hi_new = np.empty(idx.size)
            f_hi_new[last] = f_hi[idx[last]]
            g_hi_new[last] = g_hi[idx[last]]
            # the right end of sub-interval j is the left end of sub-interval j + 1
            f_hi_new[~last] = f_lo_new[nxt]
            g_hi_new[~last] = g_lo_new[nxt]
            # improve the best squared distance and the reference point
            best = f_up.copy()
            np.minimum.at(best, qi, f_new)
            hit = np.nonzero((f_new <= best[qi]) & (f_new < f_up[qi]))[0]
            ref[qi[hit]] = c_new[hit]
            f_up = best
            q, lo, hi, pc = q[idx], new_lo, new_hi, pc[idx]
            S, G = S[idx], G[idx]
            f_lo, f_hi, g_lo, g_hi = f_lo_new, f_hi_new, g_lo_new, g_hi_new
        return q, lo, hi, pc, f_up, ref

    # ------------------------------------------------------------------ integration
    def integrate(self, z, s: float, cov: bool = False, cond=None):
        """Log integral and posterior moments at queries ``z`` (``(n, k)``), noise scale ``s``.

        Parameters
        ----------
        z : (n, k) ndarray
            Queries.
        s : float
            Noise scale.
        cov : bool
            Also return the posterior covariance.
        cond : callable, optional
            ``cond(zq, u, piece, c, s) -> (log_extra (m,), mean (m, p), cov (m, p, p) or None)``:
            an extra log factor of the integrand and the conditional moments of the output
            variable given ``u`` (default: none, and the output is ``c(u)`` itself).

        Returns
        -------
        log_integral : (n,) ndarray
            ``log int pi(u) e^{extra} exp(-|z - c(u)|^2 / (2 s^2)) du`` (no Gaussian constant).
        mean : (n, p) ndarray
        cov : (n, p, p) ndarray or None
        """
        z = np.asarray(z, dtype=np.float64)
        n = z.shape[0]
        # block the windowing so the (queries x panels) stage stays small
        block = max(1, (2**19) // self.n_panels)
        outs = [self._integrate_block(z[i : i + block], s, cov, cond) for i in range(0, n, block)]
        logi = np.concatenate([o[0] for o in outs])
        mean = np.concatenate([o[1] for o in outs])
        c = np.concatenate([o[2] for o in outs]) if cov else None
        return logi, mean, c

    def _intervals(self, z, s):
        """Final intervals of a block: :meth:`_window` where valid, else Laplace windows."""
        n = z.shape[0]
        far = self._far(z, s)
        q = np.zeros(0, dtype=np.int64)
        lo = hi = loglen = np.zeros(0)
        pc = np.zeros(0, dtype=np.int64)
        f_up = np.full(n, np.inf)
        ref = np.zeros((n, self.spec.dim))
        near = np.nonzero(~far)[0]
        if near.size:
            res = self._window(z[near], s)
            if res is None:  # a cap was reached
                far[:] = True
            else:
                qn, lo, hi, pc, fu_n, ref_n = res
                q = near[qn]
                loglen = np.log(hi - lo)
                f_up[near], ref[near] = fu_n, ref_n
                # rounding can drop every interval of a query: use its Laplace window
                far[near[np.bincount(qn, minlength=near.size) == 0]] = True
        if np.any(far):
            fi = np.nonzero(far)[0]
            drop = far[q]
            q, lo, hi, pc, loglen = q[~drop], lo[~drop], hi[~drop], pc[~drop], loglen[~drop]
            ql, lol, hil, pcl, lll = self._laplace_window(z[fi], s)
            loglen = np.concatenate([loglen, lll])
            _, _, c_b, f_b = self.project(z[fi])  # reference: the nearest point
            f_up[fi], ref[fi] = f_b, c_b
            q = np.concatenate([q, fi[ql]])
            lo, hi = np.concatenate([lo, lol]), np.concatenate([hi, hil])
            pc = np.concatenate([pc, pcl.astype(pc.dtype)])
            order = np.argsort(q, kind="stable")
            q, lo, hi, pc, loglen = q[order], lo[order], hi[order], pc[order], loglen[order]
        return q, lo, hi, pc, f_up, ref, loglen

    def _integrate_block(self, z, s, cov, cond):
        n = z.shape[0]
        q, lo, hi, pc, f_up, ref, loglen = self._intervals(z, s)
        xg, wg = gauss_legendre(self.order)
        counts = np.bincount(q, minlength=n) * self.order
        # groups of whole queries with at most node_budget nodes
        bounds = [0]
        csum = np.cumsum(counts)
        while bounds[-1] < n:
            start_nodes = csum[bounds[-1] - 1] if bounds[-1] > 0 else 0
            stop = int(np.searchsorted(csum, start_nodes + self.node_budget, side="right"))
            bounds.append(max(stop, bounds[-1] + 1))
        starts_pairs = _segment_starts(q, n)
        starts_pairs = np.append(starts_pairs, q.size)
        logi = np.empty(n)
        means, covs = [], []
        for g0, g1 in zip(bounds[:-1], bounds[1:]):
            sl = slice(starts_pairs[g0], starts_pairs[g1])
            qq = q[sl] - g0
            H = hi[sl] - lo[sl]
            u = (lo[sl][:, None] + H[:, None] * xg[None, :]).ravel()
            qn = np.repeat(qq, self.order)
            pn = np.repeat(pc[sl], self.order)
            logw = (loglen[sl][:, None] + np.log(wg)[None, :]).ravel()
            zg, rg = z[g0:g1], ref[g0:g1]
            c = self.spec.point(u, pn)
            dev = c - rg[qn]
            quad = np.einsum("ij,ij->i", dev, dev + 2.0 * (rg - zg)[qn])
            logw += self.spec.log_prior(u, pn) - quad / (2.0 * s * s)
            if cond is not None:
                extra, cm, cc = cond(zg[qn], u, pn, c, s)
                logw += extra
            ng = g1 - g0
            st = _segment_starts(qn, ng)
            mx = np.maximum.reduceat(logw, st)
            w = np.exp(logw - mx[qn])
            tot = np.add.reduceat(w, st)
            logi[g0:g1] = mx + np.log(tot) - f_up[g0:g1] / (2.0 * s * s)
            w /= tot[qn]
            if cond is None:
                mdev = np.add.reduceat(w[:, None] * dev, st, axis=0)
                means.append(rg + mdev)
                if cov:
                    dd = dev - mdev[qn]
                    outer = dd[:, :, None] * dd[:, None, :]
                    covs.append(np.add.reduceat(w[:, None, None] * outer, st, axis=0))
            else:
                m = np.add.reduceat(w[:, None] * cm, st, axis=0)
                means.append(m)
                if cov:
                    dd = cm - m[qn]
                    outer = dd[:, :, None] * dd[:, None, :]
                    if cc is not None:
                        outer = outer + cc
                    covs.append(np.add.reduceat(w[:, None, None] * outer, st, axis=0))
        mean = np.concatenate(means)
        return logi, mean, (np.concatenate(covs) if cov else None)
