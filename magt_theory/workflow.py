"""Glue between the Snakemake workflow and the library: configs, sweep points, job I/O.

A workflow config (``workflows/config/*.yaml``) names itself, sets the threads per job and, for
each experiment, a ``grid`` (the Cartesian product of its lists is the set of jobs; seeds are part
of the grid) and ``fixed`` parameters shared by every job. :func:`load_config` validates a
config against the JSON schema (a bad key or value raises, naming the key) and against the
experiments' own parameter sets, before any job exists.
"""

from __future__ import annotations

import itertools
import json
import logging
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
        for params in points(config, name).values():  # unknown keys name themselves here
            experiments._common.resolve(experiments.get(name).DEFAULTS, params, name)
    return config


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
