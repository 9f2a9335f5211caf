"""Glue between the Snakemake workflow and the library: configs, sweep points, job I/O.

A workflow config (``workflows/config/*.yaml``) names itself, sets the threads per job and, for
each experiment, a ``grid`` (the Cartesian product of its lists is the set of jobs; seeds are part
of the grid) and ``fixed`` parameters shared by every job. :func:`load_config` validates a
config against the JSON schema (a bad key or value raises, naming the key) and against the
experiments' own parameter sets, before any job exists.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import math
import os
from pathlib import Path

import pandas as pd

from . import experiments
from ._io import atomic_write_with

log = logging.getLogger(__name__)

__all__ = [
    "ConfigError",
    "load_config",
    "points",
    "point_id",
    "aggregate",
    "atomic_write",
]


class ConfigError(ValueError):
    """A workflow config does not satisfy the schema."""


def _format_path(path) -> str:
    return ".".join(str(p) for p in path) or "<root>"


def load_config(config: dict | str | os.PathLike, schema: str | os.PathLike) -> dict:
    """Validate a workflow config and return it as a plain dict.

    Parameters
    ----------
    config : dict or path
        The config (as Snakemake loaded it) or a YAML file.
    schema : path
        The JSON schema (``workflows/config/schema.json``).

    Raises
    ------
    ConfigError
        Naming the offending key (``experiments.anchor_error.grid.t``) and the rule it breaks.
    """
    import jsonschema
    import yaml

    if not isinstance(config, dict):
        with open(config) as fh:
            config = yaml.safe_load(fh)
    with open(schema) as fh:
        schema_doc = json.load(fh)
    validator = jsonschema.Draft202012Validator(schema_doc)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        msgs = [f"config key '{_format_path(e.absolute_path)}': {e.message}" for e in errors[:10]]
        raise ConfigError("invalid workflow config:\n  " + "\n  ".join(msgs))
    for name, spec in config.get("experiments", {}).items():
        overlap = set(spec.get("grid", {})) & set(spec.get("fixed", {}))
        if overlap:
            raise ConfigError(
                f"config key 'experiments.{name}': {sorted(overlap)} both in grid and fixed"
            )
        for section in ("grid", "fixed"):
            for key, value in spec.get(section, {}).items():
                _check_finite(value, f"experiments.{name}.{section}.{key}")
        for pid, params in points(config, name).items():
            # the declaration is torch-free; resolve() names unknown keys and bad values
            try:
                p = experiments.spec(name).resolve(params)
            except ValueError as err:
                raise ConfigError(f"config key 'experiments.{name}' (point {pid}): {err}") from err
            _check_point(name, spec, pid, p)
    return config


def _check_finite(value, path: str) -> None:
    """Every number in ``value`` (nested lists included) must be finite (YAML ``.nan``/``.inf``)."""
    if isinstance(value, bool):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"config key '{path}': {value!r} is not a finite number")
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_finite(v, f"{path}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_finite(v, f"{path}.{k}")


@functools.lru_cache(maxsize=None)
def _native_dim(manifold: str) -> int:
    """Native dimension of a registered manifold with default parameters (``D`` must reach it)."""
    from . import manifolds

    cls = manifolds._registry._REGISTRY[manifold]
    n = getattr(cls, "native_dim", 0)
    return int(n) if n else int(manifolds.make(manifold).native_dim)


def _check_point(name: str, spec: dict, pid: str, p: dict) -> None:
    """What one sweep point's experiment and manifold accept, before any job exists.

    Checked: the ambient dimension ``D`` against the manifold's native dimension, the VP level
    ``t`` (and every entry of a list of levels) in ``(0, 1)``, and ``sigma_min`` below
    ``sqrt(t_max)`` where both are parameters. The message names the config key
    (``experiments.<name>.grid.<key>`` or ``.fixed.<key>``) and the sweep point.
    """
    from . import manifolds

    def where(key):
        sec = next((s for s in ("grid", "fixed") if key in spec.get(s, {})), None)
        path = f"experiments.{name}.{sec}.{key}" if sec else f"experiments.{name} (default {key})"
        return f"config key '{path}' (point {pid})"

    m = p.get("manifold")
    if isinstance(m, str):
        if m not in manifolds.names():
            raise ConfigError(
                f"{where('manifold')}: manifold must be one of {manifolds.names()}; got {m!r}"
            )
        D = p.get("D")
        if D is not None:
            n = _native_dim(m)
            if isinstance(D, bool) or not isinstance(D, int) or D < n:
                raise ConfigError(
                    f"{where('D')}: D={D!r} is below the native dimension {n} of manifold "
                    f"{m!r}; use null (native) or an integer >= {n}"
                )
    for key in ("t", "t_max"):
        vals = p.get(key)
        for v in vals if isinstance(vals, (list, tuple)) else [vals]:
            if v is None or isinstance(v, str):
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 < v < 1.0:
                raise ConfigError(f"{where(key)}: {key} must lie in (0, 1); got {v!r}")
    sm, tm = p.get("sigma_min"), p.get("t_max")
    if isinstance(sm, (int, float)) and isinstance(tm, (int, float)) and not sm < math.sqrt(tm):
        raise ConfigError(
            f"{where('sigma_min')}: sigma_min={sm!r} must be below sqrt(t_max) = "
            f"{math.sqrt(tm):.6g} (t_max={tm!r})"
        )


def _fmt(value) -> str:
    if value is None:
        return "native"
    if isinstance(value, float):
        return format(value, "g")
    return str(value)


def point_id(grid_values: dict) -> str:
    """File-name-safe id of one sweep point, e.g. ``manifold-circle_D-native_t-0.01_seed-0``."""
    return "_".join(f"{k}-{_fmt(v)}" for k, v in grid_values.items())


def points(config: dict, experiment: str) -> dict[str, dict]:
    """All sweep points of ``experiment`` as ``{point_id: params}`` (grid x fixed)."""
    spec = config.get("experiments", {}).get(experiment)
    if spec is None:
        return {}
    grid = spec.get("grid", {})
    keys = list(grid)
    out = {}
    for combo in itertools.product(*(grid[k] for k in keys)):
        gv = dict(zip(keys, combo))
        params = dict(spec.get("fixed", {}))
        params.update(gv)
        out[point_id(gv)] = params
    return out


def atomic_write(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write ``df`` to ``path`` (.parquet or .csv) through a temp file and a rename."""
    path = Path(path)
    if path.suffix == ".parquet":
        atomic_write_with(path, lambda tmp: df.to_parquet(tmp, index=False))
    elif path.suffix == ".csv":
        atomic_write_with(path, lambda tmp: df.to_csv(tmp, index=False))
    else:
        raise ValueError(f"path must end in .parquet or .csv; got {path.name!r}")


def aggregate(inputs, out: str | os.PathLike) -> pd.DataFrame:
    """Concatenate per-point results into one tidy file (atomic)."""
    frames = [pd.read_parquet(p) for p in inputs]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    atomic_write(df, out)
    return df
