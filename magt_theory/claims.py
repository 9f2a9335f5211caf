"""Which measurement tests which claim: the rows of ``verdicts.csv``.

Three kinds of claims are checked against the tidy results of the experiments:

- **slopes** (:data:`SLOPE_CLAIMS`): a log-log slope fitted with a bootstrap CI, compared with
  the slope derived symbolically from a bound of :mod:`magt_theory.bounds`
  (:func:`magt_theory.analysis.verdict_rows`);
- **inequalities** with explicit constants, checked point by point (the LSI step of MAGT
  Theorem 1: ``W2(p_t, p_t^h) <= C_LSI(t) sqrt(J)``);
- **shape** claims (MAGT reports an interior optimum in ``t``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import analysis

__all__ = ["SLOPE_CLAIMS", "verdicts"]

_TRAIN_W2 = dict(floor_quantity="w2_noise_floor", band=0.1, predicted="asymptotic",
                 substitutions={"eta": 8})

#: slope claims per experiment, as :class:`magt_theory.analysis.VerdictSpec` keyword sets
SLOPE_CLAIMS: dict[str, list[dict]] = {
    "anchor_error": [
        # Lemma 1: MSE ~ 1/K at every level (fit per t and proposal)
        dict(quantity="anchor_mse", swept="K", bound="anchor_mc", group_by=("t", "proposal"),
             band=0.1),
        # derived: ESS ~ K sigma^d (fit across levels at each K)
        dict(quantity="ess", swept="sigma", bound="ess", group_by=("K", "proposal"), band=0.15),
        # Lemma 1: MSE <~ sigma^-(d+4) as sigma -> 0 (a bound: growth no faster)
        dict(quantity="anchor_mse", swept="sigma", bound="anchor_mc", group_by=("K", "proposal"),
             band=0.2),
    ],
    "pullback": [
        # Theorem 1: W2 / sqrt(E_MAG) <= C_PB(t) = O(1/t)
        dict(quantity="ratio_w2_sqrt_emag", swept="t", bound="magt_pullback_ratio",
             group_by=("eps",), band=0.2),
    ],
    "sample_size": [
        # Corollary 2 (smooth h*: eta large, exponent -> 1/2 as eta -> oo) and the empirical rate
        dict(quantity="w2", swept="n", bound="magt_corollary2", **_TRAIN_W2),
        dict(quantity="w2", swept="n", bound="empirical_w", floor_quantity="w2_noise_floor",
             band=0.1),
        dict(quantity="w2_empirical", swept="n", bound="empirical_w", band=0.1),
    ],
    "ambient_dim": [
        # the n-slope should not depend on D (one fit per D)
        dict(quantity="w2", swept="n", bound="magt_corollary2", **_TRAIN_W2),
    ],
}


def _slope_rows(frames: dict, n_boot: int, seed: int) -> pd.DataFrame:
    specs, parts = [], []
    for exp, claims in SLOPE_CLAIMS.items():
        if exp not in frames:
            continue
        specs = [analysis.VerdictSpec(experiment=exp, average_over=("seed",), **c) for c in claims]
        parts.append(analysis.verdict_rows(frames[exp], specs, n_boot=n_boot, seed=seed,
                                           on_missing="warn"))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _row(**kw) -> dict:
    out = {c: np.nan for c in analysis.VERDICT_COLUMNS}
    out.update(kw)
    return out


def lsi_inequality_rows(df: pd.DataFrame) -> list[dict]:
    """Point-by-point check of ``W2(p_t, p_t^h) <= C_LSI(t) sqrt(J)`` (MAGT Theorem 1)."""
    out = []
    piv = df.pivot_table(index=["manifold", "D", "t", "eps", "seed"], columns="quantity",
                         values="value")
    piv = piv.dropna(subset=["w2_smoothed", "lsi_rhs"])  # eps = 0 carries only anchor_floor
    for manifold, g in piv.groupby(level="manifold"):
        ratio = (g["w2_smoothed"] / g["lsi_rhs"]).to_numpy()
        held = int(np.sum(ratio <= 1.0))
        out.append(_row(
            experiment="pullback", manifold=manifold, quantity="w2_smoothed", swept="t,eps",
            source="MAGT Theorem 1 (LSI step)", claim="bound",
            verdict="consistent" if held == ratio.size else "inconsistent",
            tight=bool(np.max(ratio) > 0.5),
            note=(f"W2(p_t,p_t^h) <= C_LSI(t) sqrt(J) held at {held}/{ratio.size} points; "
                  f"measured/bound ratio in [{np.min(ratio):.3g}, {np.max(ratio):.3g}] "
                  "(tight means the largest ratio exceeds 0.5)"),
        ))
    return out


def interior_optimum_rows(df: pd.DataFrame, quantity: str = "w2") -> list[dict]:
    """Is the W2-optimal smoothing level interior to the swept ``t`` grid? (MAGT, experiments)."""
    out = []
    sub = df[df["quantity"] == quantity]
    floor = df[df["quantity"] == "w2_noise_floor"]["value"].mean()
    for manifold, g in sub.groupby("manifold"):
        curve = g.groupby("t")["value"].agg(["mean", "sem", "count"])
        ts = curve.index.to_numpy()
        best = int(np.argmin(curve["mean"].to_numpy()))
        interior = 0 < best < len(ts) - 1
        # an optimum is resolved when its neighbours are worse by more than 2 standard errors
        se = np.nan_to_num(curve["sem"].to_numpy())
        m = curve["mean"].to_numpy()
        resolved = interior and all(m[j] - m[best] > 2 * np.hypot(se[j], se[best])
                                    for j in (best - 1, best + 1))
        verdict = "consistent" if resolved else ("inconclusive" if interior else "inconsistent")
        out.append(_row(
            experiment="smoothing_level", manifold=manifold, quantity=quantity, swept="t",
            source="MAGT (experiments: interior optimum in t)", claim="shape", verdict=verdict,
            tight=False,
            note=(f"W2 minimal at t={ts[best]:g} on grid {[float(x) for x in ts]} "
                  f"(W2={m[best]:.3g}, noise floor {floor:.3g}); "
                  + ("interior and resolved by >2 SE" if resolved else
                     "interior but not resolved by >2 SE" if interior else "at the grid edge")),
        ))
    return out


def verdicts(frames: dict[str, pd.DataFrame], n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The ``verdicts.csv`` table from the aggregated results of each experiment.

    Parameters
    ----------
    frames : dict
        ``experiment name -> tidy DataFrame`` (any subset of the experiments).
    n_boot : int
        Bootstrap resamples for each slope CI.
    """
    rows = []
    if "pullback" in frames:
        rows += lsi_inequality_rows(frames["pullback"])
    if "smoothing_level" in frames:
        rows += interior_optimum_rows(frames["smoothing_level"])
    table = pd.concat([_slope_rows(frames, n_boot, seed), pd.DataFrame(rows)], ignore_index=True)
    return table.reindex(columns=analysis.VERDICT_COLUMNS)
