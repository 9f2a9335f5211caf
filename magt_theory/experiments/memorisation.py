"""MAGT vs memorisation: one-sample W2 of MAGT and of the empirical measure of its n training
points, against the exact law, on flat tori ``T^k`` of intrinsic dimension ``k = 1, 2, 3``.

The empirical measure reaches ``W2 ~ n^{-1/d}`` (``d >= 3``; ``n^{-1/2}`` for ``d = 1``,
``sqrt(log n / n)`` for ``d = 2``: Fournier-Guillin 2015, Weed-Bach 2019); MAGT Corollary 2
predicts ``n^{-(eta+1)/(2 eta + d)}`` for the n-dependent part of MAGT's error, faster than
memorisation once ``d >= 3`` and the generator is smooth (``eta`` large). Both are measured
with :func:`magt_theory.metrics.wasserstein_to_law` (exact curve method for ``k = 1``,
semi-discrete OT for ``k >= 2``). The body is shared with the other training experiments: see
:mod:`._training` (``n = 0`` is the n = infinity control).
"""

from __future__ import annotations

from ._spec import Experiment
from ._training import Params, train_point

NAME = "memorisation"

SPEC = Experiment(
    NAME, Params,
    claims=(
        "memorisation_rows",
    ),
    figures={
        "memorisation": "fig_memorisation",
    },
)
#: every parameter with its default (``SPEC.defaults()``)
DEFAULTS = SPEC.defaults()

__all__ = ["DEFAULTS", "NAME", "run"]


def run(params: dict):
    """Train and evaluate MAGT at one sweep point of the memorisation experiment."""
    return train_point(SPEC, params)
