"""Log-log slope fits with CIs, comparison with the bounds' own slopes, verdict table.

A measured quantity ``m`` swept over ``x`` (``n``, ``K``, ``sigma``, ``t`` ...) is summarised by
the OLS slope of ``log m`` on ``log x`` with a confidence interval: a cluster bootstrap over
seeds when there are at least :data:`MIN_CLUSTERS` seeds, else the OLS t-interval (Student t
with ``n - 2`` degrees of freedom) over the (swept value, seed) points. The interval is compared
with the slope that :mod:`magt_theory.bounds` derives from the theorem: for a bound, by default
the bound's own slope over the fitted points (:meth:`magt_theory.bounds.Bound.range_slope`,
constants and log factors included), with the asymptotic exponent kept in the note.

Decision rule (:func:`verdict`). ``[lo, hi]`` is the CI, ``p`` the predicted slope, ``b`` the
claim's band (one per claim, justified where the claim is declared in
:mod:`magt_theory.claims`):

============  ==============  ===============  ============  =============  ===================
claim         allowed A       inconsistent     consistent    inconclusive   tight
============  ==============  ===============  ============  =============  ===================
rate ~ x^p    [p-b, p+b]      hi < p-b or      [lo, hi]      CI overlaps A  consistent and CI
                              lo > p+b         inside A      and sticks     in [p-b/2, p+b/2]
                                                             out of it
bound, x->oo  (-oo, p+b]      lo > p+b         hi <= p+b     lo <= p+b      consistent and
                                                             < hi           lo >= p-b
bound, x->0   [p-b, oo)       hi < p-b         lo >= p-b     lo < p-b       consistent and
                                                             <= hi          hi <= p+b
============  ==============  ===============  ============  =============  ===================

*Inconsistent* whenever the CI and what the claim allows are disjoint, whatever the CI width;
*inconclusive* only when the CI neither lies inside the allowed set nor misses it. ``tight``
is not a synonym of consistent: for a bound it says the bound's own slope is attained (a
consistent, non-tight bound is loose by ``x^(p - slope)``); for a rate that the CI sits in the
half band. An optional ``max_ci_width`` can only turn *consistent* into *inconclusive*.

Two more verdict values appear in ``verdicts.csv``: ``exact`` (an identity that holds to
round-off, e.g. by symmetry, backed by a unit test) and ``diagnostic`` (a value reported
without a verdict, because no negative control was shown to make the row fail: see
:class:`VerdictSpec` ``control``).
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd
from scipy import stats

from . import bounds as _bounds
from ._validation import check_in_open_interval, check_int

logger = logging.getLogger(__name__)

__all__ = [
    "FitResult",
    "fit_slope",
    "RateFit",
    "verdict",
    "VerdictSpec",
    "verdict_rows",
    "VERDICT_COLUMNS",
    "VERDICTS",
    "t_interval",
]

#: fewest seeds for the cluster (per-seed) bootstrap; with fewer, the percentile bootstrap over
#: seeds has only a handful of distinct resamples and its CI is degenerate, so
#: :func:`verdict_rows` uses the OLS t-interval (:func:`t_interval`) instead
MIN_CLUSTERS = 4

VERDICT_COLUMNS = [
    "experiment",
    "manifold",
    "quantity",
    "swept",
    "fitted_slope",
    "ci_low",
    "ci_high",
    "predicted_slope",
    "source",
    "claim",
    "verdict",
    "tight",
    "direction",
    "control",
    "note",
]
"""Columns of ``verdicts.csv``, in order. ``direction`` is the direction of the injected error
relative to the manifold (``tangent``, ``normal``, ``mixed``; empty when the claim does not
depend on one); ``control`` names the negative control that a test shows turning the row
``inconsistent`` (empty for ``diagnostic`` rows)."""

_BASE_COLUMNS = {
    "experiment", "manifold", "d", "D", "seed", "quantity", "value", "ci_low", "ci_high"
}
_CHUNK_ENTRIES = 2_000_000  # bootstrap weight-matrix entries per chunk (~16 MB)


# --------------------------------------------------------------------------------------------
# Slope fit
# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# Verdict
# --------------------------------------------------------------------------------------------
_DIRECTIONS = {"large": "large", "oo": "large", "inf": "large", "small": "small", "0": "small"}

#: verdict values of ``verdicts.csv``: the three of :func:`verdict`, plus ``exact`` (an identity
#: that holds to round-off, backed by a unit test) and ``diagnostic`` (a value with no verdict:
#: no negative control was shown to make it fail)
VERDICTS = ("consistent", "inconsistent", "inconclusive", "exact", "diagnostic")

#: values of the ``direction`` column (the direction of an injected error relative to the
#: manifold; empty when the claim does not depend on one)
ERROR_DIRECTIONS = ("tangent", "normal", "mixed", "")


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def verdict(
    fit,
    predicted,
    claim: str,
    band: float = 0.1,
    direction: str = "large",
    max_ci_width: float | None = None,
    var: str = "x",
) -> tuple[str, bool, str]:
    """Compare a fitted slope with a predicted one (the decision table of the module docstring).

    With ``[lo, hi]`` the CI, ``p`` the predicted slope and ``b`` the band, the claim allows
    the slopes ``A``: ``[p - b, p + b]`` for a rate, ``(-oo, p + b]`` for a bound as
    ``var -> oo`` and ``[p - b, oo)`` for a bound as ``var -> 0`` (the measurement may not
    outgrow the bound where it matters). Then

    * *inconsistent* when ``[lo, hi]`` and ``A`` are disjoint, however wide the CI;
    * *consistent* when ``[lo, hi]`` lies inside ``A``;
    * *inconclusive* otherwise (the CI overlaps ``A`` and sticks out of it);
    * ``tight``: consistent and the CI lies in ``[p - b, p + b]`` for a bound (the bound's
      own slope is attained), in ``[p - b/2, p + b/2]`` for a rate (the rate is pinned down,
      not merely allowed).

    The rule is monotone: shrinking the CI never turns a decisive verdict into another one, and
    shifting it towards the allowed side never turns *consistent* into *inconsistent*.

    Parameters
    ----------
    fit : FitResult or object with ``slope``, ``ci_low``, ``ci_high`` (or a mapping)
    predicted : float
        Predicted slope (a sympy number is accepted).
    claim : {"rate", "bound"}
    band : float, >= 0
        Slack on the slope (pre-asymptotic curvature, estimator bias); each caller states why.
    direction : {"large", "small"}
        Where the bound matters: ``"large"`` = ``var -> oo`` (n, K), ``"small"`` = ``var -> 0``
        (sigma, t). Only used for ``claim="bound"``.
    max_ci_width : float, optional
        If given, a CI wider than this cannot be *consistent* (it becomes *inconclusive*); it
        never prevents *inconsistent*. Default: no limit.
    var : str
        Name of the swept variable, for the note.

    Returns
    -------
    verdict : {"consistent", "inconsistent", "inconclusive"}
    tight : bool
    note : str
        e.g. ``"bound holds but is loose: measured slope -2.1 [-2.3, -1.9] vs bound -5 in
        sigma (loose by sigma^-2.9 as sigma -> 0)"``.
    """
    get = (lambda k: fit[k]) if isinstance(fit, Mapping) else (lambda k: getattr(fit, k))
    try:
        a, lo, hi = (float(get(k)) for k in ("slope", "ci_low", "ci_high"))
    except (KeyError, AttributeError, TypeError) as exc:
        raise TypeError("fit must provide slope, ci_low and ci_high (e.g. a FitResult)") from exc
    if not all(np.isfinite([a, lo, hi])) or lo > hi:
        raise ValueError(f"fit must have finite slope and ci_low <= ci_high; got {a}, [{lo}, {hi}]")
    try:
        p = float(predicted)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"predicted must be a real number; got {predicted!r}") from exc
    if not np.isfinite(p):
        raise ValueError(f"predicted must be finite; got {predicted!r}")
    if claim not in {"rate", "bound"}:
        raise ValueError(f"claim must be 'rate' or 'bound'; got {claim!r}")
    band = float(band)
    if not np.isfinite(band) or band < 0:
        raise ValueError(f"band must be a finite number >= 0; got {band!r}")
    if direction not in _DIRECTIONS:
        raise ValueError(
            f"direction must be 'large' (var -> oo) or 'small' (var -> 0); got {direction!r}"
        )
    direction = _DIRECTIONS[direction]
    if max_ci_width is not None:
        max_ci_width = float(max_ci_width)
        if not max_ci_width > 0:
            raise ValueError(f"max_ci_width must be > 0 or None; got {max_ci_width!r}")

    kind = "rate" if claim == "rate" else "bound"
    meas = f"measured slope {_fmt(a)} [{_fmt(lo)}, {_fmt(hi)}] vs {kind} {_fmt(p)} in {var}"
    towards = f"{var} -> oo" if direction == "large" else f"{var} -> 0"
    too_wide = max_ci_width is not None and hi - lo > max_ci_width
    wide = (f"; CI wider than {_fmt(max_ci_width)} cannot confirm" if too_wide else "")

    if claim == "rate":
        a_lo, a_hi = p - band, p + band
        if hi < a_lo or lo > a_hi:
            return ("inconsistent", False,
                    f"rate excluded: CI outside [{_fmt(a_lo)}, {_fmt(a_hi)}] (band {_fmt(band)}); "
                    f"{meas}")
        if a_lo <= lo and hi <= a_hi and not too_wide:
            tight = p - band / 2 <= lo and hi <= p + band / 2
            return "consistent", bool(tight), f"rate confirmed within band {_fmt(band)}: {meas}"
        return ("inconclusive", False,
                f"CI overlaps the allowed [{_fmt(a_lo)}, {_fmt(a_hi)}] but is not inside it: "
                f"{meas}{wide}")
    if direction == "large":
        violated, holds = lo > p + band, hi <= p + band
        edge = f"<= {_fmt(p + band)}"
    else:
        violated, holds = hi < p - band, lo >= p - band
        edge = f">= {_fmt(p - band)}"
    if violated:
        return ("inconsistent", False,
                f"bound violated: {meas}; the measurement outgrows the bound by "
                f"{var}^{_fmt(a - p)} as {towards}")
    if not holds or too_wide:
        return ("inconclusive", False,
                f"CI straddles the allowed edge (slope {edge}, band {_fmt(band)}): {meas}{wide}")
    if p - band <= lo and hi <= p + band:
        return "consistent", True, f"bound holds and is tight (band {_fmt(band)}): {meas}"
    return ("consistent", False,
            f"bound holds but is loose: {meas} (loose by {var}^{_fmt(p - a)} as {towards})")


# --------------------------------------------------------------------------------------------
# Verdict table
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VerdictSpec:
    """What to fit and what to compare it with, for one row family of ``verdicts.csv``.

    Parameters
    ----------
    experiment, quantity : str
        Rows of the tidy results to use.
    swept : str
        Column holding the swept variable (``n``, ``K``, ``sigma``, ``t`` ...).
    bound : str
        Name in :data:`magt_theory.bounds.BOUNDS`.
    variable : str, optional
        The bound's symbol for ``swept`` (default: ``swept``).
    substitutions : mapping
        Fixed values for bound symbols (e.g. ``{"eta": 2}``); ``d``, ``D`` and any other
        column constant within a group are taken from the data.
    filter : mapping
        ``column -> value`` or ``column -> list of values`` kept (e.g. fixed other parameters).
    group_by : sequence of str
        Extra columns to split by (one row each), beside ``manifold`` and ``D``.
    average_over : sequence of str
        Replicate columns averaged over (besides duplicate rows); other parameter columns must
        be constant within each (group, swept value).
    band : float
        Slope band (see :func:`verdict`).
    fit_range : (low, high), optional
        Inclusive range of ``swept`` values fitted (None for open ends).
    floor_quantity : str, optional
        A quantity of the same experiment giving the noise floor at each point (e.g.
        ``w2_noise_floor``). Swept values whose mean measurement is within ``floor_factor``
        of the mean floor are excluded, and the note says so.
    floor_factor : float, >= 3
        Default 3: a point within a factor 2 of the floor still carries a bias of order the
        floor itself (``W2^2`` of independent errors add), which flattens the slope.
    direction : {"large", "small"}, optional
        Default: where the bound matters for this variable (``Bound.regime``).
    predicted : {"range", "local", "asymptotic"}
        ``"range"`` (default): the bound's own slope over the fitted swept values
        (:meth:`magt_theory.bounds.Bound.range_slope`: the OLS slope of ``log B`` at the same
        points, constants and log factors included); ``"local"``: the symbolic slope at the
        geometric mean of those values; ``"asymptotic"``: its limit in ``direction``. The
        asymptotic slope is written in the note whenever sympy can take it.
    max_ci_width : float, optional
        See :func:`verdict` (can only turn *consistent* into *inconclusive*).
    control : str, optional
        Name of the negative control (an experiment's ``control`` parameter) that a test shows
        turning this row *inconsistent*. Without one the row is a **diagnostic**: the slope and
        CI are reported, the verdict column says ``diagnostic``.
    claim : {"rate", "bound"}, optional
        Overrides the bound's own claim kind (default: ``Bound.claim``).
    error_direction : {"tangent", "normal", "mixed", ""}, optional
        Value of the ``direction`` column; by default taken from a ``direction`` column of the
        results (a ``group_by`` key or a scalar ``filter``), else empty.

    Examples
    --------
    The keyword sets of :data:`magt_theory.claims.SLOPE_CLAIMS` are these fields, e.g.::

        dict(quantity="ratio_w2_sqrt_emag", swept="t", bound="magt_pullback_ratio",
             filter={"direction": "tangent"}, average_over=("eps",), band=0.1,
             control="fisher_denoiser")
    """

    experiment: str
    quantity: str
    swept: str
    bound: str
    variable: str | None = None
    substitutions: Mapping = field(default_factory=dict)
    filter: Mapping = field(default_factory=dict)
    group_by: Sequence[str] = ()
    average_over: Sequence[str] = ()
    band: float = 0.1
    fit_range: tuple | None = None
    floor_quantity: str | None = None
    floor_factor: float = 3.0
    direction: str | None = None
    predicted: str = "range"
    max_ci_width: float | None = None
    control: str | None = None
    claim: str | None = None
    error_direction: str | None = None

    def __post_init__(self):
        for name in ("experiment", "quantity", "swept", "bound"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise TypeError(f"VerdictSpec.{name} must be a non-empty str")
        bnd = _bounds.get(self.bound)  # raises on an unknown name
        var = self.variable or self.swept
        _bounds.symbol(var)  # raises on an unknown symbol
        if var not in bnd.free_symbols:
            raise ValueError(
                f"VerdictSpec.variable {var!r} is not a symbol of bound {self.bound!r} "
                f"(free symbols {sorted(bnd.free_symbols)}); set variable="
            )
        if not np.isfinite(self.band) or self.band < 0:
            raise ValueError(f"VerdictSpec.band must be >= 0; got {self.band!r}")
        if not (np.isfinite(self.floor_factor) and self.floor_factor >= 3):
            raise ValueError(f"VerdictSpec.floor_factor must be >= 3 (a floor factor below 3 "
                             f"biases slopes); got {self.floor_factor!r}")
        if self.control is not None and (not isinstance(self.control, str) or not self.control):
            raise TypeError(f"VerdictSpec.control must be a non-empty str or None; "
                            f"got {self.control!r}")
        if self.claim is not None and self.claim not in {"rate", "bound"}:
            raise ValueError(f"VerdictSpec.claim must be 'rate', 'bound' or None; "
                             f"got {self.claim!r}")
        if self.error_direction is not None and self.error_direction not in ERROR_DIRECTIONS:
            raise ValueError(f"VerdictSpec.error_direction must be one of {ERROR_DIRECTIONS}; "
                             f"got {self.error_direction!r}")
        if self.direction is not None and self.direction not in _DIRECTIONS:
            raise ValueError(
                f"VerdictSpec.direction must be 'large' or 'small'; got {self.direction!r}"
            )
        if self.predicted not in {"range", "local", "asymptotic"}:
            raise ValueError(
                f"VerdictSpec.predicted must be 'range', 'local' or 'asymptotic'; "
                f"got {self.predicted!r}"
            )
        if self.fit_range is not None and (len(self.fit_range) != 2):
            raise ValueError(f"VerdictSpec.fit_range must be (low, high); got {self.fit_range!r}")

    @classmethod
    def coerce(cls, spec) -> "VerdictSpec":
        """A :class:`VerdictSpec` from itself or a dict (unknown keys raise ValueError)."""
        if isinstance(spec, cls):
            return spec
        if not isinstance(spec, Mapping):
            raise TypeError(f"spec must be a VerdictSpec or a dict; got {type(spec).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ValueError(f"unknown spec key(s) {unknown}; accepted: {sorted(known)}")
        kw = dict(spec)
        for key in ("group_by", "average_over"):
            if key in kw and isinstance(kw[key], str):
                kw[key] = (kw[key],)
        if "fit_range" in kw and kw["fit_range"] is not None:
            kw["fit_range"] = tuple(kw["fit_range"])
        return cls(**kw)

    @property
    def var(self) -> str:
        return self.variable or self.swept


def _apply_filter(frame: pd.DataFrame, flt: Mapping) -> pd.DataFrame:
    for col, val in flt.items():
        if col not in frame.columns:
            raise ValueError(
                f"filter column {col!r} not in the results (columns: {list(frame.columns)})"
            )
        if isinstance(val, (list, tuple, set, np.ndarray)):
            frame = frame[frame[col].isin(list(val))]
        else:
            frame = frame[frame[col] == val]
    return frame


def _claim(spec, bnd) -> str:
    return spec.claim or bnd.claim


def _nan_row(spec, bnd, manifold, note, err_dir=""):
    return dict(experiment=spec.experiment, manifold=manifold, quantity=spec.quantity,
                swept=spec.swept, fitted_slope=np.nan, ci_low=np.nan, ci_high=np.nan,
                predicted_slope=np.nan, source=bnd.source, claim=_claim(spec, bnd),
                verdict="inconclusive" if spec.control else "diagnostic", tight=False,
                direction=err_dir, control=spec.control or "", note=note)


def _context(spec, bnd, grp: pd.DataFrame) -> dict:
    """Values of the bound's other symbols: spec substitutions, else columns constant in grp."""
    out = {}
    for name in bnd.free_symbols - {spec.var}:
        if name in spec.substitutions:
            out[name] = spec.substitutions[name]
        elif name in grp.columns and name != spec.swept:
            col = grp[name].dropna().unique()
            if col.size == 1 and isinstance(col[0], numbers.Real) and not isinstance(col[0], bool):
                out[name] = float(col[0])
    return out


def _predicted(spec, bnd, ctx: dict, x: np.ndarray, direction: str) -> tuple[float, str]:
    slope_expr = bnd.slope(spec.var)
    needed = {s.name for s in slope_expr.free_symbols} - {spec.var}
    missing = sorted(needed - set(ctx))
    if spec.predicted == "range":
        if missing:
            raise ValueError(f"spec {spec.experiment}/{spec.quantity}: the slope of {bnd.name} in "
                             f"{spec.var} depends on {missing}; give them in substitutions")
        sec, smin, smax = bnd.range_slope(spec.var, np.unique(x), at={k: ctx[k] for k in needed})
        how = ""
        if not bnd.is_constant_slope(spec.var):
            how = (f"; predicted = the bound's own slope over {spec.var} in "
                   f"[{np.min(x):.3g}, {np.max(x):.3g}] (local slope {smin:.3g} to {smax:.3g})")
            try:
                asym = bnd.asymptotic_slope(spec.var, direction,
                                            at={k: ctx[k] for k in needed} or None)
                if not asym.free_symbols:
                    towards = "oo" if direction == "large" else "0"
                    how += f"; asymptotic exponent {float(asym):.3g} as {spec.var} -> {towards}"
            except (ValueError, NotImplementedError):  # sympy could not take the limit
                pass
        return sec, how
    if spec.predicted == "local":
        if missing:
            raise ValueError(f"spec {spec.experiment}/{spec.quantity}: the slope of {bnd.name} in "
                             f"{spec.var} depends on {missing}; give them in substitutions or use "
                             "predicted='asymptotic'")
        at = {k: ctx[k] for k in needed}
        x_mid = float(np.exp(np.mean(np.log(np.unique(x)))))
        at[spec.var] = x_mid
        value = bnd.slope(spec.var, at=at)
        how = ""
        if not bnd.is_constant_slope(spec.var):
            how = f"; predicted = local slope at {spec.var}={x_mid:.3g}"
        return float(value), how
    at = {k: ctx[k] for k in needed if k in ctx}
    value = bnd.asymptotic_slope(spec.var, direction, at=at or None)
    if value.free_symbols:
        raise ValueError(
            f"spec {spec.experiment}/{spec.quantity}: asymptotic slope {value} still depends on "
            f"{sorted(s.name for s in value.free_symbols)}; give substitutions"
        )
    towards = "oo" if direction == "large" else "0"
    return float(value), f"; predicted = asymptotic slope as {spec.var} -> {towards}"


def _one_group(spec, bnd, key_desc, grp, floor_df, n_boot, seed, level, manifold, err_dir=""):
    notes = [key_desc] if key_desc else []
    sw = spec.swept
    cell_means = grp.groupby(sw)["value"].mean()
    kept = cell_means.index.to_numpy(dtype=np.float64)
    if spec.fit_range is not None:
        lo, hi = spec.fit_range
        mask = np.ones(kept.size, dtype=bool)
        if lo is not None:
            mask &= kept >= lo
        if hi is not None:
            mask &= kept <= hi
        if not mask.all():
            notes.append(f"fit range {sw} in [{lo}, {hi}]")
        kept = kept[mask]
    if floor_df is not None:
        fmeans = floor_df.groupby(sw)["value"].mean()
        floor_at = fmeans.reindex(kept).to_numpy()
        if np.isnan(floor_at).any():
            raise ValueError(f"floor quantity {spec.floor_quantity!r} missing at some {sw} values "
                             f"of {key_desc or manifold}")
        near = cell_means.reindex(kept).to_numpy() <= spec.floor_factor * floor_at
        if near.any():
            notes.append(f"excluded {int(near.sum())} of {kept.size} {sw} values within a factor "
                         f"{spec.floor_factor:g} of the noise floor {spec.floor_quantity} "
                         f"({sw} = {', '.join(f'{v:g}' for v in kept[near])})")
        kept = kept[~near]
    use = grp[grp[sw].isin(kept)]
    pts = use.groupby([sw, "seed"], as_index=False)["value"].mean()
    if kept.size < 3 or len(pts) < 3:
        notes.append(f"too few points to fit ({kept.size} {sw} values)")
        return _nan_row(spec, bnd, manifold, "; ".join(notes), err_dir)
    n_seeds = pts["seed"].nunique()
    cluster = n_seeds >= MIN_CLUSTERS
    xs, ys = pts[sw].to_numpy(np.float64), pts["value"].to_numpy(np.float64)
    try:
        if cluster:
            fit = fit_slope(xs, ys, n_boot=n_boot, seed=seed, level=level,
                            groups=pts["seed"].to_numpy())
        else:
            fit = t_interval(xs, ys, level=level)
    except ValueError as exc:
        where = f"{spec.experiment}/{spec.quantity} vs {sw} ({key_desc or manifold})"
        raise ValueError(f"{where}: {exc}") from exc
    if not cluster:
        notes.append(f"{n_seeds} seed(s) < {MIN_CLUSTERS}: OLS t-interval over "
                     f"{len(pts)} (value, seed) points")
    direction = _DIRECTIONS[spec.direction] if spec.direction else bnd.regime(spec.var)
    ctx = _context(spec, bnd, grp)
    pred, how = _predicted(spec, bnd, ctx, kept, direction)
    claim = _claim(spec, bnd)
    v, tight, vnote = verdict(fit, pred, claim, band=spec.band, direction=direction,
                              max_ci_width=spec.max_ci_width, var=spec.var)
    if not spec.control:
        vnote = f"diagnostic (no negative control shown to fail it; rule would say {v}): {vnote}"
        v, tight = "diagnostic", False
    notes.insert(0, vnote + how)
    return dict(experiment=spec.experiment, manifold=manifold, quantity=spec.quantity, swept=sw,
                fitted_slope=fit.slope, ci_low=fit.ci_low, ci_high=fit.ci_high,
                predicted_slope=pred, source=bnd.source, claim=claim, verdict=v,
                tight=bool(tight), direction=err_dir, control=spec.control or "",
                note="; ".join(notes))


def verdict_rows(
    df: pd.DataFrame,
    specs,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    on_missing: str = "raise",
) -> pd.DataFrame:
    """The verdict table: one row per (spec, manifold, D[, group_by]) with fit and verdict.

    For each spec: select the experiment and quantity, apply the filter, group by manifold (and
    ``D``), average replicates per (swept value, seed), drop points outside ``fit_range`` or
    near the noise floor, fit the log-log slope with a cluster bootstrap over seeds
    (:func:`fit_slope`; :func:`t_interval` with fewer than :data:`MIN_CLUSTERS` seeds), derive
    the predicted slope from the bound (:mod:`magt_theory.bounds`, with ``d``/``D`` from the
    manifold; by default its own slope over the fitted points) and apply :func:`verdict`. A
    spec without ``control`` gives ``diagnostic`` rows.

    Parameters
    ----------
    df : pandas.DataFrame
        Tidy results (``experiment, manifold, d, D, seed, <params>, quantity, value``).
    specs : sequence of VerdictSpec or dict
    n_boot, seed, level
        Passed to :func:`fit_slope`.
    on_missing : {"raise", "warn"}
        What to do when a spec matches no rows: raise ValueError, or log a warning and skip.

    Returns
    -------
    pandas.DataFrame
        Columns exactly :data:`VERDICT_COLUMNS`. Groups with fewer than 3 usable swept values
        get NaN slopes, verdict "inconclusive" ("diagnostic" without a control) and a note.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame; got {type(df).__name__}")
    if on_missing not in {"raise", "warn"}:
        raise ValueError(f"on_missing must be 'raise' or 'warn'; got {on_missing!r}")
    need = {"experiment", "manifold", "seed", "quantity", "value"}
    missing = sorted(need - set(df.columns))
    if missing:
        raise ValueError(f"df lacks required column(s) {missing}")
    if isinstance(specs, (VerdictSpec, Mapping)):
        specs = [specs]
    specs = [VerdictSpec.coerce(s) for s in specs]

    rows = []
    for spec in specs:
        bnd = _bounds.get(spec.bound)
        sub = _apply_filter(df[df["experiment"] == spec.experiment], spec.filter)
        sub = sub.dropna(axis=1, how="all")
        q = sub[sub["quantity"] == spec.quantity] if len(sub) else sub
        if q.empty:
            msg = (f"no rows for experiment {spec.experiment!r}, quantity {spec.quantity!r} "
                   f"(after filter {dict(spec.filter)})")
            if on_missing == "raise":
                raise ValueError(msg)
            logger.warning("verdict_rows: %s; skipped", msg)
            continue
        if spec.swept not in q.columns or q[spec.swept].isna().any():
            raise ValueError(f"swept column {spec.swept!r} missing or incomplete for "
                             f"{spec.experiment}/{spec.quantity}")
        if not np.isfinite(q["value"].to_numpy(np.float64)).all():
            raise ValueError(f"{spec.experiment}/{spec.quantity}: value contains NaN or inf")
        for col in list(spec.group_by) + list(spec.average_over):
            if col not in q.columns:
                raise ValueError(f"column {col!r} (group_by/average_over) not in the results")
        keys = ["manifold"] + (["D"] if "D" in q.columns else []) + list(spec.group_by)
        params = [c for c in q.columns
                  if c not in _BASE_COLUMNS and c not in keys and c != spec.swept
                  and c not in spec.average_over]
        if params:
            cells = q.groupby(keys + [spec.swept], dropna=False)[params]
            varying = cells.nunique(dropna=False).max()
            varying = varying[varying > 1]
            if len(varying):
                col = varying.index[0]
                raise ValueError(
                    f"{spec.experiment}/{spec.quantity}: column {col!r} takes several values "
                    f"({sorted(q[col].dropna().unique().tolist())[:6]}) at fixed {spec.swept}; "
                    "fix it with filter=, split with group_by= or average with average_over=")
        floor_all = None
        if spec.floor_quantity is not None:
            floor_all = sub[sub["quantity"] == spec.floor_quantity]
            if floor_all.empty:
                raise ValueError(f"floor_quantity {spec.floor_quantity!r} has no rows in "
                                 f"experiment {spec.experiment!r}")
        for key, grp in q.groupby(keys, sort=True):
            key = key if isinstance(key, tuple) else (key,)
            manifold = key[0]
            key_desc = ", ".join(f"{k}={v}" for k, v in zip(keys[1:], key[1:]))
            floor_df = None
            if floor_all is not None:
                fmask = np.ones(len(floor_all), dtype=bool)
                for k, v in zip(keys, key):
                    if k in floor_all.columns:
                        fmask &= (floor_all[k] == v).to_numpy()
                floor_df = floor_all[fmask]
            err_dir = spec.error_direction
            if err_dir is None:
                err_dir = ""
                if "direction" in keys:
                    err_dir = str(key[keys.index("direction")])
                elif isinstance(spec.filter.get("direction"), str):
                    err_dir = spec.filter["direction"]
            rows.append(_one_group(spec, bnd, key_desc, grp, floor_df, n_boot, seed, level,
                                   manifold, err_dir))
    out = pd.DataFrame(rows, columns=VERDICT_COLUMNS)
    out["tight"] = out["tight"].astype(bool)
    for col in ("direction", "control"):
        out[col] = out[col].fillna("").astype(str)
    return out
