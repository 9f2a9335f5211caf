"""Approximate ``W_p``: the debiased Sinkhorn divergence and the sliced distance.

Part of :mod:`magt_theory.metrics` (the estimators are described there); reached through
:func:`magt_theory.metrics.wasserstein` with ``method="sinkhorn"`` or ``"sliced"``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import scipy.spatial.distance as ssd

from .._validation import check_int, check_positive


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
