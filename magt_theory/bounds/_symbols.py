"""The bound symbols, their domains and the validation of numeric values for them.

Every symbol is positive; ``d`` and ``D`` are integers, ``t`` lies in (0, 1) and ``alpha`` in
(0, 1] (:func:`_check_values`). The short aliases below (``t``, ``n``, ``K`` ...) are the objects
of :data:`SYMBOLS` themselves, for the paper modules that write the expressions.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

import numpy as np
import sympy as sp

_INTEGER = {"d", "D"}
_NAMES = ("t", "n", "K", "sigma", "alpha", "d", "D", "eta", "J", "rho", "eps", "M", "C_pi",
          "B", "D2", "C", "c", "c1", "c2", "c3", "Phi", "Psi")
SYMBOLS: dict[str, sp.Symbol] = {
    name: sp.Symbol(name, positive=True, integer=True if name in _INTEGER else None)
    for name in _NAMES
}
"""Every symbol the bounds use, by name (all positive; ``d``, ``D`` integers)."""

# Open/closed domains checked by :meth:`Bound.evaluate` (default: finite and > 0).
_DOMAIN_UPPER = {"t": (1.0, False), "alpha": (1.0, True)}  # name -> (upper, inclusive)
_DOMAIN_INTEGER = {"d", "D"}

# Where a bound "matters" for each variable: "large" = variable -> oo (n, K, D grow),
# "small" = variable -> 0 (sigma, t, eps, J, rho shrink). Used as the default direction of a
# bound claim in :func:`magt_theory.analysis.verdict`.
_SMALL_BY_DEFAULT = frozenset({"t", "sigma", "alpha", "eps", "J", "rho"})

t, n, K = SYMBOLS["t"], SYMBOLS["n"], SYMBOLS["K"]
sigma, alpha = SYMBOLS["sigma"], SYMBOLS["alpha"]
d, D, eta = SYMBOLS["d"], SYMBOLS["D"], SYMBOLS["eta"]
J, rho, eps, M = SYMBOLS["J"], SYMBOLS["rho"], SYMBOLS["eps"], SYMBOLS["M"]
C_pi, B, D2 = SYMBOLS["C_pi"], SYMBOLS["B"], SYMBOLS["D2"]
C, c, c1, c2, c3 = SYMBOLS["C"], SYMBOLS["c"], SYMBOLS["c1"], SYMBOLS["c2"], SYMBOLS["c3"]
Phi, Psi = SYMBOLS["Phi"], SYMBOLS["Psi"]


def symbol(name) -> sp.Symbol:
    """Return the bound symbol called ``name`` (a str or a sympy Symbol).

    Raises
    ------
    ValueError
        If ``name`` is not one of :data:`SYMBOLS`.
    """
    if isinstance(name, sp.Symbol):
        name = name.name
    if not isinstance(name, str):
        raise TypeError(
            f"var must be a symbol name (str) or sympy Symbol; got {type(name).__name__}"
        )
    return _lookup(SYMBOLS, name, "symbol")


def _lookup(table: Mapping, name: str, what: str):
    """``table[name]``, or a ValueError naming the closest key and every accepted one."""
    try:
        return table[name]
    except KeyError:
        hint = difflib.get_close_matches(name, table, n=1)
        extra = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ValueError(f"unknown {what} {name!r}{extra}; accepted: {sorted(table)}") from None


def _limit_point(limit):
    """Map 0 / "0" / "small" to 0 and "oo" / inf / "large" to sympy oo."""
    if isinstance(limit, str):
        key = limit.strip().lower()
        if key in {"oo", "inf", "infinity", "large"}:
            return sp.oo
        if key in {"0", "zero", "small"}:
            return sp.S.Zero
    elif limit is sp.oo or (isinstance(limit, float) and limit == np.inf):
        return sp.oo
    elif isinstance(limit, (int, float, sp.Integer)) and not isinstance(limit, bool) and limit == 0:
        return sp.S.Zero
    raise ValueError(f"limit must be 0 or 'oo' (also 'small'/'large'); got {limit!r}")


def _broadcast_shape(res: np.ndarray, vals: dict) -> tuple:
    """Common shape of a result and its inputs (a constant expression returns a scalar)."""
    return np.broadcast_shapes(res.shape, *(np.shape(x) for x in vals.values()))


def _check_values(values: Mapping, needed, where: str) -> dict:
    """Validate numeric values for ``needed`` symbols; return {Symbol: value}."""
    unknown = [k for k in values if k not in SYMBOLS]
    if unknown:
        raise ValueError(f"{where}: unknown symbol(s) {unknown}; accepted: {sorted(SYMBOLS)}")
    missing = sorted(s.name for s in needed if s.name not in values)
    if missing:
        raise ValueError(f"{where}: missing value(s) for {missing}")
    out = {}
    for key, val in values.items():
        if isinstance(val, sp.Basic):
            out[SYMBOLS[key]] = val
            continue
        arr = np.asarray(val, dtype=np.float64)
        if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise ValueError(f"{key} must be finite and > 0; got {val!r}")
        if key in _DOMAIN_UPPER:
            upper, inclusive = _DOMAIN_UPPER[key]
            bad = np.any(arr > upper) if inclusive else np.any(arr >= upper)
            if bad:
                bracket = "]" if inclusive else ")"
                raise ValueError(f"{key} must lie in (0, {upper}{bracket}; got {val!r}")
        if key in _DOMAIN_INTEGER and not np.all(arr == np.round(arr)):
            raise ValueError(f"{key} must be a positive integer; got {val!r}")
        out[SYMBOLS[key]] = arr
    return out
