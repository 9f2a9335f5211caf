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

The implementation is split into private modules, every name re-exported here:

* ``_fit`` -- :class:`FitResult`, :func:`fit_slope` (bootstrap CI), :func:`t_interval`,
  :class:`RateFit`, :data:`MIN_CLUSTERS`;
* ``_verdict`` -- the decision rule :func:`verdict`, :data:`VERDICTS`,
  :data:`ERROR_DIRECTIONS`;
* ``_spec`` -- :class:`VerdictSpec` and the predicted slope it derives from a bound;
* ``_table`` -- :func:`verdict_rows` and :data:`VERDICT_COLUMNS`.
"""

from __future__ import annotations

from ._fit import MIN_CLUSTERS, FitResult, RateFit, fit_slope, t_interval
from ._spec import VerdictSpec
from ._table import VERDICT_COLUMNS, verdict_rows
from ._verdict import ERROR_DIRECTIONS, VERDICTS, verdict

__all__ = [
    "ERROR_DIRECTIONS",
    "MIN_CLUSTERS",
    "VERDICTS",
    "VERDICT_COLUMNS",
    "FitResult",
    "RateFit",
    "VerdictSpec",
    "fit_slope",
    "t_interval",
    "verdict",
    "verdict_rows",
]
