"""The verdict table: :func:`verdict_rows` and the columns of ``verdicts.csv``.

Part of :mod:`magt_theory.analysis` (re-exported there).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from .. import bounds as _bounds
from ._fit import MIN_CLUSTERS, fit_slope, t_interval
from ._spec import VerdictSpec, _claim, _context, _predicted
from ._verdict import _DIRECTIONS, verdict

logger = logging.getLogger(__name__)

VERDICT_COLUMNS = [
    "experiment",
    "manifold",
    "quantity",
    "swept",
    "fitted_slope",
    "ci_low",
    "ci_high",
    "predicted_slope",
    "source",
    "claim",
    "verdict",
    "tight",
    "direction",
    "control",
    "note",
]
"""Columns of ``verdicts.csv``, in order. ``direction`` is the direction of the injected error
relative to the manifold (``tangent``, ``normal``, ``mixed``; empty when the claim does not
depend on one); ``control`` names the negative control that a test shows turning the row
``inconsistent`` (empty for ``diagnostic`` rows)."""

_BASE_COLUMNS = {
    "experiment", "manifold", "d", "D", "seed", "quantity", "value", "ci_low", "ci_high"
}


def _apply_filter(frame: pd.DataFrame, flt: Mapping) -> pd.DataFrame:
    for col, val in flt.items():
        if col not in frame.columns:
            raise ValueError(
                f"filter column {col!r} not in the results (columns: {list(frame.columns)})"
            )
        if isinstance(val, (list, tuple, set, np.ndarray)):
            frame = frame[frame[col].isin(list(val))]
        else:
            frame = frame[frame[col] == val]
    return frame


def _nan_row(spec, bnd, manifold, note, err_dir=""):
    return dict(experiment=spec.experiment, manifold=manifold, quantity=spec.quantity,
                swept=spec.swept, fitted_slope=np.nan, ci_low=np.nan, ci_high=np.nan,
                predicted_slope=np.nan, source=bnd.source, claim=_claim(spec, bnd),
                verdict="inconclusive" if spec.control else "diagnostic", tight=False,
                direction=err_dir, control=spec.control or "", note=note)


def _one_group(spec, bnd, key_desc, grp, floor_df, n_boot, seed, level, manifold, err_dir=""):
    notes = [key_desc] if key_desc else []
    sw = spec.swept
    cell_means = grp.groupby(sw)["value"].mean()
    kept = cell_means.index.to_numpy(dtype=np.float64)
    if spec.fit_range is not None:
        lo, hi = spec.fit_range
        mask = np.ones(kept.size, dtype=bool)
        if lo is not None:
            mask &= kept >= lo
        if hi is not None:
            mask &= kept <= hi
        if not mask.all():
            notes.append(f"fit range {sw} in [{lo}, {hi}]")
        kept = kept[mask]
    if floor_df is not None:
        fmeans = floor_df.groupby(sw)["value"].mean()
        floor_at = fmeans.reindex(kept).to_numpy()
        if np.isnan(floor_at).any():
            raise ValueError(f"floor quantity {spec.floor_quantity!r} missing at some {sw} values "
                             f"of {key_desc or manifold}")
        near = cell_means.reindex(kept).to_numpy() <= spec.floor_factor * floor_at
        if near.any():
            notes.append(f"excluded {int(near.sum())} of {kept.size} {sw} values within a factor "
                         f"{spec.floor_factor:g} of the noise floor {spec.floor_quantity} "
                         f"({sw} = {', '.join(f'{v:g}' for v in kept[near])})")
        kept = kept[~near]
    use = grp[grp[sw].isin(kept)]
    pts = use.groupby([sw, "seed"], as_index=False)["value"].mean()
    if kept.size < 3 or len(pts) < 3:
        notes.append(f"too few points to fit ({kept.size} {sw} values)")
        return _nan_row(spec, bnd, manifold, "; ".join(notes), err_dir)
    n_seeds = pts["seed"].nunique()
    cluster = n_seeds >= MIN_CLUSTERS
    xs, ys = pts[sw].to_numpy(np.float64), pts["value"].to_numpy(np.float64)
    try:
        if cluster:
            fit = fit_slope(xs, ys, n_boot=n_boot, seed=seed, level=level,
                            groups=pts["seed"].to_numpy())
        else:
            fit = t_interval(xs, ys, level=level)
    except ValueError as exc:
        where = f"{spec.experiment}/{spec.quantity} vs {sw} ({key_desc or manifold})"
        raise ValueError(f"{where}: {exc}") from exc
    if not cluster:
        notes.append(f"{n_seeds} seed(s) < {MIN_CLUSTERS}: OLS t-interval over "
                     f"{len(pts)} (value, seed) points")
    direction = _DIRECTIONS[spec.direction] if spec.direction else bnd.regime(spec.var)
    ctx = _context(spec, bnd, grp)
    pred, how = _predicted(spec, bnd, ctx, kept, direction)
    claim = _claim(spec, bnd)
    v, tight, vnote = verdict(fit, pred, claim, band=spec.band, direction=direction,
                              max_ci_width=spec.max_ci_width, var=spec.var)
    if not spec.control:
        vnote = f"diagnostic (no negative control shown to fail it; rule would say {v}): {vnote}"
        v, tight = "diagnostic", False
    notes.insert(0, vnote + how)
    return dict(experiment=spec.experiment, manifold=manifold, quantity=spec.quantity, swept=sw,
                fitted_slope=fit.slope, ci_low=fit.ci_low, ci_high=fit.ci_high,
                predicted_slope=pred, source=bnd.source, claim=claim, verdict=v,
                tight=bool(tight), direction=err_dir, control=spec.control or "",
                note="; ".join(notes))


def verdict_rows(
    df: pd.DataFrame,
    specs,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    on_missing: str = "raise",
) -> pd.DataFrame:
    """The verdict table: one row per (spec, manifold, D[, group_by]) with fit and verdict.

    For each spec: select the experiment and quantity, apply the filter, group by manifold (and
    ``D``), average replicates per (swept value, seed), drop points outside ``fit_range`` or
    near the noise floor, fit the log-log slope with a cluster bootstrap over seeds
    (:func:`fit_slope`; :func:`t_interval` with fewer than :data:`MIN_CLUSTERS` seeds), derive
    the predicted slope from the bound (:mod:`magt_theory.bounds`, with ``d``/``D`` from the
    manifold; by default its own slope over the fitted points) and apply :func:`verdict`. A
    spec without ``control`` gives ``diagnostic`` rows.

    Parameters
    ----------
    df : pandas.DataFrame
        Tidy results (``experiment, manifold, d, D, seed, <params>, quantity, value``).
    specs : sequence of VerdictSpec or dict
    n_boot, seed, level
        Passed to :func:`fit_slope`.
    on_missing : {"raise", "warn"}
        What to do when a spec matches no rows: raise ValueError, or log a warning and skip.

    Returns
    -------
    pandas.DataFrame
        Columns exactly :data:`VERDICT_COLUMNS`. Groups with fewer than 3 usable swept values
        get NaN slopes, verdict "inconclusive" ("diagnostic" without a control) and a note.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame; got {type(df).__name__}")
    if on_missing not in {"raise", "warn"}:
        raise ValueError(f"on_missing must be 'raise' or 'warn'; got {on_missing!r}")
    need = {"experiment", "manifold", "seed", "quantity", "value"}
    missing = sorted(need - set(df.columns))
    if missing:
        raise ValueError(f"df lacks required column(s) {missing}")
    if isinstance(specs, (VerdictSpec, Mapping)):
        specs = [specs]
    specs = [VerdictSpec.coerce(s) for s in specs]

    rows = []
    for spec in specs:
        bnd = _bounds.get(spec.bound)
        sub = _apply_filter(df[df["experiment"] == spec.experiment], spec.filter)
        sub = sub.dropna(axis=1, how="all")
        q = sub[sub["quantity"] == spec.quantity] if len(sub) else sub
        if q.empty:
            msg = (f"no rows for experiment {spec.experiment!r}, quantity {spec.quantity!r} "
                   f"(after filter {dict(spec.filter)})")
            if on_missing == "raise":
                raise ValueError(msg)
            logger.warning("verdict_rows: %s; skipped", msg)
            continue
        if spec.swept not in q.columns or q[spec.swept].isna().any():
            raise ValueError(f"swept column {spec.swept!r} missing or incomplete for "
                             f"{spec.experiment}/{spec.quantity}")
        if not np.isfinite(q["value"].to_numpy(np.float64)).all():
            raise ValueError(f"{spec.experiment}/{spec.quantity}: value contains NaN or inf")
        for col in list(spec.group_by) + list(spec.average_over):
            if col not in q.columns:
                raise ValueError(f"column {col!r} (group_by/average_over) not in the results")
        keys = ["manifold"] + (["D"] if "D" in q.columns else []) + list(spec.group_by)
        params = [c for c in q.columns
                  if c not in _BASE_COLUMNS and c not in keys and c != spec.swept
                  and c not in spec.average_over]
        if params:
            cells = q.groupby(keys + [spec.swept], dropna=False)[params]
            varying = cells.nunique(dropna=False).max()
            varying = varying[varying > 1]
            if len(varying):
                col = varying.index[0]
                raise ValueError(
                    f"{spec.experiment}/{spec.quantity}: column {col!r} takes several values "
                    f"({sorted(q[col].dropna().unique().tolist())[:6]}) at fixed {spec.swept}; "
                    "fix it with filter=, split with group_by= or average with average_over=")
        floor_all = None
        if spec.floor_quantity is not None:
            floor_all = sub[sub["quantity"] == spec.floor_quantity]
            if floor_all.empty:
                raise ValueError(f"floor_quantity {spec.floor_quantity!r} has no rows in "
                                 f"experiment {spec.experiment!r}")
        for key, grp in q.groupby(keys, sort=True):
            key = key if isinstance(key, tuple) else (key,)
            manifold = key[0]
            key_desc = ", ".join(f"{k}={v}" for k, v in zip(keys[1:], key[1:]))
            floor_df = None
            if floor_all is not None:
                fmask = np.ones(len(floor_all), dtype=bool)
                for k, v in zip(keys, key):
                    if k in floor_all.columns:
                        fmask &= (floor_all[k] == v).to_numpy()
                floor_df = floor_all[fmask]
            err_dir = spec.error_direction
            if err_dir is None:
                err_dir = ""
                if "direction" in keys:
                    err_dir = str(key[keys.index("direction")])
                elif isinstance(spec.filter.get("direction"), str):
                    err_dir = spec.filter["direction"]
            rows.append(_one_group(spec, bnd, key_desc, grp, floor_df, n_boot, seed, level,
                                   manifold, err_dir))
    out = pd.DataFrame(rows, columns=VERDICT_COLUMNS)
    out["tight"] = out["tight"].astype(bool)
    for col in ("direction", "control"):
        out[col] = out[col].fillna("").astype(str)
    return out
