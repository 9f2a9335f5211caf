"""The decision rule: a fitted slope's CI against a predicted slope and band.

Part of :mod:`magt_theory.analysis` (re-exported there; the decision table is in its
docstring): :func:`verdict`, :data:`VERDICTS`, :data:`ERROR_DIRECTIONS`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

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
    """Compare a fitted slope with a predicted one (decision table: :mod:`magt_theory.analysis`).

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
