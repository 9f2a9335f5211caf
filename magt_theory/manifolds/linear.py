"""Flat manifolds: a Gaussian on a linear subspace and the uniform checkerboard.

Both have piecewise-affine support, so the VE posterior is Gaussian (``gaussian_subspace``) or a
mixture of products of truncated normals (``checker2d``), all in closed form (docs/conventions.md §3).
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import _xp
from .._validation import as_points, check_int, check_positive
from ._base import Manifold, Posterior
from ._registry import register
from ._truncnorm import truncnorm_edge_moments

__all__ = ["GaussianSubspace", "Checker2D", "truncnorm_moments"]

_LOG_2PI = float(np.log(2.0 * np.pi))


# ---------------------------------------------------------------------------- Gaussian
@register
class GaussianSubspace(Manifold):
    """Gaussian ``N(mu, diag(scales^2))`` on a ``d``-dimensional linear subspace.

    Native coordinates are the subspace itself (``native_dim = dim = d``); the embedding
    ``Q`` places it in ``R^D``. At VE level ``s`` (per coordinate, ``lam_i = scales_i^2``):

    .. math:: E[X_i \\mid y] = \\mu_i + \\frac{\\lambda_i}{\\lambda_i + s^2}(y_i - \\mu_i),\\quad
        \\mathrm{Var}[X_i \\mid y] = \\frac{\\lambda_i s^2}{\\lambda_i + s^2},\\quad
        p_s(y) = \\prod_i \\mathcal N(y_i; \\mu_i, \\lambda_i + s^2).

    Parameters
    ----------
    d : int
        Dimension of the subspace, ``1 <= d <= 2^16`` (default 2).
    scales : float, sequence or None
        Standard deviations ``> 0``; default ``linspace(1.0, 0.5, d)`` (``(1.0, 0.5)`` for
        ``d = 2``).
    mean : sequence or None
        Mean ``mu`` in subspace coordinates (default 0).

    Notes
    -----
    Reach is infinite. ``project`` is the identity in native coordinates (the distance is the
    norm of the part of ``y`` orthogonal to the subspace). Exact generator (latent ``d``):
    ``h(u) = mu + scales * u`` from ``N(0, I_d)`` (applied directly, without the
    ``ndtri(ndtr(u))`` round trip, which saturates in the tails), and
    ``h(v) = mu + scales * ndtri(v)`` from uniform ``[0,1]^d``.
    """

    name = "gaussian_subspace"

    def __init__(
        self, d: int = 2, scales=None, mean=None, ambient_dim: int | None = None, seed: int = 0
    ):
        d = check_int(d, "d", low=1, high=2**16)
        if scales is None:
            sc_ = np.linspace(1.0, 0.5, d) if d > 1 else np.ones(1)
        elif isinstance(scales, numbers.Real):
            sc_ = np.full(d, check_positive(scales, "scales"))
        else:
            try:
                sc_ = np.asarray(scales, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(
                    f"scales must be a number > 0 or {d} numbers > 0; got {scales!r}"
                ) from exc
            if sc_.shape != (d,) or not np.all(np.isfinite(sc_)) or np.any(sc_ <= 0):
                raise ValueError(
                    f"scales must be a number > 0 or {d} finite numbers > 0; got {scales!r}"
                )
        try:
            mu = np.zeros(d) if mean is None else np.asarray(mean, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"mean must be {d} finite numbers; got {mean!r}") from exc
        if mu.shape != (d,) or not np.all(np.isfinite(mu)):
            raise ValueError(f"mean must be {d} finite numbers; got {mean!r}")
        self.scales = sc_
        self.mean = mu
        self.dim = d
        self.native_dim = d
        self.generator_latent_dim = d
        self.reach = float("inf")
        super().__init__(ambient_dim=ambient_dim, seed=seed)

    def _sample(self, n, rng):
        return self.mean + self.scales * rng.standard_normal((n, self.dim))

    def _project(self, y):
        return y.copy()

    def _tangent(self, x):
        return np.broadcast_to(np.eye(self.dim), (x.shape[0], self.dim, self.dim)).copy()

    def _log_density(self, x):
        z = (x - self.mean) / self.scales
        log_norm = np.sum(np.log(self.scales)) + 0.5 * self.dim * _LOG_2PI
        return -0.5 * np.sum(z * z, axis=1) - log_norm

    def _posterior(self, y, s, cov):
        lam = self.scales**2
        tot = lam + s * s
        dev = y - self.mean
        mean = self.mean + (lam / tot) * dev
        logp = -0.5 * np.sum(dev * dev / tot + np.log(tot), axis=1) - 0.5 * self.dim * _LOG_2PI
        c = None
        if cov:
            c = np.broadcast_to(np.diag(lam * s * s / tot), (y.shape[0], self.dim, self.dim)).copy()
        return Posterior(mean, logp, c)

    def _generator(self, v):
        return self._affine(_xp.ndtri(v))

    def _affine(self, u):
        if _xp.is_torch(u):
            import torch

            mu = torch.as_tensor(self.mean, dtype=u.dtype, device=u.device)
            scl = torch.as_tensor(self.scales, dtype=u.dtype, device=u.device)
            return mu + scl * u
        return self.mean + self.scales * u

    def generator(self, u, base: str = "normal"):
        """Exact generator; see :meth:`Manifold.generator`.

        For ``base="normal"`` the affine map ``mu + scales * u`` is applied directly (the base
        class would compose ``ndtri(ndtr(u))``, which is inf beyond ``|u| ~ 8.3`` in float64).
        """
        if base != "normal":
            return super().generator(u, base)
        if not _xp.is_torch(u):
            u = as_points(u, "u", self.dim)
        elif u.ndim != 2 or u.shape[1] != self.dim:
            raise ValueError(f"u must have shape (n, {self.dim}); got {tuple(u.shape)}")
        return self._from_native(self._affine(u))


# ---------------------------------------------------------------------------- checkerboard
def truncnorm_moments(a, b):
    """Log mass, mean and variance of the standard normal restricted to ``[a, b]``.

    .. math:: Z = \\Phi(b) - \\Phi(a),\\quad
        E = \\frac{\\varphi(a) - \\varphi(b)}{Z},\\quad
        \\mathrm{Var} = 1 + \\frac{a\\varphi(a) - b\\varphi(b)}{Z} - E^2.

    Mills-ratio form without cancellation (:func:`._truncnorm.truncnorm_edge_moments`), accurate
    for ``|a|, |b|`` up to ~``1e150``; the mean is ``edge + offset`` (exact to rounding of the
    edge).

    Parameters
    ----------
    a, b : ndarray
        Standardised bounds, ``a < b`` (finite), broadcast together.

    Returns
    -------
    log_z, mean, var : ndarray
    """
    log_z, at_b, off, var = truncnorm_edge_moments(a, b)
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    return log_z, np.where(at_b, b, a) + off, var


@register
class Checker2D(Manifold):
    """Uniform law on the black cells of a ``grid x grid`` checkerboard in ``R^2`` (full dim).

    Default (MAGT's checkerboard, as in the FFJORD toy data): a 4 x 4 grid of unit cells on
    ``[-2, 2]^2``; cell ``(i, j) = [-2 + i, -1 + i] x [-2 + j, -1 + j]`` is black when ``i + j``
    is even (8 cells, area 8, density 1/8; ``[-2,-1]^2`` is black). The VE posterior is a
    mixture over cells of products of truncated normals (docs/conventions.md §3):

    .. math:: p_s(y) = \\frac{1}{|A|}\\sum_{c}\\prod_{i=1}^2
        \\Big[\\Phi\\Big(\\frac{b_{ci} - y_i}{s}\\Big)
        - \\Phi\\Big(\\frac{a_{ci} - y_i}{s}\\Big)\\Big],

    with weights ``softmax_c`` of the log products, per-cell means ``y_i + s E_i`` and variances
    ``s^2 Var_i`` from :func:`truncnorm_moments`, combined by the law of total covariance.

    Parameters
    ----------
    grid : int
        Even number of cells per side, at most 64 (default 4).
    cell : float
        Cell side length in ``[1e-100, 1e100]`` (default 1.0); the board is
        ``[-grid*cell/2, grid*cell/2]^2``.

    Notes
    -----
    ``dim = native_dim = 2``; tangent basis = identity; ``project`` is the identity on the
    support and the nearest point of the union of cells elsewhere. The reach is 0 (black cells
    touch at corners, where the projection from the white side is not unique).
    Exact generator from uniform ``[0,1]^2`` (piecewise affine, injective):
    ``x_1 = -L/2 + grid*cell*v_1``, column ``i = floor(grid v_1)``, ``t = (grid/2) v_2``,
    ``m = floor(t)``, ``x_2 = -L/2 + cell (t + m + (i mod 2))`` (``L = grid*cell``).
    """

    name = "checker2d"
    dim = 2
    native_dim = 2
    generator_latent_dim = 2
    reach = 0.0

    def __init__(
        self, grid: int = 4, cell: float = 1.0, ambient_dim: int | None = None, seed: int = 0
    ):
        self.grid = check_int(grid, "grid", low=2, high=64)  # (queries x cells) arrays
        if self.grid % 2:
            raise ValueError(f"grid must be an even integer in [2, 64]; got {grid}")
        self.cell = check_positive(cell, "cell")
        if not 1e-100 <= self.cell <= 1e100:
            raise ValueError(f"cell must be in [1e-100, 1e100]; got {cell!r}")
        half = 0.5 * self.grid * self.cell
        self.half = half
        i, j = np.meshgrid(np.arange(self.grid), np.arange(self.grid), indexing="ij")
        black = ((i + j) % 2 == 0).ravel()
        lo = np.stack([-half + self.cell * i.ravel(), -half + self.cell * j.ravel()], axis=1)[black]
        self.cell_lo = lo  # (C, 2)
        self.cell_hi = lo + self.cell
        self.area = lo.shape[0] * self.cell**2
        super().__init__(ambient_dim=ambient_dim, seed=seed)

    def _in_support(self, x):
        lo, hi = self.half, self.cell
        idx = np.clip(np.floor((x + lo) / hi), 0, self.grid - 1)
        inside = np.all((x >= -lo) & (x <= lo), axis=1)
        return inside & (np.sum(idx, axis=1) % 2 == 0)

    def _sample(self, n, rng):
        out = np.empty((0, 2))
        while out.shape[0] < n:  # rejection from the board (acceptance 1/2)
            x = rng.uniform(-self.half, self.half, size=(2 * (n - out.shape[0]) + 16, 2))
            out = np.concatenate([out, x[self._in_support(x)]])
        return out[:n]

    def _project(self, y):
        cand = np.clip(y[:, None, :], self.cell_lo[None], self.cell_hi[None])  # (n, C, 2)
        d2 = np.sum((cand - y[:, None, :]) ** 2, axis=2)
        best = np.argmin(d2, axis=1)
        return cand[np.arange(y.shape[0]), best]

    def _tangent(self, x):
        return np.broadcast_to(np.eye(2), (x.shape[0], 2, 2)).copy()

    def _log_density(self, x):
        return np.full(x.shape[0], -np.log(self.area))

    def _posterior(self, y, s, cov):
        a = (self.cell_lo[None] - y[:, None, :]) / s  # (n, C, 2)
        b = (self.cell_hi[None] - y[:, None, :]) / s
        # Mills-ratio form: each cell's mean is its near edge plus s times an offset, so a query
        # far from the board (dist / s up to ~1e150) loses nothing to cancellation
        log_z, at_b, off, v_std = truncnorm_edge_moments(a, b)
        # log weights relative to each coordinate's best cell before summing the coordinates:
        # log_z ~ -dist^2 / 2 s^2 can exceed 1e12, where adding the other coordinate's O(1)
        # term would round it away; normalise explicitly for the same reason
        mx_i = log_z.max(axis=1, keepdims=True)  # (n, 1, 2)
        lw = np.sum(log_z - mx_i, axis=2)  # (n, C)
        mx = lw.max(axis=1)
        w = np.exp(lw - mx[:, None])
        tot = w.sum(axis=1)
        w /= tot[:, None]
        lse = mx + np.log(tot) + np.sum(mx_i[:, 0, :], axis=1)
        edge = np.where(at_b, self.cell_hi[None], self.cell_lo[None])
        means_c = np.clip(edge + s * off, self.cell_lo[None], self.cell_hi[None])
        mean = np.einsum("nc,nci->ni", w, means_c)
        logp = lse - np.log(self.area)
        c = None
        if cov:
            dev = means_c - mean[:, None, :]
            c = np.einsum("nc,nci,ncj->nij", w, dev, dev)
            c[:, [0, 1], [0, 1]] += s * s * np.einsum("nc,nci->ni", w, v_std)
        return Posterior(mean, logp, c)

    def _generator(self, v):
        xp = _xp.namespace(v)
        g, h, L2 = self.grid, self.cell, self.half
        col = xp.clip(xp.floor(g * v[:, 0]), 0.0, g - 1.0)
        parity = col - 2.0 * xp.floor(0.5 * col)
        t = 0.5 * g * v[:, 1]
        m = xp.clip(xp.floor(t), 0.0, 0.5 * g - 1.0)
        x1 = -L2 + g * h * v[:, 0]
        x2 = -L2 + h * (t + m + parity)
        return xp.stack([x1, x2], -1)
