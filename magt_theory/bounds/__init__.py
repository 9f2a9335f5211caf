"""The theorems' bounds and reference rates as sympy expressions (docs/conventions.md §6).

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

Papers: ``MAGT`` (Tian & Shen 2026), ``CharGen`` (Ding et al. 2024), ``CdC`` (Lyapunov-tangent
alignment, derived scalings); empirical-measure rates from Fournier & Guillin (2015), Weed &
Bach (2019), Divol (2021).

Layout (one private module per source, re-exported here): ``_symbols`` (the symbols and the
validation of values), ``_core`` (:class:`Bound`), ``_magt``, ``_rates`` (literature rates),
``_chargen``, ``_cdc`` (each a tuple of bounds built with keyword arguments) and ``_registry``
(:data:`BOUNDS` in the order MAGT, rates, CharGen, CdC; :func:`get`, :func:`names`). A new bound
goes into its paper's tuple; the registry rejects a name used twice.
"""

from __future__ import annotations

from ._core import Bound
from ._magt import C_LSI, C_PB, E_MAG, corollary2_exponent, e_mag
from ._rates import empirical_rate
from ._registry import BOUNDS, get, names
from ._symbols import SYMBOLS, symbol

__all__ = [
    "BOUNDS",
    "C_LSI",
    "C_PB",
    "E_MAG",
    "SYMBOLS",
    "Bound",
    "corollary2_exponent",
    "e_mag",
    "empirical_rate",
    "get",
    "names",
    "symbol",
]
