"""Log-log slope fits: OLS with a cluster/pairs bootstrap CI, or the Student-t interval.

Part of :mod:`magt_theory.analysis` (re-exported there): :class:`FitResult`,
:func:`fit_slope`, :func:`t_interval`, :class:`RateFit` and :data:`MIN_CLUSTERS`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .._validation import check_in_open_interval, check_int

logger = logging.getLogger(__name__)

#: fewest seeds for the cluster (per-seed) bootstrap; with fewer, the percentile bootstrap over
#: seeds has only a handful of distinct resamples and its CI is degenerate, so
#: :func:`verdict_rows` uses the OLS t-interval (:func:`t_interval`) instead
MIN_CLUSTERS = 4

_CHUNK_ENTRIES = 2_000_000  # bootstrap weight-matrix entries per chunk (~16 MB)


@dataclass(frozen=True)
class FitResult:
    """Result of :func:`fit_slope`.

    Attributes
    ----------
    slope, intercept : float
        OLS fit ``log y = intercept + slope log x``.
    ci_low, ci_high : float
        Percentile bootstrap CI of the slope at ``level``.
    n_points : int
        Number of (x, y) pairs fitted.
    n_groups : int or None
        Number of clusters resampled (None for the pairs bootstrap).
    stderr : float
        OLS standard error of the slope (independent-errors formula; for reference).
    level : float
    method : {"pairs", "cluster", "t"}
    n_boot : int
        Bootstrap replicates used (degenerate resamples with one distinct x are dropped).
    """

    slope: float
    intercept: float
    ci_low: float
    ci_high: float
    n_points: int
    n_groups: int | None
    stderr: float
    level: float
    method: str
    n_boot: int


def _as_positive_1d(values, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a 1-D array of positive reals") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf; a log-log fit needs finite values > 0")
    bad = arr <= 0
    if np.any(bad):
        raise ValueError(
            f"{name} must be > 0 for a log-log fit (log of a non-positive value); "
            f"{int(bad.sum())} of {arr.size} value(s) are <= 0 (min {arr.min():.3g})"
        )
    return arr


def _check_xy(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(x, y)`` of a log-log fit: positive, finite, equal length, >= 3 points,
    >= 2 distinct ``x``."""
    xa = _as_positive_1d(x, "x")
    ya = _as_positive_1d(y, "y")
    if xa.size != ya.size:
        raise ValueError(f"x and y must have the same length; got {xa.size} and {ya.size}")
    if xa.size < 3:
        raise ValueError(f"x and y need at least 3 points for a slope with a CI; got {xa.size}")
    if np.unique(xa).size < 2:
        raise ValueError("x must take at least 2 distinct values")
    return xa, ya


def _weighted_slopes(lx: np.ndarray, ly: np.ndarray, w: np.ndarray) -> np.ndarray:
    """OLS slopes for each row of the weight matrix ``w`` (n_boot, n); NaN when degenerate."""
    sw = w.sum(axis=1)
    mx = w @ lx / sw
    my = w @ ly / sw
    sxx = w @ (lx * lx) / sw - mx * mx
    sxy = w @ (lx * ly) / sw - mx * my
    scale = max(float(np.var(lx)), 1e-300)
    out = np.full(w.shape[0], np.nan)
    ok = sxx > 1e-10 * scale
    out[ok] = sxy[ok] / sxx[ok]
    return out


def fit_slope(
    x, y, n_boot: int = 2000, seed: int = 0, level: float = 0.95, groups=None
) -> FitResult:
    """Log-log OLS slope with a bootstrap confidence interval.

    .. math:: \\log y_i = a + b \\log x_i + e_i, \\qquad
              \\hat b = \\frac{\\sum_i (\\log x_i - \\bar{\\ell}_x)(\\log y_i - \\bar{\\ell}_y)}
                             {\\sum_i (\\log x_i - \\bar{\\ell}_x)^2}

    The point estimate is ``scipy.stats.linregress``. The CI is the percentile interval of
    ``n_boot`` bootstrap slopes: resampling whole clusters (all points sharing a ``groups``
    label, e.g. one seed) when ``groups`` is given, else resampling (x, y) pairs. The cluster
    bootstrap keeps the correlation between points of one seed (a seed whose whole curve sits
    high counts once, not once per point).

    Parameters
    ----------
    x, y : (n,) array_like, float64, > 0
    n_boot : int, >= 100
    seed : int
        Seed of the bootstrap generator (results are deterministic given it).
    level : float in (0, 1)
    groups : (n,) array_like, optional
        Cluster labels (at least 2 distinct).

    Returns
    -------
    FitResult

    Raises
    ------
    ValueError
        Non-positive/non-finite ``x`` or ``y`` (log undefined), fewer than 3 points or 2
        distinct ``x``, mismatched lengths, bad ``level``/``n_boot``, fewer than 2 groups.
    """
    xa, ya = _check_xy(x, y)
    n_boot = check_int(n_boot, "n_boot", low=100)
    seed = check_int(seed, "seed", low=0)
    level = check_in_open_interval(level, "level", 0, 1)
    codes = None
    if groups is not None:
        g = np.asarray(groups)
        if g.shape != xa.shape:
            raise ValueError(f"groups must have shape {xa.shape}; got {g.shape}")
        if pd.isna(g).any():
            raise ValueError("groups must not contain missing labels")
        _, codes = np.unique(g, return_inverse=True)
        if codes.max() + 1 < 2:
            raise ValueError("groups must hold at least 2 distinct labels for a cluster bootstrap")

    lx, ly = np.log(xa), np.log(ya)
    reg = stats.linregress(lx, ly)
    # centre for numerical stability of the weighted moments (slopes are shift invariant)
    lxc, lyc = lx - lx.mean(), ly - ly.mean()

    rng = np.random.default_rng(seed)
    n = xa.size
    units = n if codes is None else int(codes.max() + 1)
    chunk = max(1, _CHUNK_ENTRIES // max(n, units))
    slopes = []
    done = 0
    while done < n_boot:
        m = min(chunk, n_boot - done)
        counts = rng.multinomial(units, np.full(units, 1.0 / units), size=m).astype(np.float64)
        w = counts if codes is None else counts[:, codes]
        slopes.append(_weighted_slopes(lxc, lyc, w))
        done += m
    boot = np.concatenate(slopes)
    valid = boot[np.isfinite(boot)]
    if valid.size < 0.5 * n_boot:
        raise ValueError(
            f"only {valid.size} of {n_boot} bootstrap resamples had 2 distinct x values; "
            "add points or groups"
        )
    if valid.size < n_boot:
        logger.warning("fit_slope: dropped %d degenerate bootstrap resamples", n_boot - valid.size)
    lo, hi = np.quantile(valid, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return FitResult(
        slope=float(reg.slope),
        intercept=float(reg.intercept),
        ci_low=float(lo),
        ci_high=float(hi),
        n_points=int(n),
        n_groups=None if codes is None else units,
        stderr=float(reg.stderr),
        level=level,
        method="pairs" if codes is None else "cluster",
        n_boot=int(valid.size),
    )


def t_interval(x, y, level: float = 0.95) -> FitResult:
    """Log-log OLS slope with the Student-t interval ``slope +- t_{n-2} se``.

    .. math:: \\hat b \\pm t_{n-2,\\,(1+\\text{level})/2}\\;
              \\frac{s}{\\sqrt{\\sum_i (\\log x_i - \\bar{\\ell}_x)^2}}

    Used instead of the cluster bootstrap when there are fewer than :data:`MIN_CLUSTERS`
    seeds (a bootstrap over two or three seeds has a handful of distinct resamples and a
    degenerate interval). The points are the (swept value, seed) means.

    Parameters
    ----------
    x, y : (n,) array_like, > 0, n >= 3 with at least 2 distinct x
    level : float in (0, 1)

    Returns
    -------
    FitResult
        ``method = "t"``, ``n_boot = 0``, ``n_groups = None``.
    """
    xa, ya = _check_xy(x, y)
    level = check_in_open_interval(level, "level", 0, 1)
    reg = stats.linregress(np.log(xa), np.log(ya))
    se = float(reg.stderr) if np.isfinite(reg.stderr) else 0.0
    half = float(stats.t.ppf((1.0 + level) / 2.0, xa.size - 2)) * se
    return FitResult(slope=float(reg.slope), intercept=float(reg.intercept),
                     ci_low=float(reg.slope) - half, ci_high=float(reg.slope) + half,
                     n_points=int(xa.size), n_groups=None, stderr=se, level=level,
                     method="t", n_boot=0)


class RateFit:
    """scikit-learn-style wrapper of :func:`fit_slope`.

    ``RateFit(n_boot=2000, seed=0, level=0.95).fit(x, y, groups=None)`` sets ``slope_``,
    ``intercept_``, ``ci_`` (low, high) and ``result_`` (:class:`FitResult`).
    """

    def __init__(self, n_boot: int = 2000, seed: int = 0, level: float = 0.95):
        self.n_boot = n_boot
        self.seed = seed
        self.level = level

    def fit(self, x, y, groups=None) -> "RateFit":
        """Fit ``log y = a + b log x``; see :func:`fit_slope`."""
        res = fit_slope(x, y, n_boot=self.n_boot, seed=self.seed, level=self.level, groups=groups)
        self.result_ = res
        self.slope_ = res.slope
        self.intercept_ = res.intercept
        self.ci_ = (res.ci_low, res.ci_high)
        return self

    def predict(self, x) -> np.ndarray:
        """Fitted power law ``exp(a) x^b`` at ``x`` (> 0)."""
        if not hasattr(self, "result_"):
            raise ValueError("RateFit is not fitted; call fit(x, y) first")
        xa = _as_positive_1d(np.atleast_1d(x), "x")
        return np.exp(self.intercept_) * xa**self.slope_
