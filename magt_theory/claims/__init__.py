"""Which measurement tests which claim: the rows of ``verdicts.csv``.

Kinds of rows, all decided by :func:`magt_theory.analysis.verdict` or named as something else:

- **slopes** (the ``dict`` entries of each experiment's ``SPEC.claims``): a log-log slope fitted with a CI, compared with the slope
  derived symbolically from a bound of :mod:`magt_theory.bounds` (for a bound: its own slope
  over the fitted points, log factors included) by :func:`magt_theory.analysis.verdict_rows`;
- **contrasts and shapes** (score vs denoiser injection, the spectral gap at ``d``, an interior
  optimum in ``t``): point-by-point comparisons with their own rule, stated in each function;
- **exact** rows: identities that hold to round-off (e.g. by symmetry), backed by a unit test;
- **diagnostics**: values reported without a verdict, because no negative control was shown
  to make the row fail (the LSI ratio, the W1+W2 energy bounds, the equal-time ratio ...).

Every row with a verdict names, in the ``control`` column, the negative control (an
experiment's ``control`` parameter) that a test runs through the same experiment and this
package and shows turning the row ``inconsistent``. Each claim states one band with its reason.

Layout: ``_table`` assembles the table (:func:`verdicts`, the slope claims, the explicit
:data:`BUILDERS` that ``SPEC.claims`` names resolve against); the row builders live by family
in ``_rates`` (MAGT: the n-rates of Corollary 2, the LSI ratio, the interior optimum in t),
``_dynamics`` (CdC: tangent alignment, spectral gap, injection contrast) and ``_generators``
(CharGen Euler steps, W1+W2 checks, equal time); ``_base`` holds the row constructor they share.
"""

from __future__ import annotations

from .. import analysis  # noqa: F401 (claims.analysis, as before the split)
from ._base import _row  # noqa: F401 (private names the tests use)
from ._dynamics import injection_contrast_rows, intrinsic_dim_rows, tangent_alignment_rows
from ._generators import (
    EQUAL_TIME_RATIO,
    chargen_euler_rows,
    equal_time_rows,
    w1w2_optimality_rows,
    w1w2_rows,
)
from ._rates import (
    FAILED_FACTOR,
    RATE_BAND,
    RATE_ETA,
    ambient_slope_rows,
    interior_optimum_rows,
    lsi_inequality_rows,
    memorisation_rows,
    rate_rows,
    sample_size_rows,
)
from ._table import BUILDERS, _builder, verdicts  # noqa: F401

__all__ = [
    "BUILDERS", "EQUAL_TIME_RATIO", "FAILED_FACTOR", "RATE_BAND", "RATE_ETA", "ambient_slope_rows",
    "chargen_euler_rows", "equal_time_rows", "injection_contrast_rows", "interior_optimum_rows",
    "intrinsic_dim_rows", "lsi_inequality_rows", "memorisation_rows", "rate_rows",
    "sample_size_rows", "tangent_alignment_rows", "verdicts", "w1w2_optimality_rows", "w1w2_rows",
]
