"""MAGT W2 vs n across ambient dimensions D at fixed d (the fitted n-slope should not depend on D; intercepts may).

The body is shared with the other training experiments: see :mod:`._training`.
"""

from __future__ import annotations

from ._training import DEFAULTS, train_point

NAME = "ambient_dim"

__all__ = ["NAME", "DEFAULTS", "run"]


def run(params: dict):
    """Train and evaluate MAGT at one sweep point of the ambient_dim experiment."""
    return train_point(NAME, params)
