"""Registry and shared plumbing of the experiments."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from contextlib import contextmanager

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

_MODULES = ("anchor_error", "pullback", "sample_size", "smoothing_level", "ambient_dim",
            "alignment", "robustness", "magt_alignment",
            "benchmark", "chargen_steps", "chargen_n", "w1w2_checks", "equal_time",
            "memorisation", "sensitivity")


def names() -> list[str]:
    """Names of every experiment."""
    return list(_MODULES)


def get(name: str):
    """The experiment module ``name`` (with ``NAME``, ``DEFAULTS`` and ``run``)."""
    if name not in _MODULES:
        raise ValueError(f"experiment must be one of {list(_MODULES)}; got {name!r}")
    return importlib.import_module(f"{__package__}.{name}")


def run(name: str, params: dict) -> pd.DataFrame:
    """Run experiment ``name`` at one sweep point ``params``."""
    return get(name).run(params)


def resolve(defaults: dict, params: dict, experiment: str) -> dict:
    """Merge ``params`` over ``defaults``; unknown keys are an error naming the key."""
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(
            f"{experiment}: unknown parameter(s) {unknown}; accepted: {sorted(defaults)}"
        )
    out = dict(defaults)
    out.update(params)
    return out


def rows(base: dict, measurements: list[dict]) -> pd.DataFrame:
    """Tidy frame: the ``base`` columns repeated, then each measurement's own columns.

    Each measurement is a dict with at least ``quantity`` and ``value`` (plus any swept
    columns that vary within the job, e.g. ``K``). Non-finite values are an error.
    """
    recs = []
    for m in measurements:
        v = float(m["value"])
        if not np.isfinite(v):
            raise FloatingPointError(f"{base.get('experiment')}: quantity {m['quantity']} is {v}")
        rec = dict(base)
        rec.update(m)
        rec["value"] = v
        recs.append(rec)
    df = pd.DataFrame.from_records(recs)
    lead = [c for c in ("experiment", "manifold", "d", "D", "seed") if c in df.columns]
    tail = [c for c in ("quantity", "value", "ci_low", "ci_high") if c in df.columns]
    mid = [c for c in df.columns if c not in lead and c not in tail]
    return df[lead + mid + tail]


@contextmanager
def threads(n: int):
    """Limit torch threads to ``n`` inside the block (a job's declared threads).

    BLAS/OpenMP pools read ``OMP_NUM_THREADS``/``MKL_NUM_THREADS``/``OPENBLAS_NUM_THREADS``
    once, when numpy or torch first load them: the workflow's ``point`` rule sets those
    variables in the shell line, before the interpreter starts. Here torch's intra-op count is
    set when torch is already imported; otherwise only the variables are set (torch reads
    ``OMP_NUM_THREADS`` when it is imported later, inside the block), so a numpy-only job never
    imports torch.
    """
    n = max(1, int(n))
    set_thread_env(n)
    torch = sys.modules.get("torch")
    old = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch_now = sys.modules.get("torch")
        if torch_now is not None and old is not None:
            torch_now.set_num_threads(old)


def set_thread_env(n: int) -> None:
    """Set the BLAS/OpenMP thread variables (they bind only for pools not yet started)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(max(1, int(n)))


def defaults(name: str) -> dict:
    """``DEFAULTS`` of experiment ``name``, read from its source without importing it.

    Config validation (and so every ``snakemake -n``) needs only the parameter names and
    defaults; importing the experiment modules would import torch and the models. The
    ``DEFAULTS = {...}`` literal of the module (or of the sibling module it imports
    ``DEFAULTS`` from) is evaluated with :func:`ast.literal_eval`; when that is not possible
    (a non-literal value) the module is imported instead. A test checks that this equals
    ``get(name).DEFAULTS`` for every experiment.
    """
    if name not in _MODULES:
        raise ValueError(f"experiment must be one of {list(_MODULES)}; got {name!r}")
    found = _static_defaults(name)
    return dict(found) if found is not None else dict(get(name).DEFAULTS)


def _static_defaults(module: str, depth: int = 0):
    """The ``DEFAULTS`` literal of ``module`` (``None`` if it is not a static literal).

    Accepts literals, names bound earlier in the module to literals, and ``list(...)`` /
    ``tuple(...)`` of those (e.g. ``"families": list(FAMILIES)``).
    """
    import ast
    from pathlib import Path

    path = Path(__file__).with_name(f"{module}.py")
    try:
        tree = ast.parse(path.read_text())
    except (OSError, SyntaxError):
        return None
    consts: dict = {}

    def value(node):
        if isinstance(node, ast.Name) and node.id in consts:
            return consts[node.id]
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("list", "tuple") and len(node.args) == 1
                and not node.keywords):
            return {"list": list, "tuple": tuple}[node.func.id](value(node.args[0]))
        if isinstance(node, ast.Dict) and None not in node.keys:
            return {value(k): value(v) for k, v in zip(node.keys, node.values)}
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [value(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        return ast.literal_eval(node)

    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
            node.targets[0], ast.Name
        ):
            try:
                consts[node.targets[0].id] = value(node.value)
            except (ValueError, TypeError, KeyError):
                consts.pop(node.targets[0].id, None)
                if node.targets[0].id == "DEFAULTS":
                    return None
            if node.targets[0].id == "DEFAULTS":
                return consts["DEFAULTS"]
        if (
            isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
            and any(a.name == "DEFAULTS" and a.asname is None for a in node.names)
            and depth < 2
        ):
            return _static_defaults(node.module, depth + 1)
    return None
