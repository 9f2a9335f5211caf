"""MAGT W2 vs n across ambient dimensions D at fixed d (the fitted n-slope should not depend on D; intercepts may).

The body is shared with the other training experiments: see :mod:`._training`.
"""

from __future__ import annotations

from ._spec import Experiment
from ._training import Params, train_point

NAME = "ambient_dim"

SPEC = Experiment(
    NAME, Params,
    claims=(
        "ambient_slope_rows",
    ),
    figures={
        "ambient_dim": "fig_ambient_dim",
    },
)
#: every parameter with its default (``SPEC.defaults()``)
DEFAULTS = SPEC.defaults()

__all__ = ["DEFAULTS", "NAME", "run"]


def run(params: dict):
    """Train and evaluate MAGT at one sweep point of the ambient_dim experiment."""
    return train_point(SPEC, params)
