"""MAGT W2 vs the training sample size n (MAGT Corollary 2: exponent (eta+1)/(2 eta + d*), compared with the empirical-measure rate).

The body is shared with the other training experiments: see :mod:`._training`.
"""

from __future__ import annotations

from ._training import DEFAULTS, train_point

NAME = "sample_size"

__all__ = ["NAME", "DEFAULTS", "run"]


def run(params: dict):
    """Train and evaluate MAGT at one sweep point of the sample_size experiment."""
    return train_point(NAME, params)
