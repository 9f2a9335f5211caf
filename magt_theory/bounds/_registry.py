"""The registry of every bound, by name, assembled from the paper modules.

Registry order (the iteration order of :data:`BOUNDS`): MAGT, the literature rates, CharGen,
CdC, each in its module's order. :func:`names` returns the names sorted.
"""

from __future__ import annotations

from ._cdc import CDC_BOUNDS
from ._chargen import CHARGEN_BOUNDS
from ._core import Bound
from ._magt import MAGT_BOUNDS
from ._rates import RATE_BOUNDS
from ._symbols import _lookup


def _build(*groups: tuple[Bound, ...]) -> dict[str, Bound]:
    """One dict from the groups in order; a name registered twice is a ValueError."""
    out: dict[str, Bound] = {}
    for group in groups:
        for bnd in group:
            if bnd.name in out:
                raise ValueError(f"bound {bnd.name!r} is registered twice")
            out[bnd.name] = bnd
    return out


BOUNDS: dict[str, Bound] = _build(MAGT_BOUNDS, RATE_BOUNDS, CHARGEN_BOUNDS, CDC_BOUNDS)
"""Registry of every bound, by name."""


def names() -> list[str]:
    """Sorted names of the registered bounds."""
    return sorted(BOUNDS)


def get(name: str) -> Bound:
    """Return the registered bound ``name``.

    Raises
    ------
    ValueError
        If ``name`` is not registered (the message lists the accepted names).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str; got {type(name).__name__}")
    return _lookup(BOUNDS, name, "bound")
