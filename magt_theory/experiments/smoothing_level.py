"""MAGT W2 and off-manifold rate across the VP level t at fixed n, K (MAGT reports an interior optimum).

The body is shared with the other training experiments: see :mod:`._training`.
"""

from __future__ import annotations

from ._spec import Experiment
from ._training import Params, train_point

NAME = "smoothing_level"

SPEC = Experiment(
    NAME, Params,
    claims=(
        "interior_optimum_rows",
    ),
    figures={
        "smoothing_level": "fig_smoothing_level",
    },
)
#: every parameter with its default (``SPEC.defaults()``)
DEFAULTS = SPEC.defaults()

__all__ = ["DEFAULTS", "NAME", "run"]


def run(params: dict):
    """Train and evaluate MAGT at one sweep point of the smoothing_level experiment."""
    return train_point(SPEC, params)
