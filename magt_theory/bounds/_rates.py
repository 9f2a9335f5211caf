"""Reference rates from the literature: the empirical measure and the Gaussian smoothing bias.

Empirical-measure rate on a compact ``d``-manifold (Fournier & Guillin 2015; Weed & Bach 2019;
Divol 2021; density bounded above and below), and the smoothing bias of the Gaussian coupling
(docs/conventions.md §6):

.. math:: \\mathbb E W_p(\\mu_n, \\mu) \\asymp n^{-1/2}\\ (d=1),\\ \\sqrt{\\log n / n}\\ (d=2),\\
          n^{-1/d}\\ (d \\ge 3); \\qquad W_2(\\mu, \\mu * N(0, \\sigma^2 I_D)) \\le \\sigma\\sqrt D.
"""

from __future__ import annotations

import sympy as sp

from ._core import Bound
from ._symbols import D, d, n, sigma


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


RATE_BOUNDS: tuple[Bound, ...] = (
    Bound(
        name="empirical_w",
        expr=empirical_rate(),
        source="Fournier-Guillin 2015; Weed-Bach 2019",
        claim="rate",
        quantity="w2",
        description="E W_p(mu_n, mu): n^-1/2 (d=1), sqrt(log n / n) (d=2), n^-1/d (d>=3), "
        "d intrinsic.",
    ),
    Bound(
        name="smoothing_bias",
        expr=sigma * sp.sqrt(D),
        source="docs/conventions.md §6 (Gaussian coupling)",
        claim="bound",
        quantity="w2",
        description="W2(mu, mu * N(0, sigma^2 I_D)) <= sigma sqrt(D).",
    ),
)
"""The literature rates, in registry order."""
