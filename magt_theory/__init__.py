"""magt_theory: numerical checks of the theory of manifold-aligned generative transport.

Submodules: ``manifolds`` (known manifolds, exact smoothed scores), ``smoothing`` (VP schedule),
``anchors`` (SNIS), ``metrics`` (Wasserstein and friends), ``bounds`` (sympy bounds),
``analysis`` (slope fits and verdicts), ``models`` (torch generators and samplers),
``dynamics`` (Lyapunov/tangent alignment), ``experiments``, ``claims``, ``plotting``,
``workflow`` and ``cli``. The torch-heavy ones are imported on first attribute access.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

from . import manifolds, smoothing, anchors, metrics  # noqa: E402

_LAZY = ("bounds", "analysis", "models", "dynamics", "experiments", "claims", "plotting",
         "workflow", "cli")

__all__ = ["manifolds", "smoothing", "anchors", "metrics", *_LAZY, "__version__"]


def __getattr__(name):
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
