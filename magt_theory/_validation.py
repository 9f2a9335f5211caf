"""Argument checks shared by every public function.

Each check raises ``ValueError``/``TypeError`` whose message names the argument and the accepted
range, before any work starts (docs/conventions.md §11, "Errors").
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "as_points",
    "check_finite",
    "check_int",
    "check_positive",
    "check_alpha",
    "check_in_open_interval",
    "as_rng",
]


def as_points(x, name: str, dim: int | None = None) -> np.ndarray:
    """Return ``x`` as a finite float64 array of shape ``(n, dim)``.

    A single point of shape ``(dim,)`` is promoted to ``(1, dim)``.
    """
    from . import _xp  # torch-free: a tensor can only exist if torch is already imported

    x = _xp.to_numpy(x, name)  # a tensor with requires_grad: TypeError naming the argument
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real array of shape (n, {dim or 'D'}); got {type(x).__name__}") from exc
    if arr.ndim == 1 and dim is not None and arr.shape[0] == dim:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n, {dim or 'D'}); got shape {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{name} must have shape (n, {dim}); got shape {arr.shape}")
    check_finite(arr, name)
    return arr


def check_finite(arr, name: str):
    """Raise ``ValueError`` if ``arr`` holds NaN or inf."""
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf; all entries must be finite")
    return arr


def check_int(value, name: str, low: int = 1, high: int | None = None) -> int:
    """Return ``value`` as an int in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and float(value).is_integer():
            value = int(value)
        else:
            raise TypeError(f"{name} must be an integer >= {low}; got {value!r}")
    value = int(value)
    if value < low or (high is not None and value > high):
        rng = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an integer {rng}; got {value}")
    return value


def check_positive(value, name: str) -> float:
    """Return ``value`` as a finite float > 0."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number > 0; got {value!r}") from exc
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
    return v


def check_alpha(value, name: str = "alpha") -> float:
    """Return the signal scale ``alpha`` as a float in (0, 1]."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number in (0, 1]; got {value!r}") from exc
    if not np.isfinite(v) or not (0.0 < v <= 1.0):
        raise ValueError(f"{name} must be in (0, 1]; got {value!r}")
    return v


def check_in_open_interval(value, name: str, low: float, high: float) -> float:
    """Return ``value`` as a float in the open interval ``(low, high)``."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number in ({low}, {high}); got {value!r}") from exc
    if not np.isfinite(v) or not (low < v < high):
        raise ValueError(f"{name} must be in ({low}, {high}); got {value!r}")
    return v


def as_rng(rng) -> np.random.Generator:
    """Return a numpy ``Generator`` from a Generator, an int seed or None."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, numbers.Integral) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy Generator or an int seed; got {type(rng).__name__}")
