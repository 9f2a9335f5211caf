"""The Wasserstein distance between point clouds (:func:`wasserstein`, dispatching to the
exact and approximate solvers) and between Gaussians in closed form (:func:`gaussian_w2`).

Part of :mod:`magt_theory.metrics` (re-exported there; conventions and estimators are
described in its docstring).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _xp
from .._validation import as_points, check_finite
from ._approximate import _w_sinkhorn, _w_sliced
from ._exact import _w_exact

_METHODS = ("exact", "sinkhorn", "sliced")


def _check_p(p) -> int:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or p not in (1, 2):
        raise ValueError(f"p must be 1 or 2; got {p!r}")
    return int(p)


def _weights(w, n: int, name: str) -> np.ndarray:
    if w is None:
        return np.full(n, 1.0 / n)
    arr = np.asarray(w, dtype=np.float64)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the sample; got {arr.shape}")
    check_finite(arr, name)
    if np.any(arr < 0) or arr.sum() <= 0:
        raise ValueError(f"{name} must be nonnegative with a positive sum")
    return arr / arr.sum()


def wasserstein(x, y, p: int = 2, method: str = "exact", a=None, b=None, **kw) -> float:
    """Wasserstein distance ``W_p`` between two weighted point clouds.

    .. math::

        W_p(\\mu, \\nu) = \\Big(\\min_{T \\in \\Pi(a, b)} \\sum_{ij} T_{ij}
            |x_i - y_j|^p\\Big)^{1/p}

    (docs/conventions.md §7; used for every model-vs-data comparison of MAGT §5.)

    Parameters
    ----------
    x : (n, D) array_like
    y : (m, D) array_like
        Samples; same ambient dimension ``D``, finite.
    p : {1, 2}
        Order of the distance (ground cost ``|x - y|^p``).
    method : {"exact", "sinkhorn", "sliced"}
        Estimator, see below.
    a, b : (n,), (m,) array_like, optional
        Nonnegative sample weights (renormalised to sum 1); uniform by default.
    **kw
        Method options.

        * ``"exact"``: ``solver`` (``"auto"``, default: ``"assignment"`` for equal sizes,
          uniform weights and ``n <= ASSIGNMENT_MAX_N`` = 100, else ``"network_simplex"``;
          ``"assignment"``: ``scipy.optimize.linear_sum_assignment`` on the cost matrix,
          equal sizes and uniform weights only; ``"network_simplex"``: POT, as below; both
          give the same optimum up to round-off); ``numItermax``
          (default ``max(10**7, 50 n m)``); ``max_dense_bytes``
          (default :data:`DEFAULT_MAX_DENSE_BYTES` = 2^30; ``0`` forces the lazy solver,
          ``math.inf`` the dense one). While the dense footprint
          ``DENSE_BYTES_PER_PAIR * n * m`` (cost matrix ``8 n m`` plus the solver's arc
          arrays, ~40 n m bytes in all) is at most ``max_dense_bytes``, the cost matrix is
          computed exactly by ``scipy.spatial.distance.cdist`` (no ``|x|^2 - 2x.y + |y|^2``
          cancellation) and solved by ``ot.emd2``; above it, by ``ot.emd2_lazy`` (same network
          simplex, costs computed on the fly from the coordinates; memory ``O((n + m) D)``;
          the same optimal value up to rounding, so no bias).
        * ``"sinkhorn"``: ``reg`` (entropic strength, **on the cost scale**, i.e. in units of
          ``|x - y|^p``; default ``0.05 * (mean squared pairwise distance) ** (p/2)``),
          ``max_iter`` (default 10000), ``tol`` (default 1e-6; marginal violation of the
          plans, L1 for the self terms, L2 in POT for the cross term).
        * ``"sliced"``: ``n_projections`` (default 200), ``seed`` (default 0).

    Returns
    -------
    float
        ``W_p`` (the p-th root of the optimal cost), ``>= 0``.

    Raises
    ------
    RuntimeError
        If the exact solver stops before optimality (POT's ``log["warning"]``) or Sinkhorn
        does not converge: no non-optimal value is ever returned silently.

    Notes
    -----
    *Sinkhorn bias.* With ``OT_eps(a,b) = min_T <T, C> + eps KL(T || a (x) b)`` and the
    divergence ``S_eps = OT_eps(a,b) - (OT_eps(a,a) + OT_eps(b,b)) / 2`` (Feydy et al. 2019),
    ``0 <= KL(T* || a (x) b) <= min(H(a), H(b))`` for the exact plan ``T*`` gives the
    deterministic bound

    .. math::

        W_p^p - \\varepsilon \\frac{H(a) + H(b)}{2} \\le S_\\varepsilon
        \\le W_p^p + \\varepsilon \\min(H(a), H(b)),

    ``H(a) = log n`` for uniform weights. ``S_eps >= 0`` for these costs; the returned value
    is ``S_eps^{1/p}`` (a tiny negative round-off is clipped to 0).

    *Sliced.* ``SW_p = (1/L sum_l W_p^p(theta_l # mu, theta_l # nu))^{1/p}`` over ``L`` random
    unit directions; every projection is 1-Lipschitz, so ``SW_p <= W_p`` for any directions.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros((3, 2)); y = np.ones((3, 2))
    >>> round(wasserstein(x, y, p=2), 12)
    1.414213562373
    """
    if not isinstance(method, str) or method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}")
    p = _check_p(p)
    # torch tensors are read as float64 numpy (the result is a float either way); a tensor
    # with requires_grad is a TypeError naming it (docs/conventions.md, the boundary rule)
    x, y, a, b = (_xp.to_numpy(v, k) for v, k in ((x, "x"), (y, "y"), (a, "a"), (b, "b")))
    xx = as_points(x, "x")
    yy = as_points(y, "y")
    if xx.shape[1] != yy.shape[1]:
        raise ValueError(
            f"x and y must have the same dimension D; got {xx.shape[1]} and {yy.shape[1]}"
        )
    if xx.shape[0] < 1 or yy.shape[0] < 1:
        raise ValueError("x and y must each hold at least one point")
    aw = _weights(a, xx.shape[0], "a")
    bw = _weights(b, yy.shape[0], "b")
    # the cost |x_i - y_j|^p must be finite in float64 (else POT reports an "infeasible" stop)
    big = max(float(np.max(np.abs(xx))), float(np.max(np.abs(yy))))
    with np.errstate(over="ignore"):
        bound = np.float64(2.0 * big) ** 2 * xx.shape[1]
    if not bound < 1e300:
        raise ValueError(
            f"x and y: squared distances overflow float64 (largest |coordinate| {big:.3g}); "
            "rescale both samples (W_p(c x, c y) = c W_p(x, y))"
        )
    if method == "exact":
        return _w_exact(xx, yy, p, aw, bw, **kw)
    if method == "sinkhorn":
        return _w_sinkhorn(xx, yy, p, aw, bw, **kw)
    return _w_sliced(xx, yy, p, aw, bw, **kw)


def gaussian_w2(m1, S1, m2, S2) -> float:
    """``W_2`` between two Gaussians in closed form (Bures–Wasserstein).

    .. math::

        W_2^2(N(m_1, S_1), N(m_2, S_2)) = |m_1 - m_2|^2 + \\operatorname{tr} S_1
            + \\operatorname{tr} S_2 - 2 \\operatorname{tr}\\big(S_1^{1/2} S_2 S_1^{1/2}\\big)^{1/2}

    (docs/conventions.md §3, Gaussian on a linear subspace.) Square roots are taken with a symmetric
    eigendecomposition (``scipy.linalg.eigh``; eigenvalues below ``4 D eps lambda_max`` set to
    0), which is accurate for symmetric positive semidefinite input and always real (rather than
    ``scipy.linalg.sqrtm``, whose result can be complex for singular input); singular
    covariances (Gaussians on a subspace) are allowed.

    Parameters
    ----------
    m1, m2 : (D,) array_like
        Means.
    S1, S2 : (D, D) array_like
        Symmetric positive semidefinite covariances.

    Returns
    -------
    float
    """
    import scipy.linalg as sl

    mu1 = np.atleast_1d(np.asarray(m1, dtype=np.float64))
    mu2 = np.atleast_1d(np.asarray(m2, dtype=np.float64))
    if mu1.ndim != 1 or mu2.shape != mu1.shape:
        raise ValueError(
            f"m1 and m2 must be vectors of the same length D; got {mu1.shape}, {mu2.shape}"
        )
    D = mu1.shape[0]
    covs = []
    for name, S in (("S1", S1), ("S2", S2)):
        A = np.asarray(S, dtype=np.float64)
        if A.ndim == 0 and D == 1:
            A = A.reshape(1, 1)
        if A.shape != (D, D):
            raise ValueError(f"{name} must have shape ({D}, {D}); got {A.shape}")
        check_finite(A, name)
        scale = max(np.abs(A).max(), 1e-300)
        if np.abs(A - A.T).max() > 1e-10 * scale:
            raise ValueError(f"{name} must be symmetric")
        A = 0.5 * (A + A.T)
        ev = sl.eigvalsh(A)
        if ev.min() < -1e-10 * scale:
            raise ValueError(
                f"{name} must be positive semidefinite; smallest eigenvalue {ev.min():g}"
            )
        covs.append(A)
    check_finite(mu1, "m1")
    check_finite(mu2, "m2")
    A, Bm = covs

    def clean(ev):
        # eigenvalues below the rounding level of the matrix are zero (as numpy.linalg.pinv's
        # rcond): sqrt is not Lipschitz at 0, so a 1e-17 round-off would otherwise cost 3e-9
        cut = 4.0 * D * np.finfo(np.float64).eps * max(np.abs(ev).max(initial=0.0), 1e-300)
        return np.where(ev > cut, ev, 0.0)

    w, V = sl.eigh(A)
    rA = (V * np.sqrt(clean(w))) @ V.T
    inner = rA @ Bm @ rA
    inner = 0.5 * (inner + inner.T)
    cross = np.sum(np.sqrt(clean(sl.eigvalsh(inner))))
    w2sq = float(np.sum((mu1 - mu2) ** 2) + np.trace(A) + np.trace(Bm) - 2.0 * cross)
    return math.sqrt(max(w2sq, 0.0))
