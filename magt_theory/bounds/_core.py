"""The :class:`Bound` class: one bound or reference rate as a sympy expression, with its slopes.

Log-log slopes are **derived** symbolically, never typed in:

.. math:: \\text{slope}_v(B) = \\frac{\\partial \\log B}{\\partial \\log v}
          = v \\, \\frac{\\partial \\log B}{\\partial v}.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import sympy as sp

from ._symbols import (
    _SMALL_BY_DEFAULT,
    SYMBOLS,
    _broadcast_shape,
    _check_values,
    _limit_point,
    symbol,
)

_SINGULAR = (sp.zoo, sp.nan, sp.oo, -sp.oo)


@dataclass(frozen=True, eq=False, kw_only=True)
class Bound:
    """One bound or reference rate as a sympy expression.

    Every field is keyword-only: ``Bound(name=..., expr=..., source=..., claim=...,
    quantity=..., description=...)``.

    Parameters
    ----------
    name : str
        Registry key.
    expr : sympy.Expr
        The right-hand side (the bound itself, up to the stated constants).
    source : str
        Paper key and theorem/lemma, e.g. ``"MAGT Lemma 1"``.
    claim : {"rate", "bound"}
        ``"rate"``: the measured quantity should scale like ``expr``; ``"bound"``: it should
        stay below ``expr`` (its slope no steeper in the direction where the bound matters).
    quantity : str
        The measured quantity (results-schema ``quantity``) that ``expr`` predicts.
    description : str
        One line: what it says, and any reading chosen.
    small : frozenset of str
        Variables whose relevant limit is 0 (e.g. ``sigma``); all others are "large".
    """

    name: str
    expr: sp.Expr
    source: str
    claim: str
    quantity: str
    description: str = ""
    small: frozenset = field(default=_SMALL_BY_DEFAULT)

    def __post_init__(self):
        if self.claim not in {"rate", "bound"}:
            raise ValueError(f"claim must be 'rate' or 'bound'; got {self.claim!r}")
        if not isinstance(self.expr, sp.Expr):
            raise TypeError(f"expr must be a sympy expression; got {type(self.expr).__name__}")
        stray = [s.name for s in self.expr.free_symbols if SYMBOLS.get(s.name) is not s]
        if stray:
            raise ValueError(f"expr uses symbols outside bounds.SYMBOLS: {stray}")

    # -- structure ---------------------------------------------------------------------------
    @property
    def free_symbols(self) -> frozenset:
        """Names of the symbols ``expr`` depends on."""
        return frozenset(s.name for s in self.expr.free_symbols)

    def regime(self, var) -> str:
        """``"small"`` if the bound matters as ``var -> 0``, else ``"large"`` (``var -> oo``)."""
        return "small" if symbol(var).name in self.small else "large"

    def subs(self, **values) -> Bound:
        """A copy with some symbols replaced by numbers (e.g. ``d=2`` from the manifold)."""
        vals = _check_values(values, (), f"{self.name}.subs")
        expr = self.expr.subs({k: sp.nsimplify(float(v)) if not isinstance(v, sp.Basic) else v
                               for k, v in vals.items()})
        return dataclasses.replace(self, expr=expr)

    # -- slopes ------------------------------------------------------------------------------
    @cached_property
    def _slope_cache(self) -> dict:
        return {}

    def _slope_expr(self, v: sp.Symbol) -> sp.Expr:
        if v not in self._slope_cache:
            raw = v * sp.diff(sp.log(self.expr), v)
            self._slope_cache[v] = sp.simplify(sp.piecewise_fold(raw))
        return self._slope_cache[v]

    def slope(self, var, at: Mapping | None = None):
        """Log-log slope ``d log expr / d log var``, derived symbolically.

        .. math:: s(v) = \\operatorname{simplify}\\big(v\\, \\partial_v \\log B\\big)

        Parameters
        ----------
        var : str or sympy.Symbol
            The swept variable (a name in :data:`SYMBOLS`; 0 if ``expr`` does not depend on it).
        at : mapping, optional
            Values (scalars or broadcastable arrays) for every symbol the slope still depends
            on, e.g. ``{"n": 1e3, "d": 2}``; extra symbols are ignored. Then the local slope is
            returned as a float (or float64 array).

        Returns
        -------
        sympy.Expr, float or ndarray
        """
        v = symbol(var)
        s = self._slope_expr(v)
        if at is None:
            return s
        args = tuple(sorted(s.free_symbols, key=lambda x: x.name))
        vals = _check_values(dict(at), args, f"{self.name}.slope(at=...)")
        func = sp.lambdify(args, s, modules="numpy")
        with np.errstate(all="ignore"):
            res = np.asarray(func(*(vals[a] for a in args)), dtype=np.float64)
        res = np.broadcast_to(res, _broadcast_shape(res, vals))
        if not np.all(np.isfinite(res)):
            raise ValueError(f"{self.name}: slope in {v.name} is not finite at {dict(at)}")
        return float(res) if res.ndim == 0 else res

    def is_constant_slope(self, var) -> bool:
        """True when the slope in ``var`` does not depend on ``var`` (a pure power law)."""
        v = symbol(var)
        return v not in self._slope_expr(v).free_symbols

    def asymptotic_slope(self, var, limit, at: Mapping | None = None):
        """Limit of the slope as ``var -> 0`` or ``var -> oo``.

        Parameters
        ----------
        var : str or sympy.Symbol
        limit : {0, "0", "small", "oo", "large"}
        at : mapping, optional
            Values for other symbols, substituted before taking the limit (needed e.g. for the
            piecewise empirical rate, whose branch depends on ``d``).

        Returns
        -------
        sympy.Expr (a number when nothing else is free)
        """
        v = symbol(var)
        point = _limit_point(limit)
        s = self._slope_expr(v)
        if at:
            vals = _check_values(dict(at), (), f"{self.name}.asymptotic_slope(at=...)")
            if v in vals:
                raise ValueError(f"at must not fix the limit variable {v.name!r}")
            if any(np.ndim(x) for x in vals.values()):
                raise ValueError("at must hold scalars for asymptotic_slope")
            s = s.subs({k: sp.nsimplify(float(x)) for k, x in vals.items()})
        res = sp.limit(s, v, point, "+" if point == 0 else "-")
        if res.has(sp.Limit) or res.has(sp.nan) or res.has(sp.zoo):
            raise ValueError(f"{self.name}: sympy could not take the limit of the slope in "
                             f"{v.name} -> {point}; fix more symbols with at=")
        return sp.simplify(res)

    def range_slope(self, var, x, at: Mapping | None = None) -> tuple[float, float, float]:
        """The bound's own log-log slope over the swept points ``x`` (a finite-range fit).

        .. math:: \\hat s = \\frac{\\sum_i (\\ell_i - \\bar\\ell)
                  (\\log B(x_i) - \\overline{\\log B})}{\\sum_i (\\ell_i - \\bar\\ell)^2},
                  \\qquad \\ell_i = \\log x_i

        i.e. the OLS slope of ``log B`` on ``log var`` at the measured points, constants and log
        factors included (e.g. the ``log^5 n`` of MAGT Corollary 2, the ``log n`` of CharGen).
        This is what a log-log fit of a quantity that follows the bound over the same points
        would return, which is the fair prediction for a bound over a finite range; the
        asymptotic exponent (:meth:`asymptotic_slope`) describes only the limit.

        Symbols that the slope does not depend on (multiplicative constants ``C``, ``c1`` ...)
        take their value in ``at``, or 1: they shift ``log B`` by a constant and cannot change
        the slope. Every symbol the slope depends on (besides ``var``) needs a value in ``at``,
        and so does one at which 1 makes the bound singular (``t`` in ``1/(1-t)``, ``n`` in
        ``log^5 n`` when another variable is swept).

        Parameters
        ----------
        var : str or sympy.Symbol
        x : array_like, > 0, at least 2 distinct values
            The swept values actually fitted.
        at : mapping, optional
            Scalar values of the other symbols the slope depends on (e.g. ``{"d": 1}``).

        Returns
        -------
        secant : float
            OLS slope of ``log B`` over ``x``.
        local_min, local_max : float
            Range of the local slope :meth:`slope` over ``x``.
        """
        v = symbol(var)
        xa = np.asarray(x, dtype=np.float64).ravel()
        if xa.size < 2 or np.unique(xa).size < 2:
            raise ValueError(f"x must hold at least 2 distinct values; got {x!r}")
        if not np.all(np.isfinite(xa)) or np.any(xa <= 0):
            raise ValueError(f"x must be finite and > 0; got {x!r}")
        s = self._slope_expr(v)
        needed = {sym for sym in s.free_symbols if sym is not v}
        vals = _check_values(dict(at or {}), needed, f"{self.name}.range_slope(at=...)")
        if v in vals:
            raise ValueError(f"at must not fix the swept variable {v.name!r}")
        if any(np.ndim(val) for val in vals.values()):
            raise ValueError("at must hold scalars for range_slope")
        if v not in self.expr.free_symbols:
            return 0.0, 0.0, 0.0
        subs = {sym: sp.nsimplify(float(vals[sym])) for sym in needed}
        shift = sorted(self.expr.free_symbols - needed - {v}, key=lambda x: x.name)
        subs.update({sym: sp.nsimplify(float(vals[sym])) if sym in vals else sp.S.One
                     for sym in shift})
        log_expr = sp.log(self.expr.subs(subs))
        if log_expr.has(*_SINGULAR):  # e.g. t = 1 in 1/(1-t), n = 1 in log^5 n
            at1 = [sym for sym in shift if sym not in vals]
            poles = [sym.name for sym in at1 if sp.log(self.expr.subs(sym, 1)).has(*_SINGULAR)]
            raise ValueError(f"{self.name}: the bound is singular with "
                             f"{poles or [sym.name for sym in at1]} set to 1; give a value "
                             f"inside the domain with at=")
        logb = sp.lambdify((v,), log_expr, modules="numpy")
        loc = sp.lambdify((v,), s.subs(subs), modules="numpy")
        with np.errstate(all="ignore"):
            ly = np.broadcast_to(np.asarray(logb(xa), dtype=np.float64), xa.shape)
            ls = np.broadcast_to(np.asarray(loc(xa), dtype=np.float64), xa.shape)
        if not (np.all(np.isfinite(ly)) and np.all(np.isfinite(ls))):
            raise ValueError(f"{self.name}: log bound or its slope in {v.name} is not finite "
                             f"over {v.name} in [{xa.min():.3g}, {xa.max():.3g}]")
        lx = np.log(xa)
        lxc = lx - lx.mean()
        secant = float(np.sum(lxc * (ly - ly.mean())) / np.sum(lxc * lxc))
        return secant, float(ls.min()), float(ls.max())

    # -- numbers -----------------------------------------------------------------------------
    @cached_property
    def _args(self) -> tuple:
        return tuple(sorted(self.expr.free_symbols, key=lambda s: s.name))

    @cached_property
    def _func(self):
        return sp.lambdify(self._args, self.expr, modules="numpy")

    def evaluate(self, **values) -> np.ndarray | float:
        """Evaluate ``expr`` numerically (vectorised, numpy broadcasting, float64).

        Every free symbol needs a value (> 0; ``t`` in (0, 1), ``alpha`` in (0, 1]).

        Raises
        ------
        ValueError
            On a missing/unknown/out-of-range value or a non-finite result.
        """
        vals = _check_values(values, self._args, f"{self.name}.evaluate")
        extra = sorted(k for k in values if SYMBOLS[k] not in self._args)
        if extra:
            raise ValueError(f"{self.name}.evaluate: {extra} not in the expression "
                             f"(free symbols: {sorted(self.free_symbols)})")
        with np.errstate(all="ignore"):
            res = np.asarray(self._func(*(vals[s] for s in self._args)), dtype=np.float64)
        res = np.broadcast_to(res, _broadcast_shape(res, vals))
        if not np.all(np.isfinite(res)):
            raise ValueError(f"{self.name}.evaluate: non-finite result at {values}")
        return float(res) if res.ndim == 0 else res

    def __repr__(self) -> str:
        return f"Bound({self.name!r}, {self.expr}, source={self.source!r}, claim={self.claim!r})"

