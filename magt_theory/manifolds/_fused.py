"""Fused embedding of the closed-form scores: sphere, circle and flat torus in ``R^D``.

With ``Q`` the ``(D, n)`` isometric embedding, ``yn = Q^T y / alpha`` and ``s = sigma / alpha``
(:mod:`._base`; MAGT §2, Tweedie identity),

.. math::

    E[X \\mid y] = Q\\, m_s(y_n),\\qquad
    \\nabla \\log p(y) = \\frac{\\alpha\\, Q\\, m_s(y_n) - y}{\\sigma^2},

computed per row block of about 1 MiB of ``y`` while it is in the cache: the block's native
coordinates, its native posterior mean (no log density, no covariance) and the score as one
BLAS ``dgemm`` with ``beta = -1/sigma^2`` on a copy of the block. The input is read once and
the output written once (docs/conventions.md, "Fused path").
"""

from __future__ import annotations

import numpy as np
from scipy.linalg.blas import dgemm as _dgemm

from .. import _xp
from .._validation import check_alpha, check_positive
from ._base import Manifold

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
