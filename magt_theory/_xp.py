"""Tiny numpy/torch dispatch so exact generator maps run on both.

Generator maps ``h*`` are written once against this namespace: numpy arrays give numpy results,
torch tensors give differentiable torch results (used by ``torch.func`` Jacobians in
``magt_theory.models``).
"""

from __future__ import annotations

import numpy as np
import scipy.special as sc

try:  # torch is a hard dependency, but keep import errors local and readable
    import torch
except ImportError:  # pragma: no cover
    torch = None


def is_torch(x) -> bool:
    return torch is not None and isinstance(x, torch.Tensor)


def namespace(x):
    """Return ``torch`` for tensors, else ``numpy``."""
    return torch if is_torch(x) else np


def ndtr(x):
    """Standard normal CDF on numpy or torch input."""
    return torch.special.ndtr(x) if is_torch(x) else sc.ndtr(x)


def ndtri(x):
    """Standard normal quantile on numpy or torch input."""
    return torch.special.ndtri(x) if is_torch(x) else sc.ndtri(x)


def std_normal_logpdf(x):
    """Log density of N(0, I_d) at ``x`` of shape ``(..., d)``, summed over the last axis."""
    d = x.shape[-1]
    return -0.5 * (x * x).sum(-1) - 0.5 * d * float(np.log(2 * np.pi))
