"""The theorems' bounds and reference rates as sympy expressions (docs/conventions.md §4-5, §7, §9).

Each :class:`Bound` holds one expression, where it comes from, whether the paper claims it as a
*rate* (the measured quantity should scale like it) or as a *bound* (the measured quantity
should stay below it), and the measured quantity it predicts. Log-log slopes are **derived**
symbolically, never typed in:

.. math:: \\text{slope}_v(B) = \\frac{\\partial \\log B}{\\partial \\log v}
          = v \\, \\frac{\\partial \\log B}{\\partial v}.

When the slope depends on ``v`` itself (log factors, a ``1/(1-t)`` factor) use the local slope
``slope(v, at={...})`` or the limit ``asymptotic_slope(v, "oo")``.

Unknown constants (``C``, ``c``, ``c1``, ...) are positive symbols: they never change an
asymptotic slope, and the tests check only slopes and exact identities, never their values.

Symbols (all positive): ``t`` VP level, ``n`` sample size, ``K`` anchors, ``sigma``, ``alpha``,
``d`` intrinsic dimension (the papers' ``d*``), ``D`` ambient dimension, ``eta`` smoothness,
``J`` Fisher divergence ``J(p_t || p_t^h)``, ``rho`` excess-risk root, ``eps`` sup-norm error of
``h``, ``M`` largest singular value of ``J_h``, ``C_pi`` log-Sobolev constant of the base,
``B`` latent bound, ``D2`` Renyi-2 divergence ``1 + chi^2``, constants ``C, c, c1, c2, c3, Phi,
Psi``.

Papers: ``MAGT`` (Tian & Shen 2026), ``CharGen`` (Ding et al. 2024); empirical-measure rates
from Fournier & Guillin (2015), Weed & Bach (2019), Divol (2021).
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import sympy as sp

logger = logging.getLogger(__name__)

__all__ = [
    "Bound",
    "BOUNDS",
    "SYMBOLS",
    "E_MAG",
    "C_LSI",
    "get",
    "names",
    "symbol",
    "e_mag",
    "corollary2_exponent",
    "empirical_rate",
]

# --------------------------------------------------------------------------------------------
# Symbols
# --------------------------------------------------------------------------------------------
_INTEGER = {"d", "D"}
_NAMES = (
    "t n K sigma alpha d D eta J rho eps M C_pi B D2 C c c1 c2 c3 Phi Psi".split()
)
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
    try:
        return SYMBOLS[name]
    except KeyError:
        hint = difflib.get_close_matches(name, SYMBOLS, n=1)
        extra = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ValueError(f"unknown symbol {name!r}{extra}; accepted: {sorted(SYMBOLS)}") from None


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


# --------------------------------------------------------------------------------------------
# Bound
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Bound:
    """One bound or reference rate as a sympy expression.

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

    def subs(self, **values) -> "Bound":
        """A copy with some symbols replaced by numbers (e.g. ``d=2`` from the manifold)."""
        vals = _check_values(values, (), f"{self.name}.subs")
        expr = self.expr.subs({k: sp.nsimplify(float(v)) if not isinstance(v, sp.Basic) else v
                               for k, v in vals.items()})
        return Bound(self.name, expr, self.source, self.claim, self.quantity, self.description,
                     self.small)

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
        are set to 1: they shift ``log B`` by a constant and cannot change the slope. Every
        symbol the slope depends on (besides ``var``) needs a value in ``at``.

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
        subs.update({sym: sp.S.One for sym in self.expr.free_symbols
                     if sym is not v and sym not in needed})
        logb = sp.lambdify((v,), sp.log(self.expr.subs(subs)), modules="numpy")
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


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------
E_MAG = t**2 / (1 - t) * J
"""``E_MAG(t) = t^2/(1-t) J(p_t || p_t^h)`` [MAGT Theorem 1]: under VP, ``sigma^4/alpha^2 J`` =
the mean squared posterior-mean (denoiser) gap, since ``s = (alpha m - y)/sigma^2``."""

C_LSI = ((1 - t) * M**2 + t) / sp.Min(C_pi, 1)
"""``C_LSI(t) = ((1-t) M^2 + t) / min(C_LSI(pi), 1)`` [MAGT Theorem 1, explicit part]."""

C_PB = c / t
"""``C_PB(t) = c / t``: the pull-back constant's stated small-t order [MAGT Theorem 1]."""


def e_mag(t_value, fisher) -> np.ndarray | float:
    """Numeric ``E_MAG = t^2/(1-t) J`` [MAGT Theorem 1].

    Parameters
    ----------
    t_value : float or array_like, in (0, 1)
    fisher : float or array_like, >= 0
        Fisher divergence ``J(p_t || p_t^h)``.
    """
    tt = np.asarray(t_value, dtype=np.float64)
    jj = np.asarray(fisher, dtype=np.float64)
    if not np.all(np.isfinite(tt)) or np.any(tt <= 0) or np.any(tt >= 1):
        raise ValueError(f"t must lie in (0, 1); got {t_value!r}")
    if not np.all(np.isfinite(jj)) or np.any(jj < 0):
        raise ValueError(f"fisher must be finite and >= 0; got {fisher!r}")
    out = tt**2 / (1.0 - tt) * jj
    return float(out) if out.ndim == 0 else out


def corollary2_exponent(eta_value=eta, d_value=d):
    """Rate exponent ``(eta + 1) / (2 eta + d*)`` of Corollary 2 [MAGT] (sympy)."""
    return (sp.sympify(eta_value) + 1) / (2 * sp.sympify(eta_value) + sp.sympify(d_value))


def empirical_rate(dim=d) -> sp.Expr:
    """``E W_p(mu_n, mu)`` order on a compact ``d``-manifold as one expression of ``d``.

    .. math:: n^{-1/2}\\ (d=1), \\quad \\sqrt{\\log n / n}\\ (d=2), \\quad n^{-1/d}\\ (d\\ge 3)

    (Fournier & Guillin 2015; Weed & Bach 2019; Divol 2021; density bounded above and below.)
    """
    dim = sp.sympify(dim)
    return sp.Piecewise(
        (n ** sp.Rational(-1, 2), sp.Eq(dim, 1)),
        (sp.sqrt(sp.log(n) / n), sp.Eq(dim, 2)),
        (n ** (-1 / dim), True),
    )


_LOG5 = n / sp.log(n) ** 5

# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------
_ALL = [
    Bound(
        "magt_pullback",
        C_PB * sp.sqrt(E_MAG),
        "MAGT Theorem 1",
        "bound",
        "w2",
        "W2(P_Y0, P_h) <= C_PB(t) sqrt(E_MAG), E_MAG = t^2/(1-t) J, C_PB = c/t (t -> 0); "
        "= c sqrt(J/(1-t)): W2/sqrt(J) stays bounded as t -> 0.",
    ),
    Bound(
        "magt_pullback_ratio",
        C_PB,
        "MAGT Theorem 1",
        "bound",
        "ratio_w2_sqrt_emag",
        "W2(P_Y0, P_h) / sqrt(E_MAG(t)) <= C_PB(t) = O(1/t) as t -> 0: the measured ratio may "
        "grow as t -> 0, but no faster than 1/t.",
    ),
    Bound(
        "pullback_w2_eps",
        C * eps,
        "MAGT Theorem 1 (linear response in eps)",
        "rate",
        "w2",
        "W2(P_h*, P_h) ~ C eps for h = h* + eps delta (or a reparametrisation of size eps): "
        "the eps-linearity that makes W2 / sqrt(J) an eps-free ratio.",
    ),
    Bound(
        "pullback_fisher_eps",
        C * eps**2,
        "MAGT Theorem 1 (linear response in eps)",
        "rate",
        "fisher_J",
        "J(p_t || p_t^h) ~ C eps^2 for a perturbation of size eps (the score moves linearly).",
    ),
    Bound(
        "magt_lsi",
        C_LSI * sp.sqrt(J),
        "MAGT Theorem 1 (LSI step)",
        "bound",
        "w2_smoothed",
        "W2(p_t, p_t^h) <= C_LSI(t) sqrt(J), C_LSI(t) = ((1-t) M^2 + t)/min(C_LSI(pi), 1); "
        "explicit constants.",
    ),
    Bound(
        "magt_corollary1",
        (Phi * C_LSI + Psi) * rho,
        "MAGT Corollary 1",
        "bound",
        "w2",
        "W2 <= (Phi C_LSI(t) + Psi) rho, rho^2 = R(h) - R(h*) = J(p_t || p_t^h) (excess DSM risk).",
    ),
    Bound(
        "magt_corollary2",
        (c1 + c2 * sigma ** (-(eta + 2))) * _LOG5 ** (-corollary2_exponent()),
        "MAGT Corollary 2",
        "bound",
        "w2",
        "E W2 <~ C_PB(t)[(c1 + c2 sigma^-(eta+2)) (n/log^5 n)^{-(eta+1)/(2 eta + d*)} + c3 eps(K)];"
        " statistical term only (C_PB(t) and the K-term do not depend on n); d = d* intrinsic.",
    ),
    Bound(
        "magt_corollary2_width",
        _LOG5 ** (d / (2 * (2 * eta + d))),
        "MAGT Corollary 2 (network size)",
        "rate",
        "network_size",
        "network size choice WL ~ (n / log^5 n)^{d*/(2(2 eta + d*))}.",
    ),
    Bound(
        "magt_corollary2_sigma",
        c1 + c2 * sigma ** (-(eta + 2)),
        "MAGT Corollary 2 (sigma factor)",
        "bound",
        "w2",
        "sigma-dependence c1 + c2 sigma^-(eta+2) of the statistical term: slope -(eta+2) as "
        "sigma -> 0, 0 as sigma -> oo.",
    ),
    Bound(
        "anchor_mc",
        C * alpha**2 / (K * sigma ** (d + 4)),
        "MAGT Lemma 1",
        "bound",
        "anchor_mse",
        "MC anchors: E|s~_K - s|^2 <= C alpha^2 / (K sigma^(d+4)) near the manifold "
        "(score MSE).",
    ),
    Bound(
        "anchor_mc_vp",
        C * (1 - t) / (K * t ** ((d + 4) / 2)),
        "MAGT Lemma 1 (VP)",
        "bound",
        "anchor_mse",
        "Lemma 1 with VP alpha = sqrt(1-t), sigma = sqrt(t): C (1-t) / (K t^((d+4)/2)).",
    ),
    Bound(
        "anchor_qmc",
        C * sp.log(K) ** d / K,
        "MAGT Lemma 1 (QMC)",
        "bound",
        "anchor_mse",
        "QMC anchors: O(K^-1 log^d K) as stated (for the score MSE; a Koksma-Hlawka reading of "
        "the error itself would square it).",
    ),
    Bound(
        "anchor_map",
        32 * alpha**2 * B**2 * D2 / (K * sigma**4),
        "MAGT Lemma 1 (MAP/Laplace)",
        "bound",
        "anchor_mse",
        "MAP/Laplace proposal: E|s~_K - s|^2 <= 32 alpha^2 B^2 D_2(pi_t || q) / (K sigma^4).",
    ),
    Bound(
        "ess",
        C * K * sigma**d,
        "MAGT Lemma 1 (derived: ESS)",
        "rate",
        "ess",
        "Kish ESS = (sum w)^2 / sum w^2 ~ K sigma^d (weight second-moment ratio ~ sigma^-d).",
    ),
    Bound(
        "ess_vp",
        C * K * t ** (d / 2),
        "MAGT Lemma 1 (derived: ESS, VP)",
        "rate",
        "ess",
        "ESS ~ K sigma^d with sigma = sqrt(t): K t^(d/2).",
    ),
    Bound(
        "score_perturbation",
        sp.sqrt(2 + 2 * D * (D + 2)) * alpha * eps / sigma**2,
        "MAGT Lemma 5",
        "bound",
        "score_l2_error",
        "|h - h*|_inf <= eps => |s(.;h) - s(.;h*)|_L2 <= sqrt(2 + 2D(D+2)) alpha eps / sigma^2.",
    ),
    Bound(
        "empirical_w",
        empirical_rate(),
        "Fournier-Guillin 2015; Weed-Bach 2019",
        "rate",
        "w2",
        "E W_p(mu_n, mu): n^-1/2 (d=1), sqrt(log n / n) (d=2), n^-1/d (d>=3), d intrinsic.",
    ),
    Bound(
        "smoothing_bias",
        sigma * sp.sqrt(D),
        "docs/conventions.md §7 (Gaussian coupling)",
        "bound",
        "w2",
        "W2(mu, mu * N(0, sigma^2 I_D)) <= sigma sqrt(D).",
    ),
    Bound(
        "chargen_rate",
        n ** (-1 / (d + 3)) * sp.log(n),
        "CharGen (rate; v5 intrinsic reading)",
        "bound",
        "w2",
        "W2^2 <~ n^{-2/(d+3)} log^2 n, so W2 <~ n^{-1/(d+3)} log n; d = intrinsic d* (v5 "
        "abstract reading). Slower than the empirical measure itself.",
    ),
    Bound(
        "chargen_rate_ambient",
        n ** (-1 / (D + 3)) * sp.log(n),
        "CharGen (rate; v1-v4 ambient reading)",
        "bound",
        "w2",
        "W2 <~ n^{-1/(D+3)} log n with the ambient dimension D (v1-v4 reading).",
    ),
    # CdC expected behaviours of the oracle sampler (docs/conventions.md §8; derived, sigma = sigma_min)
    Bound(
        "cdc_gap_ratio",
        C / sigma,
        "CdC (derived)",
        "rate",
        "singular_value_ratio",
        "spectral gap log s_d - log s_{d+1} ~ log(sigma_T / sigma_min) + const, i.e. the "
        "flow-map singular-value ratio s_d / s_{d+1} ~ C sigma_min^-1 (normal directions are "
        "contracted exactly like sigma, tangent ones stay O(1)).",
    ),
    Bound(
        "cdc_tangent_error",
        C * sigma,
        "CdC (derived)",
        "rate",
        "sin_theta_max_svd",
        "tangent error of the top-d left singular vectors of the flow map, "
        "sin theta_max = |(I - T T^T) E_d|_2 ~ C sigma_min (non-uniform laws; exactly 0 by "
        "symmetry on homogeneous ones).",
    ),
    Bound(
        "cdc_score_injection",
        C * eps * sigma,
        "CdC (derived: score injection)",
        "rate",
        "abs_delta_distance",
        "linear response to a score error eps chi: the normal part injected at level sigma "
        "(size eps sigma^2) is contracted by sigma_min / sigma, so the change of the distance to "
        "M is ~ eps sigma_min int sigma dlog sigma ~ C eps sigma_min.",
    ),
    Bound(
        "cdc_denoiser_injection",
        C * eps * sp.exp(-sigma / c),
        "CdC (derived: denoiser injection)",
        "rate",
        "abs_delta_distance",
        "negative control, error eps chi in the denoiser: eps sigma_min int dlog sigma / sigma "
        "= eps (1 - sigma_min / sigma_T) ~ C eps exp(-sigma_min / c), c = sigma_T: not "
        "compressed (slope 0 as sigma_min -> 0).",
    ),
]

BOUNDS: dict[str, Bound] = {b.name: b for b in _ALL}
"""Registry of every bound, by name."""


def names() -> list[str]:
    """Sorted names of the registered bounds."""
    return sorted(BOUNDS)


def get(name: str) -> Bound:
    """Return the registered bound ``name``.

    Raises
    ------
    ValueError
        If ``name`` is not registered (the message lists the accepted names).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str; got {type(name).__name__}")
    try:
        return BOUNDS[name]
    except KeyError:
        hint = difflib.get_close_matches(name, BOUNDS, n=1)
        extra = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ValueError(f"unknown bound {name!r}{extra}; accepted: {names()}") from None
