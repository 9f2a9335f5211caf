"""MAGT W2 and off-manifold rate across the VP level t at fixed n, K (MAGT reports an interior optimum).

The body is shared with the other training experiments: see :mod:`._training`.
"""

from __future__ import annotations

from ._training import DEFAULTS, train_point

NAME = "smoothing_level"

__all__ = ["NAME", "DEFAULTS", "run"]


def run(params: dict):
    """Train and evaluate MAGT at one sweep point of the smoothing_level experiment."""
    return train_point(NAME, params)
