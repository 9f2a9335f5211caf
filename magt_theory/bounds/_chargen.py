"""The rate of the characteristic generator [CharGen] (Ding et al. 2024), in its two readings.

.. math:: W_2^2 \\lesssim n^{-2/(d+3)} \\log^2 n, \\quad\\text{so}\\quad
          W_2 \\lesssim n^{-1/(d+3)} \\log n,

with ``d`` the intrinsic dimension ``d*`` (v5 abstract) or the ambient dimension ``D`` (v1-v4).
Both are upper bounds, slower than the empirical measure itself (docs/conventions.md §6, §9).
"""

from __future__ import annotations

import sympy as sp

from ._core import Bound
from ._symbols import D, d, n

CHARGEN_BOUNDS: tuple[Bound, ...] = (
    Bound(
        name="chargen_rate",
        expr=n ** (-1 / (d + 3)) * sp.log(n),
        source="CharGen (rate; v5 intrinsic reading)",
        claim="bound",
        quantity="w2",
        description="W2^2 <~ n^{-2/(d+3)} log^2 n, so W2 <~ n^{-1/(d+3)} log n; d = intrinsic d* "
        "(v5 abstract reading). Slower than the empirical measure itself.",
    ),
    Bound(
        name="chargen_rate_ambient",
        expr=n ** (-1 / (D + 3)) * sp.log(n),
        source="CharGen (rate; v1-v4 ambient reading)",
        claim="bound",
        quantity="w2",
        description="W2 <~ n^{-1/(D+3)} log n with the ambient dimension D (v1-v4 reading).",
    ),
)
"""The CharGen rates, in registry order."""
