"""Known manifolds with exact smoothed scores (docs/conventions.md §3).

Use :func:`make` to build one by name and :func:`names` to list them all.
"""

from __future__ import annotations

from ._base import Manifold, Posterior
from ._registry import make, names, register

# modules register their classes on import
from . import spheres, linear, curves, surfaces  # noqa: E402,F401

__all__ = ["Manifold", "Posterior", "make", "names", "register"]
