"""Experiments: each a pure function ``run(params) -> pandas.DataFrame`` of tidy rows.

Every experiment module defines ``NAME``, ``SPEC`` (its declaration: a typed ``Params``
dataclass, the claims it feeds and the figures it draws, see :mod:`._spec`), ``DEFAULTS``
(``SPEC.defaults()``) and ``run(params)``. Rows follow the results schema of docs/conventions.md §11: ``experiment, manifold, d, D,
seed``, the swept parameters, then ``quantity`` and ``value``.
"""

from __future__ import annotations

from ._common import config_schema, defaults, figures, get, names, run, spec, specs

__all__ = ["config_schema", "defaults", "figures", "get", "names", "run", "spec", "specs"]
