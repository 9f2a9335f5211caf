"""Uncertainty of a metric: the two-sample noise floor and percentile bootstrap intervals.

Part of :mod:`magt_theory.metrics` (re-exported there).
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from .. import _xp
from .._validation import as_points, as_rng, check_finite, check_int
from ._wasserstein import _check_p, wasserstein


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
