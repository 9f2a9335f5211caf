"""The ``verdicts.csv`` table: slope claims and row builders, as the experiments declare them."""

from __future__ import annotations

import inspect

import pandas as pd

from .. import analysis, experiments
from ._dynamics import injection_contrast_rows, intrinsic_dim_rows, tangent_alignment_rows
from ._generators import chargen_euler_rows, equal_time_rows, w1w2_optimality_rows, w1w2_rows
from ._rates import (
    ambient_slope_rows,
    interior_optimum_rows,
    lsi_inequality_rows,
    memorisation_rows,
    sample_size_rows,
)

#: the row builders an experiment's ``SPEC.claims`` may name: ``name -> builder(df, [n_boot,
#: seed]) -> list[dict]``
BUILDERS = {f.__name__: f for f in (
    lsi_inequality_rows, interior_optimum_rows, sample_size_rows, ambient_slope_rows,
    memorisation_rows, tangent_alignment_rows, intrinsic_dim_rows, injection_contrast_rows,
    chargen_euler_rows, w1w2_rows, w1w2_optimality_rows, equal_time_rows)}
#: builders of :mod:`magt_theory.benchmark_claims`, imported when first named
_BENCHMARK_BUILDERS = ("benchmark_rows", "sensitivity_rows")


def _slope_rows(frames: dict, n_boot: int, seed: int) -> pd.DataFrame:
    """The slope claims declared by the experiments (``SPEC.claims`` dicts) on their frames."""
    parts = []
    for spec in experiments.specs(frames):
        claims = spec.slope_claims()
        if not claims:
            continue
        specs = [analysis.VerdictSpec(experiment=spec.name, **{
            **c, "average_over": ("seed",) + tuple(c.get("average_over", ()))}) for c in claims]
        parts.append(analysis.verdict_rows(frames[spec.name], specs, n_boot=n_boot, seed=seed,
                                           on_missing="warn"))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _builder(name: str):
    """The row builder ``name`` declared in an experiment's ``SPEC.claims``."""
    if name in _BENCHMARK_BUILDERS:
        from .. import benchmark_claims

        return getattr(benchmark_claims, name)
    fn = BUILDERS.get(name)
    if fn is None:
        raise ValueError(f"claims: no row builder {name!r} (declared in an experiment's SPEC)")
    return fn


def verdicts(frames: dict[str, pd.DataFrame], n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The ``verdicts.csv`` table from the aggregated results of each experiment.

    The rows come from the experiments' declarations, in registry order
    (:func:`magt_theory.experiments.specs`): first every slope claim, then the row builders.

    Parameters
    ----------
    frames : dict
        ``experiment name -> tidy DataFrame`` (any subset of the experiments).
    n_boot : int
        Bootstrap resamples for each slope CI.
    """
    rows = []
    for spec in experiments.specs(frames):
        for name in spec.row_builders():
            builder = _builder(name)
            kw = {k: v for k, v in (("n_boot", n_boot), ("seed", seed))
                  if k in inspect.signature(builder).parameters}
            rows += builder(frames[spec.name], **kw)
    table = pd.concat([_slope_rows(frames, n_boot, seed), pd.DataFrame(rows)], ignore_index=True)
    table = table.reindex(columns=analysis.VERDICT_COLUMNS)
    for col in ("direction", "control"):
        table[col] = table[col].fillna("").astype(str)
    return table
