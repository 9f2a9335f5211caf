"""MAGT W2 vs the training sample size n (MAGT Corollary 2: exponent (eta+1)/(2 eta + d*), compared with the empirical-measure rate).

The body is shared with the other training experiments: see :mod:`._training`.
"""

from __future__ import annotations

from ._spec import Experiment
from ._training import Params, train_point

NAME = "sample_size"

SPEC = Experiment(
    NAME, Params,
    claims=(
        "sample_size_rows",
    ),
    figures={
        "sample_size": "fig_sample_size",
    },
)
#: every parameter with its default (``SPEC.defaults()``)
DEFAULTS = SPEC.defaults()

__all__ = ["DEFAULTS", "NAME", "run"]


def run(params: dict):
    """Train and evaluate MAGT at one sweep point of the sample_size experiment."""
    return train_point(SPEC, params)
