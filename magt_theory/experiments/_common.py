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

#: every experiment, in the order of the config schema and of the rows of ``verdicts.csv``
#: (each module declares its parameters, claims and figures in its ``SPEC``)
_MODULES = ("anchor_error", "pullback", "sample_size", "ambient_dim", "memorisation",
            "smoothing_level", "alignment", "robustness", "magt_alignment", "chargen_steps",
            "chargen_n", "w1w2_checks", "equal_time", "benchmark", "sensitivity")


def names() -> list[str]:
    """Names of every experiment."""
    return list(_MODULES)


def get(name: str):
    """The experiment module ``name`` (with ``NAME``, ``SPEC``, ``DEFAULTS`` and ``run``).

    Importing it is cheap and torch-free: the modules import torch and the models inside the
    functions that need them.
    """
    if name not in _MODULES:
        raise ValueError(f"experiment must be one of {list(_MODULES)}; got {name!r}")
    return importlib.import_module(f"{__package__}.{name}")


def spec(name: str):
    """The declaration (:class:`._spec.Experiment`) of experiment ``name``."""
    return get(name).SPEC


def specs(experiments=None) -> list:
    """Declarations of every experiment (or of those named in ``experiments``), in order."""
    return [spec(n) for n in _MODULES if experiments is None or n in experiments]


def defaults(name: str) -> dict:
    """Every parameter of experiment ``name`` with its default."""
    return spec(name).defaults()


def figures(experiments=None) -> dict[str, tuple[str, str]]:
    """``figure name -> (experiment, plotting function name)`` of the declared figures."""
    return {fig: (s.name, fn) for s in specs(experiments) for fig, fn in s.figures.items()}


def config_schema() -> dict:
    """The workflow config's JSON schema, generated from every experiment's ``Params``."""
    from ._spec import config_schema as build

    return build(specs())


def schema_text() -> str:
    """:func:`config_schema` as the text committed in ``workflows/config/schema.json``."""
    import json

    return json.dumps(config_schema(), indent=1) + "\n"


def run(name: str, params: dict) -> pd.DataFrame:
    """Run experiment ``name`` at one sweep point ``params``."""
    return get(name).run(params)


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
