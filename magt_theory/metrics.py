"""Sample metrics: Wasserstein distances, noise floor, bootstrap CIs, manifold diagnostics.

Conventions (docs/conventions.md §7): every Wasserstein function returns ``W_p`` itself, not ``W_p^p``;
the ground cost is ``|x - y|^p`` with the Euclidean norm; empirical measures carry uniform
weights unless ``a``/``b`` are given.

Estimators
----------
- ``"exact"``: network simplex (POT ``ot.emd2``). POT's default ``numItermax = 1e5`` silently
  returns a non-optimal (too large) value from a few thousand points on; here the limit is
  ``max(10^7, 50 n m)`` and a non-optimal exit raises ``RuntimeError``. Above a memory
  threshold (``max_dense_bytes``, default :data:`DEFAULT_MAX_DENSE_BYTES` = 1 GiB, compared
  with the dense footprint ``DENSE_BYTES_PER_PAIR * n * m``) the same exact problem is solved
  by POT's lazy network simplex ``ot.emd2_lazy``, which computes costs from the coordinates on
  the fly: ``O((n + m) D)`` memory instead of ``~40 n m`` bytes, the same optimum (no bias),
  about 1-2x the dense solver's time.
- ``"sinkhorn"``: debiased Sinkhorn divergence, a smooth, nonnegative proxy for ``W_p^p``.
  The cross term uses POT's log-domain Sinkhorn (``ot.solve``); the two self terms use the
  averaged symmetric update of Feydy et al. (2019), because POT's alternating iteration (as in
  ``ot.solve_sample(..., debias=True)``) needs ~10^4 sweeps on self-transport problems at
  small ``reg`` (measured: 35k sweeps, 76 s, for n = 400, reg = 0.1).
- ``"sliced"``: sliced Wasserstein (POT ``ot.sliced_wasserstein_distance``); converges like
  ``n^{-1/2}`` in every dimension, so it cannot show the ``n^{-1/d}`` rate.
"""

from __future__ import annotations

import logging
import math
import numbers
import warnings
from typing import NamedTuple

import numpy as np
import scipy.spatial.distance as ssd

from . import _xp
from ._validation import as_points, as_rng, check_finite, check_int, check_positive

__all__ = [
    "DEFAULT_MAX_DENSE_BYTES",
    "DENSE_BYTES_PER_PAIR",
    "wasserstein",
    "gaussian_w2",
    "NoiseFloor",
    "noise_floor",
    "BootstrapCI",
    "bootstrap_ci",
    "off_manifold_rate",
    "principal_angles",
    "sin_theta_max",
    "LawDistance",
    "wasserstein_to_law",
]

logger = logging.getLogger(__name__)

_METHODS = ("exact", "sinkhorn", "sliced")

#: Bytes per (i, j) pair used by the dense exact path: the float64 cost matrix (8) plus POT's
#: network-simplex arc arrays (~32); measured peak RSS 87.6 MB at n = m = 1500 and 352 MB at
#: n = m = 3000 (POT 0.9.7), i.e. 39 bytes per pair.
DENSE_BYTES_PER_PAIR = 40

#: Default ``max_dense_bytes`` of ``method="exact"``: above ``DENSE_BYTES_PER_PAIR * n * m``
#: bytes of this (n = m ~ 5200 points) the lazy solver ``ot.emd2_lazy`` is used.
DEFAULT_MAX_DENSE_BYTES = 2**30


# ---------------------------------------------------------------------------------------------
# Wasserstein
# ---------------------------------------------------------------------------------------------
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


#: ``solver="auto"`` of the exact W_p: equal sizes, uniform weights and ``n <= 100`` go to
#: ``scipy.optimize.linear_sum_assignment`` (measured 1.2-10x faster than POT's network simplex
#: there, in every dimension and on manifold data, and no POT import); above, POT (faster on
#: low-dimensional data from about n = 100 to 300 on, up to 10x at n = 3000; see
#: ``benchmarks/bench_numpy_path.py``)
ASSIGNMENT_MAX_N = 100

_EXACT_SOLVERS = ("auto", "network_simplex", "assignment")


def _is_uniform(w: np.ndarray) -> bool:
    return w.size < 2 or bool(w.min() == w.max())


def _w_exact(x, y, p, a, b, numItermax=None, max_dense_bytes=DEFAULT_MAX_DENSE_BYTES,
             solver="auto"):
    n, m = x.shape[0], y.shape[0]
    if not isinstance(solver, str) or solver not in _EXACT_SOLVERS:
        raise ValueError(f"solver must be one of {_EXACT_SOLVERS}; got {solver!r}")
    assignable = n == m and _is_uniform(a) and _is_uniform(b)
    if solver == "assignment" and not assignable:
        raise ValueError(
            "solver='assignment' needs equal sample sizes and uniform weights; got "
            f"n={n}, m={m}{'' if _is_uniform(a) and _is_uniform(b) else ' and non-uniform weights'}"
        )
    numItermax = max(10**7, 50 * n * m) if numItermax is None else numItermax
    numItermax = check_int(numItermax, "numItermax", low=1)
    if (
        isinstance(max_dense_bytes, bool)
        or not isinstance(max_dense_bytes, numbers.Real)
        or math.isnan(max_dense_bytes)
        or max_dense_bytes < 0
    ):
        raise ValueError(
            f"max_dense_bytes must be a number >= 0 (bytes; math.inf for always dense); "
            f"got {max_dense_bytes!r}"
        )
    if solver == "assignment" or (solver == "auto" and assignable and n <= ASSIGNMENT_MAX_N):
        return _w_assignment(x, y, p)
    import ot

    metric = "sqeuclidean" if p == 2 else "euclidean"
    lazy = DENSE_BYTES_PER_PAIR * n * m > max_dense_bytes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # turned into an error below
        if lazy:
            logger.debug("exact OT: lazy network simplex for n=%d, m=%d", n, m)
            cost, log = ot.emd2_lazy(
                x, y, a, b, metric=metric, numItermax=numItermax, log=True,
                return_matrix=False,
            )
        else:
            C = ssd.cdist(x, y, metric=metric)
            cost, log = ot.emd2(a, b, C, numItermax=numItermax, log=True)
    if log.get("warning") is not None:
        raise RuntimeError(
            f"exact OT ({'lazy' if lazy else 'dense'} network simplex) stopped before "
            f"optimality ({log['warning']}); the value {float(cost)!r} is not W_p^p. "
            f"Increase numItermax (was {numItermax})."
        )
    cost = float(cost)
    if not math.isfinite(cost):  # pragma: no cover
        raise FloatingPointError("exact OT returned a non-finite cost")
    return max(cost, 0.0) ** (1.0 / p)


def _w_assignment(x, y, p):
    """Exact ``W_p`` of two uniform samples of equal size ``n`` by optimal assignment.

    For uniform weights and ``n = m`` the transport polytope's vertices are the permutation
    matrices / n (Birkhoff), so ``W_p^p = min_sigma (1/n) sum_i |x_i - y_sigma(i)|^p``:
    ``scipy.optimize.linear_sum_assignment`` (shortest augmenting paths) on the exact
    ``cdist`` cost matrix gives the same optimum as the network simplex, up to round-off.
    """
    import scipy.optimize as so

    C = ssd.cdist(x, y, metric="sqeuclidean" if p == 2 else "euclidean")
    rows, cols = so.linear_sum_assignment(C)
    cost = float(C[rows, cols].sum() / x.shape[0])
    if not math.isfinite(cost):
        raise FloatingPointError(
            "the transport cost overflows float64 (coordinates too large); rescale x and y"
        )
    return max(cost, 0.0) ** (1.0 / p)


def _sym_ot_eps(C, a, eps, tol, max_iter):
    """Entropic self-transport ``OT_eps(a, a)`` by the averaged symmetric Sinkhorn update.

    ``f <- (f + T(f)) / 2`` with ``T(f)_i = -eps log sum_j a_j exp((f_j - C_ij)/eps)``
    (Feydy et al. 2019, §3.1). The plain alternating iteration needs ~10^4 sweeps on these
    problems at small ``eps``; the averaged one ~10^1. Returns the dual value
    ``2 <a, f> - eps (sum(pi) - 1)``, equal to ``OT_eps(a, a)`` at the fixed point.
    """
    import torch

    la = torch.log(a)
    f = torch.zeros_like(a)
    for _ in range(max_iter):
        tf = -eps * torch.logsumexp(la[None, :] + (f[None, :] - C) / eps, dim=1)
        # row marginal of the plan at the current f: a_i exp((f_i - T(f)_i)/eps)
        ratio = torch.exp((f - tf) / eps)
        if float((a * (ratio - 1.0).abs()).sum()) < tol:
            return float(2.0 * (a @ f) - eps * (float((a * ratio).sum()) - 1.0))
        f = 0.5 * (f + tf)
    raise RuntimeError(
        f"symmetric Sinkhorn did not converge at reg={eps:g} in max_iter={max_iter} iterations; "
        "increase reg or max_iter"
    )


def _w_sinkhorn(x, y, p, a, b, reg=None, max_iter=10000, tol=1e-6):
    import ot
    import torch

    if reg is None:
        # mean squared pairwise distance, closed form: E|x|^2 + E|y|^2 - 2 <E x, E y>
        mx, my = a @ x, b @ y
        msq = a @ np.sum(x * x, 1) + b @ np.sum(y * y, 1) - 2.0 * mx @ my
        reg = 5e-2 * max(msq, 1e-300) ** (p / 2.0)
    reg = check_positive(reg, "reg")
    max_iter = check_int(max_iter, "max_iter", low=1)
    tol = check_positive(tol, "tol")
    metric = "sqeuclidean" if p == 2 else "euclidean"

    def cost(u, v):
        return torch.as_tensor(ssd.cdist(u, v, metric=metric), dtype=torch.float64)

    at = torch.as_tensor(a, dtype=torch.float64)
    bt = torch.as_tensor(b, dtype=torch.float64)
    with torch.no_grad():
        # cross term: POT's log-domain Sinkhorn (ot.solve); value = <T, C> + reg KL(T || a b^T)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = ot.solve(cost(x, y), at, bt, reg=reg, reg_type="KL", max_iter=max_iter, tol=tol)
        bad = [str(w.message) for w in caught if "converge" in str(w.message).lower()]
        if bad:
            raise RuntimeError(
                f"Sinkhorn did not converge at reg={reg:g}, max_iter={max_iter}: {bad[0]} "
                "Increase reg or max_iter."
            )
        ot_ab = float(res.value)
        ot_aa = _sym_ot_eps(cost(x, x), at, reg, tol, max_iter)
        ot_bb = _sym_ot_eps(cost(y, y), bt, reg, tol, max_iter)
    val = ot_ab - 0.5 * (ot_aa + ot_bb)
    if not math.isfinite(val):
        raise FloatingPointError(f"Sinkhorn divergence is not finite at reg={reg:g}; increase reg")
    return max(val, 0.0) ** (1.0 / p)


def _w_sliced(x, y, p, a, b, n_projections=200, seed=0):
    import ot

    n_projections = check_int(n_projections, "n_projections", low=1)
    seed = check_int(seed, "seed", low=0)
    val = ot.sliced_wasserstein_distance(x, y, a, b, n_projections=n_projections, p=p, seed=seed)
    return float(val)


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


# ---------------------------------------------------------------------------------------------
# noise floor and bootstrap
# ---------------------------------------------------------------------------------------------
class NoiseFloor(NamedTuple):
    """Two-sample noise floor: ``mean`` and sample standard deviation ``std`` (ddof=1; 0 for
    one repeat) of ``values``, one ``W_p(ref_1, ref_2)`` per repeat."""

    mean: float
    std: float
    values: np.ndarray


def noise_floor(
    sampler, n: int, rng=None, p: int = 2, repeats: int = 1, method: str = "exact", **kw
):
    """``W_p`` between two independent reference samples of the same size ``n``.

    .. math:: \\mathrm{floor}(n) = W_p(\\mu_n, \\mu'_n),\\qquad
        W_p(\\mu_n, \\mu) \\le E' [W_p^p(\\mu_n, \\mu'_n)]^{1/p},\\quad
        E W_p(\\mu_n, \\mu'_n) \\le 2 E W_p(\\mu_n, \\mu)

    A model whose ``W_p`` to a reference sample of size ``n`` is at this level is
    indistinguishable from the truth at that ``n`` (docs/conventions.md §7). On a d-manifold with a
    density bounded above and below it decays like ``n^{-1/2}`` (d = 1),
    ``sqrt(log n / n)`` (d = 2), ``n^{-1/d}`` (d >= 3).

    Parameters
    ----------
    sampler : callable
        ``sampler(n, rng) -> (n, D)`` array, e.g. ``M.sample``.
    n : int >= 1
    rng : numpy Generator or int seed
        Both samples of every repeat are drawn from it, in order.
    p : {1, 2}
    repeats : int >= 1
    method : str
        Passed to :func:`wasserstein` with ``**kw``.

    Returns
    -------
    NoiseFloor
        ``(mean, std, values)``.
    """
    if not callable(sampler):
        raise TypeError(
            f"sampler must be a callable (n, rng) -> (n, D); got {type(sampler).__name__}"
        )
    n = check_int(n, "n", low=1)
    repeats = check_int(repeats, "repeats", low=1)
    p = _check_p(p)
    gen = as_rng(rng)
    vals = np.empty(repeats)
    for r in range(repeats):
        s1 = as_points(sampler(n, gen), "sampler output")
        s2 = as_points(sampler(n, gen), "sampler output")
        if s1.shape[0] != n or s2.shape[0] != n:
            raise ValueError(
                f"sampler must return exactly n = {n} rows; got {s1.shape[0]}, {s2.shape[0]}"
            )
        vals[r] = wasserstein(s1, s2, p=p, method=method, **kw)
    std = float(vals.std(ddof=1)) if repeats > 1 else 0.0
    return NoiseFloor(float(vals.mean()), std, vals)


class BootstrapCI(NamedTuple):
    """Point estimate on the full data and the percentile bootstrap interval."""

    estimate: float
    low: float
    high: float


def bootstrap_ci(data, statistic=np.mean, level: float = 0.95, n_boot: int = 2000, seed=0):
    """Percentile bootstrap confidence interval of a statistic.

    The rows of ``data`` (axis 0) are resampled with replacement ``n_boot`` times; the
    interval is the ``(1-level)/2`` and ``(1+level)/2`` empirical quantiles of the resampled
    statistic (Efron's percentile method, ``scipy.stats.bootstrap(method="percentile")``
    applied to the row indices, so ``statistic`` sees whole rows, e.g. point clouds).

    Parameters
    ----------
    data : (n, ...) array_like
        Independent observations, ``n >= 2``: e.g. per-seed values of a metric, or a sample of
        points (n, D) for a statistic of a point cloud.
    statistic : callable
        ``statistic(rows) -> float``; default: the mean over axis 0.
    level : float in (0, 1)
    n_boot : int >= 10
    seed : int or numpy Generator

    Returns
    -------
    BootstrapCI
        ``(estimate, low, high)`` with ``estimate = statistic(data)``.
    """
    import scipy.stats as st

    try:
        arr = np.asarray(_xp.to_numpy(data, "data"), dtype=np.float64)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"data must be a real array of shape (n, ...); got {type(data).__name__}") from exc
    if arr.ndim == 0 or arr.shape[0] < 2:
        raise ValueError(
            f"data must hold at least 2 observations along axis 0; got shape {arr.shape}"
        )
    check_finite(arr, "data")
    if not callable(statistic):
        raise TypeError("statistic must be a callable rows -> float")
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not (0.0 < level < 1.0):
        raise ValueError(f"level must be in (0, 1); got {level!r}")
    n_boot = check_int(n_boot, "n_boot", low=10)
    gen = as_rng(seed)

    def stat_of_idx(idx):
        return float(statistic(arr[np.asarray(idx, dtype=np.intp)]))

    estimate = float(statistic(arr))
    if not math.isfinite(estimate):
        raise ValueError("statistic(data) is not finite")
    idx = np.arange(arr.shape[0])
    res = st.bootstrap(
        (idx,), stat_of_idx, n_resamples=n_boot, vectorized=False, confidence_level=level,
        method="percentile", rng=gen,
    )
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return BootstrapCI(estimate, lo, hi)


# ---------------------------------------------------------------------------------------------
# manifold diagnostics
# ---------------------------------------------------------------------------------------------
def off_manifold_rate(x, M, threshold: float = 0.1) -> float:
    """Fraction of samples farther than ``threshold`` from the manifold ``M``.

    .. math:: r = \\frac1n \\#\\{i : \\operatorname{dist}(x_i, M) > \\tau\\}

    (MAGT §5: off-manifold rate with ``tau = 0.1``.)

    Parameters
    ----------
    x : (n, D) array_like, n >= 1
    M : object with ``distance(x) -> (n,)`` (and ``ambient_dim``), e.g. a
        :class:`magt_theory.manifolds.Manifold`.
    threshold : float > 0
    """
    if not callable(getattr(M, "distance", None)):
        raise TypeError("M must provide a distance(x) -> (n,) method (a Manifold)")
    threshold = check_positive(threshold, "threshold")
    xx = as_points(x, "x", getattr(M, "ambient_dim", None))
    if xx.shape[0] < 1:
        raise ValueError("x must hold at least one point")
    dist = np.asarray(M.distance(xx), dtype=np.float64)
    if dist.shape != (xx.shape[0],) or not np.all(np.isfinite(dist)):
        raise ValueError("M.distance(x) must return a finite array of shape (n,)")
    return float(np.mean(dist > threshold))


def _orthonormal(A, name):
    q, r = np.linalg.qr(A)
    diag = np.abs(np.diagonal(r, axis1=-2, axis2=-1))
    scale = np.maximum(np.abs(A).max(axis=(-2, -1)), 1e-300)
    if np.any(diag <= 1e-12 * scale[:, None] * max(A.shape[-2], 1)):
        raise ValueError(f"{name} must have full column rank in every batch entry")
    return q


def _as_frames(A, B):
    out = []
    for name, M in (("A", A), ("B", B)):
        arr = np.asarray(M, dtype=np.float64)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3:
            raise ValueError(f"{name} must have shape (n, D, k) or (D, k); got {arr.shape}")
        check_finite(arr, name)
        if arr.shape[0] < 1 or arr.shape[2] < 1 or arr.shape[2] > arr.shape[1]:
            raise ValueError(
                f"{name} must have shape (n, D, k) with n >= 1 and 1 <= k <= D; got {arr.shape}"
            )
        out.append(arr)
    A, B = out
    if A.shape[:2] != B.shape[:2]:
        raise ValueError(f"A and B must share (n, D); got {A.shape[:2]} and {B.shape[:2]}")
    return A, B


def principal_angles(A, B) -> np.ndarray:
    """Principal angles between the column spaces of ``A`` and ``B``, batched.

    With orthonormal bases ``Q_A, Q_B`` (QR) and ``l = min(k, l)``, the cosines are the
    singular values of ``Q_A^T Q_B`` and the sines the singular values of
    ``(I - Q_A Q_A^T) Q_B`` (for ``l <= k``; roles swapped otherwise). Angles are
    ``arctan2(sin_i, cos_i)``, accurate for both tiny and near-right angles
    (Björck–Golub 1973; Knyazev–Argentati 2002). Used for Lyapunov–tangent alignment (CdC;
    docs/conventions.md §8).

    Parameters
    ----------
    A : (n, D, k) or (D, k) array_like
    B : (n, D, l) or (D, l) array_like
        Full column rank, ``k, l <= D``.

    Returns
    -------
    (n, min(k, l)) ndarray
        Angles in ``[0, pi/2]``, ascending along the last axis.
    """
    A, B = _as_frames(A, B)
    if B.shape[2] > A.shape[2]:
        A, B = B, A
    qa = _orthonormal(A, "A")
    qb = _orthonormal(B, "B")
    cos = np.linalg.svd(np.swapaxes(qa, 1, 2) @ qb, compute_uv=False)  # descending
    resid = qb - qa @ (np.swapaxes(qa, 1, 2) @ qb)
    sin = np.linalg.svd(resid, compute_uv=False)[:, ::-1]  # ascending
    cos = np.clip(cos, 0.0, 1.0)
    sin = np.clip(sin, 0.0, 1.0)
    ang = np.arctan2(sin, cos)
    return np.sort(ang, axis=1)


def sin_theta_max(A, B) -> np.ndarray:
    """Sine of the largest principal angle, ``|(I - Q_A Q_A^T) Q_B|_2`` for ``l <= k``.

    With ``A`` the true tangent basis ``T`` (n, D, d) and ``B`` the estimated vectors
    ``E_d``: ``sin theta_max = |(I - T T^T) E_d|_2`` (docs/conventions.md §8, CdC). Shape ``(n,)``.
    """
    return np.sin(principal_angles(A, B)[:, -1])


# one-sample W2 to a known manifold's exact law (its own module: magt_theory.law_distance)
from .law_distance import LawDistance, wasserstein_to_law  # noqa: E402
