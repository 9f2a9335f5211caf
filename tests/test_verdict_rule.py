"""Property tests of the decision rule of :func:`magt_theory.analysis.verdict`.

Over many synthetic fits (hypothesis): the verdict agrees with an independent set-based reading
of the rule (the CI against the allowed slopes), it is monotone (a narrower CI is never less
decisive; moving the CI towards the allowed side never makes a consistent row inconsistent),
and ``tight`` implies ``consistent``.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from magt_theory.analysis import verdict

finite = st.floats(min_value=-10, max_value=10, allow_nan=False, allow_infinity=False)
width = st.floats(min_value=0.0, max_value=5.0, allow_nan=False)
band = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
claims = st.sampled_from([("rate", "large"), ("bound", "large"), ("bound", "small")])
RANK = {"consistent": 0, "inconsistent": 0, "inconclusive": 1}


def _fit(lo, hi):
    return {"slope": 0.5 * (lo + hi), "ci_low": lo, "ci_high": hi}


def _allowed(p, b, claim, direction):
    if claim == "rate":
        return p - b, p + b
    return (float("-inf"), p + b) if direction == "large" else (p - b, float("inf"))


@settings(max_examples=400, deadline=None, derandomize=True)
@given(centre=finite, w=width, p=finite, b=band, cd=claims)
def test_rule_matches_set_reading(centre, w, p, b, cd):
    claim, direction = cd
    lo, hi = centre - w / 2, centre + w / 2
    v, tight, _ = verdict(_fit(lo, hi), p, claim, band=b, direction=direction)
    a_lo, a_hi = _allowed(p, b, claim, direction)
    if hi < a_lo or lo > a_hi:
        assert v == "inconsistent"
    elif a_lo <= lo and hi <= a_hi:
        assert v == "consistent"
    else:
        assert v == "inconclusive"
    assert not tight or v == "consistent"


@settings(max_examples=400, deadline=None, derandomize=True)
@given(centre=finite, w=width, shrink=st.floats(0.0, 1.0), off=st.floats(0.0, 1.0),
       p=finite, b=band, cd=claims)
# a width below the smallest double's double: w / 2 rounds to 0, so lo + (w - w2) left [lo, hi]
@example(centre=0.0, w=5e-324, shrink=0.0, off=1.0, p=0.0, b=0.0, cd=("rate", "large"))
def test_narrower_ci_is_never_less_decisive(centre, w, shrink, off, p, b, cd):
    """A sub-interval of the CI keeps every decisive verdict of the CI."""
    claim, direction = cd
    lo, hi = centre - w / 2, centre + w / 2
    w2 = w * shrink
    lo2 = min(lo + off * (w - w2), hi)  # inside [lo, hi] despite rounding
    hi2 = min(lo2 + w2, hi)
    big, _, _ = verdict(_fit(lo, hi), p, claim, band=b, direction=direction)
    small, _, _ = verdict(_fit(lo2, hi2), p, claim, band=b, direction=direction)
    if big != "inconclusive":
        assert small == big
    assert RANK[small] <= RANK[big]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(centre=finite, w=width, shift=st.floats(0.0, 5.0), p=finite, b=band,
       direction=st.sampled_from(["large", "small"]))
def test_bound_monotone_in_the_allowed_direction(centre, w, shift, p, b, direction):
    """Moving the CI to the allowed side of a bound never worsens the verdict."""
    lo, hi = centre - w / 2, centre + w / 2
    step = -shift if direction == "large" else shift
    order = {"inconsistent": 0, "inconclusive": 1, "consistent": 2}
    before = verdict(_fit(lo, hi), p, "bound", band=b, direction=direction)[0]
    after = verdict(_fit(lo + step, hi + step), p, "bound", band=b, direction=direction)[0]
    assert order[after] >= order[before]


@pytest.mark.parametrize("seed", range(3))
def test_seeded_grid_of_fits(seed):
    """A seeded grid: rates far from p are inconsistent at every CI width (no width gate)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for _ in range(500):
        p = rng.uniform(-3, 3)
        b = rng.uniform(0, 0.3)
        gap = rng.uniform(b + 1e-6, 3)
        w = rng.uniform(0, 20)
        sign = rng.choice([-1, 1])
        lo = p + gap if sign > 0 else p - gap - w
        hi = lo + w
        assert verdict(_fit(lo, hi), p, "rate", band=b)[0] == "inconsistent"
