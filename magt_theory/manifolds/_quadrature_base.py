"""Building blocks of the curve quadrature (:mod:`._quadrature`): the rule, the curve, the caps.

* :func:`gauss_legendre`: the ``q``-point Gauss–Legendre rule mapped to ``[0, 1]``,

  .. math:: \\int_0^1 f(x)\\, dx \\approx \\sum_{i=1}^{q} w_i f(x_i),

  exact for polynomials of degree ``2q - 1``; its error on a Gaussian integrand of width
  ``sigma`` over a panel of length ``beta sigma`` is the bound of item 3 of
  :mod:`._quadrature`.
* :class:`CurveSpec`: a parametrised curve ``c(u)`` in pieces ``[a_i, b_i]`` with its first two
  derivatives and the log density ``log pi(u)`` of the parameter.
* The caps and tolerances shared by the windowed quadrature and its Laplace fallback (items 3
  and 5 of :mod:`._quadrature`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np

__all__ = ["CurveSpec", "gauss_legendre"]

#: safety factor on the sampled speed / acceleration bounds of each panel
_BOUND_SAFETY = 1.25
#: largest number of parts an interval is split into per refinement pass
_MAX_SPLIT = 16
#: cap on the refinement passes of the window (16^40 parts per panel is far past rounding)
_MAX_PASSES = 40
#: cap on the live intervals of the window per query (a normal query needs a few dozen)
_MAX_INTERVALS_PER_QUERY = 2000
#: cap on the sub-intervals of one Laplace window
_MAX_LAPLACE_PARTS = 4000
_EPS = float(np.finfo(np.float64).eps)
#: cap on the coarse panels of a curve (its arclength over ``panel_length``)
_MAX_PANELS = 20000
#: largest change of the log integrand's exponential rate times the interval length (at the
#: default width): a 10-point Gauss-Legendre rule integrates exp(-5 x) on [0, 1] to 4e-16
_SLOPE_STEP = 5.0


@lru_cache(maxsize=16)
def gauss_legendre(order: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights on ``[0, 1]`` (``numpy.polynomial.legendre.leggauss``)."""
    x, w = np.polynomial.legendre.leggauss(order)
    x, w = 0.5 * (x + 1.0), 0.5 * w
    x.setflags(write=False)
    w.setflags(write=False)
    return x, w


@dataclass(frozen=True)
class CurveSpec:
    """A parametrised curve with a parameter density, possibly in several pieces.

    Attributes
    ----------
    dim : int
        Dimension ``k`` of the space the curve lives in.
    pieces : tuple of (float, float)
        Parameter intervals ``[a_i, b_i]``; piece ``i`` is evaluated with ``piece == i``.
    point : callable
        ``point(u, piece) -> (m, k)`` curve points ``c(u)``.
    derivatives : callable
        ``derivatives(u, piece) -> (c'(u), c''(u))``, both ``(m, k)``.
    log_prior : callable
        ``log_prior(u, piece) -> (m,)``, log density of the parameter w.r.t. ``du`` (it integrates
        to one over all pieces together).
    """

    dim: int
    pieces: tuple
    point: Callable
    derivatives: Callable
    log_prior: Callable
