"""Registry of manifold classes by name."""

from __future__ import annotations

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
    return _REGISTRY[name](ambient_dim=ambient_dim, seed=seed, **params)
