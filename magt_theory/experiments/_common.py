"""Registry and shared plumbing of the experiments."""

from __future__ import annotations

import importlib
import logging
import os
from contextlib import contextmanager

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

_MODULES = ("anchor_error", "pullback", "sample_size", "smoothing_level", "ambient_dim",
            "alignment", "robustness", "magt_alignment",
            "benchmark", "chargen_steps", "chargen_n", "w1w2_checks", "equal_time")


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
    """Limit torch and BLAS threads to ``n`` inside the block (a job's declared threads)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def set_thread_env(n: int) -> None:
    """Set BLAS/OpenMP thread variables before numpy/torch spin up their pools."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(max(1, int(n)))
