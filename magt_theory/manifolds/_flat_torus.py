"""Flat (Clifford) torus ``r_1 S^1 x ... x r_k S^1`` in ``R^{2k}``: a product of circles.

The uniform law and the Gaussian kernel factorise over the circles, so the VE posterior is a
product of von Mises laws, one per circle (``y_(i)`` the coordinates ``(2i, 2i+1)``):

.. math::

    \\kappa_i = \\frac{r_i |y_{(i)}|}{s^2},\\qquad
    E[X_{(i)} \\mid y] = r_i \\frac{A_2(\\kappa_i)}{|y_{(i)}|}\\, y_{(i)},\\qquad
    \\log p_s(y) = \\sum_i \\log p^{(r_i)}_s(y_{(i)}),

with ``A_2 = I_1 / I_0`` (:mod:`._vmf`) and ``p^(r)`` the smoothed circle of radius ``r``
(:mod:`.spheres`). docs/conventions.md §3; MAGT §2.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import _xp
from .._validation import check_int, check_positive
from ._base import Manifold, Posterior
from ._fused import _FusedEmbedding
from ._registry import register
from ._vmf import _ratio_over_kappa, _uniform_sphere_posterior, _unit_rows

__all__ = ["FlatTorus"]


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
