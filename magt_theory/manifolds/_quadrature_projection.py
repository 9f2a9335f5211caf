"""Nearest point on a parametrised curve: :meth:`._quadrature.CurveQuadrature.project`.

The coarse panels of the quadrature (:mod:`._quadrature`, item 1; speed and acceleration
bounds ``S >= max |c'|``, ``G >= max |c''|`` per panel) give the nearest point, the global
minimiser of

.. math::

    f(u) = |z - c(u)|^2,\\qquad f'(u) = -2 \\langle z - c, c'\\rangle,\\qquad
    \\tfrac12 f''(u) = |c'|^2 - \\langle z - c, c''\\rangle :

a grid of 8 points per panel, every discrete local minimum of ``f`` within the grid's error
margin ``2 (S^2 + d G) h^2`` of the best grid value, golden-section search on its bracket and
guarded Newton steps on ``f' = 0`` (distance accurate to rounding). The same candidates seed
the Laplace windows (:mod:`._quadrature_laplace`).
"""

from __future__ import annotations

import math

import numpy as np


class _NearestPoint:
    """Projection onto the curve for :class:`._quadrature.CurveQuadrature` (a mixin).

    Uses the host's ``spec`` and coarse panels ``p_lo``, ``p_hi``, ``p_piece``, ``p_S``, ``p_G``.
    """

    def project(self, z):
        """Nearest curve point to each row of ``z`` (global minimum of ``|z - c(u)|^2``).

        Parameters
        ----------
        z : (n, k) ndarray

        Returns
        -------
        u : (n,) ndarray
            Parameter of the nearest point.
        piece : (n,) int ndarray
        point : (n, k) ndarray
            ``c(u)``.
        dist2 : (n,) ndarray
            Squared distance.
        """
        z = np.asarray(z, dtype=np.float64)
        n = z.shape[0]
        qi, u, p, fu, _, _ = self._candidates(z, 0.0)
        # best candidate per query
        order_c = np.lexsort((fu, qi))
        sel = order_c[np.searchsorted(qi[order_c], np.arange(n))]
        return u[sel], p[sel], self.spec.point(u[sel], p[sel]), fu[sel]

    def _candidates(self, z, extra):
        """Every local minimum of ``f = |z - c|^2`` whose grid value is within the grid's error
        margin plus ``extra`` of the best grid value, refined to rounding.

        Returns ``(query index, u, piece, f(u), bracket lo, bracket hi)``, sorted by query; every
        query has at least one candidate (its best grid point).
        """
        n = z.shape[0]
        sub = 8
        t = np.arange(sub) / sub
        grid_u = (self.p_lo[:, None] + (self.p_hi - self.p_lo)[:, None] * t[None, :]).ravel()
        grid_p = np.repeat(self.p_piece, sub)
        h_grid = np.repeat((self.p_hi - self.p_lo) / sub, sub)
        S_grid = np.repeat(self.p_S, sub)
        G_grid = np.repeat(self.p_G, sub)
        # append each piece's right end, then sort by (piece, u)
        n_pc = len(self.spec.pieces)
        grid_u = np.concatenate([grid_u, [b for _, b in self.spec.pieces]])
        grid_p = np.concatenate([grid_p, np.arange(n_pc)])
        order = np.lexsort((grid_u, grid_p))
        grid_u, grid_p = grid_u[order], grid_p[order]
        h_grid = np.concatenate([h_grid, np.zeros(n_pc)])[order]
        S_grid = np.concatenate([S_grid, np.zeros(n_pc)])[order]
        G_grid = np.concatenate([G_grid, np.zeros(n_pc)])[order]
        # bounds for either neighbouring interval of a grid point
        h_nb = np.maximum(h_grid, np.concatenate([[0.0], h_grid[:-1]]))
        S_nb = np.maximum(S_grid, np.concatenate([[0.0], S_grid[:-1]]))
        G_nb = np.maximum(G_grid, np.concatenate([[0.0], G_grid[:-1]]))
        c_grid = self.spec.point(grid_u, grid_p)
        M = grid_u.size
        same_left = np.concatenate([[False], grid_p[1:] == grid_p[:-1]])
        same_right = np.concatenate([grid_p[:-1] == grid_p[1:], [False]])
        outs = []
        block = max(1, (2**19) // M)
        for b0 in range(0, n, block):
            zb = z[b0 : b0 + block]
            diff = zb[:, None, :] - c_grid[None]
            f = np.einsum("nmk,nmk->nm", diff, diff)
            fl = np.where(same_left[None], np.roll(f, 1, axis=1), np.inf)
            fr = np.where(same_right[None], np.roll(f, -1, axis=1), np.inf)
            locmin = (f <= fl) & (f <= fr)
            fbest = f.min(axis=1)
            dbest = np.sqrt(fbest)
            margin = 2.0 * h_nb**2 * (S_nb**2 + (dbest[:, None] + S_nb * h_nb) * G_nb) + extra
            # rounding of f itself (far queries): keep every near-tie
            margin = margin + 8.0 * np.finfo(float).eps * fbest[:, None]
            cand = locmin & (f <= fbest[:, None] + margin)
            qi, gi = np.nonzero(cand)
            a = np.where(same_left[gi], grid_u[np.maximum(gi - 1, 0)], grid_u[gi])
            b = np.where(same_right[gi], grid_u[np.minimum(gi + 1, M - 1)], grid_u[gi])
            u, fu = self._refine(zb[qi], grid_p[gi], a, b, grid_u[gi], f[qi, gi])
            outs.append((qi + b0, u, grid_p[gi], fu, a, b))
        if not outs:
            e = np.zeros(0)
            return np.zeros(0, dtype=np.int64), e, np.zeros(0, dtype=np.int64), e, e, e
        return tuple(np.concatenate(o) for o in zip(*outs))

    def _refine(self, z, piece, a, b, u0, f0):
        """Golden-section search on ``[a, b]`` then guarded Newton steps on ``f'(u) = 0``."""
        spec = self.spec

        def f(u):
            d = z - spec.point(u, piece)
            return np.einsum("ij,ij->i", d, d)

        gr = (math.sqrt(5.0) - 1.0) / 2.0
        lo, hi = a.copy(), b.copy()
        x1 = hi - gr * (hi - lo)
        x2 = lo + gr * (hi - lo)
        f1, f2 = f(x1), f(x2)
        for _ in range(45):
            left = f1 <= f2  # minimum in [lo, x2]
            hi = np.where(left, x2, hi)
            lo = np.where(left, lo, x1)
            x2n = np.where(left, x1, lo + gr * (hi - lo))
            x1n = np.where(left, hi - gr * (hi - lo), x2)
            f2n = np.where(left, f1, np.nan)
            f1n = np.where(left, np.nan, f2)
            newpt = np.where(left, x1n, x2n)
            fnew = f(newpt)
            x1, x2 = x1n, x2n
            f1 = np.where(left, fnew, f1n)
            f2 = np.where(left, f2n, fnew)
        u = np.where(f1 <= f2, x1, x2)
        fu = np.minimum(f1, f2)
        for _ in range(6):
            c = spec.point(u, piece)
            d1, d2 = spec.derivatives(u, piece)
            r = z - c
            g = -2.0 * np.einsum("ij,ij->i", r, d1)
            h = 2.0 * (np.einsum("ij,ij->i", d1, d1) - np.einsum("ij,ij->i", r, d2))
            with np.errstate(divide="ignore", invalid="ignore"):
                # clamped to the bracket: far away f is flat to rounding near an end minimum
                # (golden section cannot see the last ~ulp(f)/|f'| of the way), while f' still
                # points to the end
                un = np.clip(u - g / h, a, b)
            ok = (h > 0) & np.isfinite(un)
            un = np.where(ok, un, u)
            fn = f(un)
            # near the minimum f is flat to rounding: accept steps that do not visibly increase it
            # (Newton on f' = 0 then pins the foot point down to rounding, not to sqrt(eps))
            better = fn <= fu * (1.0 + 1e-13) + 1e-28
            u = np.where(better, un, u)
            fu = np.where(better, fn, fu)
        # where f' still points to a bracket end that f cannot tell apart from u (rounding of
        # f ~ |z|^2 far away), the end is the minimiser: take it
        c = spec.point(u, piece)
        d1 = spec.derivatives(u, piece)[0]
        g = -2.0 * np.einsum("ij,ij->i", z - c, d1)
        noise = 64.0 * np.finfo(float).eps * np.linalg.norm(d1, axis=1) * (
            np.linalg.norm(z, axis=1) + np.linalg.norm(c, axis=1)
        )
        for end, toward in ((a, g > noise), (b, g < -noise)):
            fe = f(end)
            take = toward & (fe <= fu * (1.0 + 1e-13) + 1e-28)
            u = np.where(take, end, u)
            fu = np.where(take, np.minimum(fe, fu), fu)
        # never worse than the bracket ends (minimum at a piece's end point) or the grid point
        for uc, fc in ((a, f(a)), (b, f(b)), (u0, f0)):
            better = fc < fu
            u = np.where(better, uc, u)
            fu = np.where(better, fc, fu)
        return u, fu
