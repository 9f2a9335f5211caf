"""Experiments: each a pure function ``run(params) -> pandas.DataFrame`` of tidy rows.

Every experiment module defines ``NAME``, ``DEFAULTS`` (the full parameter set with defaults)
and ``run(params)``. Rows follow the results schema of docs/conventions.md §11: ``experiment, manifold, d, D,
seed``, the swept parameters, then ``quantity`` and ``value``.
"""

from __future__ import annotations

from ._common import run, names, get

__all__ = ["run", "names", "get"]
