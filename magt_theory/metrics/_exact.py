"""Exact ``W_p``: POT's (dense or lazy) network simplex and the optimal assignment.

Part of :mod:`magt_theory.metrics` (the estimators are described there); reached through
:func:`magt_theory.metrics.wasserstein` with ``method="exact"``.
"""

from __future__ import annotations

import logging
import math
import numbers
import warnings

import numpy as np
import scipy.spatial.distance as ssd

from .._validation import check_int

logger = logging.getLogger(__name__)


#: Bytes per (i, j) pair used by the dense exact path: the float64 cost matrix (8) plus POT's
#: network-simplex arc arrays (~32); measured peak RSS 87.6 MB at n = m = 1500 and 352 MB at
#: n = m = 3000 (POT 0.9.7), i.e. 39 bytes per pair.
DENSE_BYTES_PER_PAIR = 40

#: Default ``max_dense_bytes`` of ``method="exact"``: above ``DENSE_BYTES_PER_PAIR * n * m``
#: bytes of this (n = m ~ 5200 points) the lazy solver ``ot.emd2_lazy`` is used.
DEFAULT_MAX_DENSE_BYTES = 2**30

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
