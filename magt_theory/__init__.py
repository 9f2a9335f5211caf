"""magt_theory: numerical checks of the theory of manifold-aligned generative transport."""

from __future__ import annotations

__version__ = "0.1.0"

from . import manifolds, smoothing, anchors, metrics  # noqa: E402

__all__ = ["manifolds", "smoothing", "anchors", "metrics", "__version__"]
