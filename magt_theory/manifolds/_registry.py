"""Registry of manifold classes by name."""

from __future__ import annotations

import inspect

_REGISTRY: dict[str, type] = {}


def register(cls):
    """Class decorator adding a :class:`Manifold` subclass under ``cls.name``."""
    if not cls.name or cls.name in _REGISTRY:
        raise ValueError(f"manifold name {cls.name!r} is empty or registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def names() -> list[str]:
    """Every registered manifold name, sorted."""
    return sorted(_REGISTRY)


def make(name: str, ambient_dim: int | None = None, seed: int = 0, **params):
    """Build the manifold ``name`` embedded in ``R^ambient_dim``.

    Parameters
    ----------
    name : str
        One of :func:`names`.
    ambient_dim : int or None
        ``D >= native dimension``; ``None`` keeps the native embedding.
    seed : int
        Seed of the random isometric embedding.
    **params
        Manifold-specific parameters (radius, number of components, ...).
    """
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"name must be one of {names()}; got {name!r}")
    cls = _REGISTRY[name]
    sig = inspect.signature(cls.__init__)
    accepted = [p for p in sig.parameters if p not in ("self", "ambient_dim", "seed")]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise TypeError(f"{name}: unknown parameter(s) {unknown}; accepted: {accepted}")
    for key, value in params.items():  # no parameter of a manifold is a string
        if isinstance(value, (str, bytes)):
            raise TypeError(f"{key} must be a number or a sequence of numbers; got {value!r}")
    try:
        return cls(ambient_dim=ambient_dim, seed=seed, **params)
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        if any(k in msg for k in ("ambient_dim", "seed", *params)):
            raise
        # a conversion error deep inside: name the parameters it came from
        raise type(exc)(
            f"{name}: invalid parameter(s) {sorted(params) or ['ambient_dim', 'seed']}: {msg}"
        ) from exc
