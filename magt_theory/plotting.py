"""Paper figures from tidy results (seaborn, log-log axes, fitted and predicted slopes drawn).

Each figure function takes the aggregated tidy frame of one experiment and returns a matplotlib
``Figure``; :data:`FIGURES` maps a figure name to ``(experiment, function)``, and
:func:`render` writes ``<out>.pdf`` and ``<out>.png`` atomically. Plotting code reads only the
tidy results; it never recomputes science.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from . import analysis  # noqa: E402

__all__ = ["FIGURES", "render", "names"]


def _theme():
    sns.set_theme(context="paper", style="ticks", font_scale=1.0)


def _select(df: pd.DataFrame, quantity: str) -> pd.DataFrame:
    sub = df[df["quantity"] == quantity]
    if sub.empty:
        raise ValueError(f"quantity {quantity!r} is absent from the results")
    return sub


def _slope_lines(ax, sub: pd.DataFrame, x: str, predicted: float | None, label_fit="fit"):
    """Draw the fitted log-log line (solid grey) and the predicted slope (dashed) on ``ax``."""
    sub = sub[(sub[x] > 0) & (sub["value"] > 0)]
    if sub[x].nunique() < 3:  # no slope (with a CI) from fewer than 3 levels
        return
    fit = analysis.fit_slope(sub[x].to_numpy(), sub["value"].to_numpy(), n_boot=200)
    xs = np.geomspace(sub[x].min(), sub[x].max(), 20)
    ax.plot(xs, np.exp(fit.intercept) * xs**fit.slope, color="0.3", lw=1,
            label=f"{label_fit}: {fit.slope:+.2f}")
    if predicted is not None and np.isfinite(predicted):
        # anchor the predicted line at the geometric centre of the data
        gx = np.exp(np.mean(np.log(sub[x])))
        gy = np.exp(np.mean(np.log(sub["value"])))
        ax.plot(xs, gy * (xs / gx) ** predicted, ls="--", color="C3", lw=1,
                label=f"predicted: {predicted:+.2f}")


def _facet(df, x, hue, col, title, xlabel, ylabel, predicted_fn=None, floor=None, logx=True):
    """Line plot per facet, log-log, with slopes (``predicted_fn(facet_df) -> slope``)."""
    _theme()
    g = sns.relplot(data=df, x=x, y="value", hue=hue, col=col, kind="line", marker="o",
                    errorbar=("ci", 95), facet_kws={"sharey": False}, height=2.8, aspect=1.1,
                    palette="viridis" if hue else None)
    for key, ax in g.axes_dict.items():
        facet = df[df[col] == key] if col else df
        if logx:
            ax.set_xscale("log")
        ax.set_yscale("log")
        if floor is not None:
            fl = floor[floor[col] == key] if col else floor
            if not fl.empty:
                agg = fl.groupby(x)["value"].mean()
                ax.plot(agg.index, agg.values, color="k", ls=":", lw=1, label="noise floor")
        pred = predicted_fn(facet) if predicted_fn else None
        _slope_lines(ax, facet, x, pred)
        ax.legend(fontsize=6, loc="best")
    g.set_axis_labels(xlabel, ylabel)
    g.figure.suptitle(title, y=1.03, fontsize=9)
    return g.figure


def _dim_of(facet) -> int:
    return int(facet["d"].iloc[0])


def fig_anchor_mse_vs_K(df):
    """Anchor score MSE vs K at each t (MAGT Lemma 1: slope -1)."""
    sub = _select(df, "anchor_mse").copy()
    sub["t"] = sub["t"].map(lambda v: f"{v:g}")
    return _facet(sub, "K", "t", "manifold", "SNIS score MSE of the exact generator vs K",
                  "anchors K", "E|s_K - s|^2", predicted_fn=lambda f: -1.0)


def fig_ess_vs_sigma(df):
    """Kish ESS / K vs sigma at the largest K (predicted slope d)."""
    sub = _select(df, "ess_over_K")
    sub = sub[sub["K"] == sub["K"].max()]
    return _facet(sub, "sigma", None, "manifold", "ESS/K vs sigma (largest K)", "sigma",
                  "ESS / K", predicted_fn=_dim_of)


def fig_anchor_mse_vs_sigma(df):
    """Anchor MSE vs sigma at the largest K, against the lemma's -(d+4)."""
    sub = _select(df, "anchor_mse")
    sub = sub[sub["K"] == sub["K"].max()]
    return _facet(sub, "sigma", None, "manifold", "Anchor MSE vs sigma (largest K)", "sigma",
                  "E|s_K - s|^2", predicted_fn=lambda f: -(_dim_of(f) + 4.0))


def fig_pullback(df):
    """W2 / sqrt(E_MAG) vs t: Theorem 1 allows growth up to C_PB(t) = O(1/t) as t -> 0."""
    sub = _select(df, "ratio_w2_sqrt_emag").copy()
    sub["eps"] = sub["eps"].map(lambda v: f"{v:g}")
    return _facet(sub, "t", "eps", "manifold", "Pull-back ratio W2 / sqrt(E_MAG) vs t",
                  "t", "W2 / sqrt(E_MAG)", predicted_fn=lambda f: -1.0)


def fig_sample_size(df):
    """Generated-sample W2 vs n with the two-sample noise floor and the empirical measure."""
    keep = df[df["quantity"].isin(["w2", "w2_empirical"])].copy()
    floor = df[df["quantity"] == "w2_noise_floor"]
    return _facet(keep, "n", "quantity", "manifold", "W2 vs training sample size n", "n", "W2",
                  predicted_fn=None, floor=floor)


def fig_smoothing_level(df):
    """W2 and off-manifold rate vs the smoothing level t (interior optimum expected)."""
    _theme()
    sub = df[df["quantity"].isin(["w2", "off_manifold_rate"])]
    g = sns.relplot(data=sub, x="t", y="value", col="quantity", row="manifold", kind="line",
                    marker="o", errorbar=("ci", 95), facet_kws={"sharey": False}, height=2.6)
    for ax in g.axes.flat:
        ax.set_xscale("log")
    floor = df[df["quantity"] == "w2_noise_floor"]
    for (m, q), ax in g.axes_dict.items():
        if q == "w2" and not floor.empty:
            ax.axhline(floor[floor["manifold"] == m]["value"].mean(), color="k", ls=":",
                       lw=1, label="noise floor")
            ax.legend(fontsize=6)
    g.figure.suptitle("MAGT across smoothing levels t", y=1.02, fontsize=9)
    return g.figure


def fig_ambient_dim(df):
    """W2 vs n for each ambient dimension D (the n-slope should not depend on D)."""
    sub = _select(df, "w2").copy()
    sub["D"] = sub["D"].astype(str)
    return _facet(sub, "n", "D", "manifold", "W2 vs n across ambient dimensions D", "n", "W2")


FIGURES = {
    "anchor_mse_vs_K": ("anchor_error", fig_anchor_mse_vs_K),
    "ess_vs_sigma": ("anchor_error", fig_ess_vs_sigma),
    "anchor_mse_vs_sigma": ("anchor_error", fig_anchor_mse_vs_sigma),
    "pullback_ratio": ("pullback", fig_pullback),
    "sample_size": ("sample_size", fig_sample_size),
    "smoothing_level": ("smoothing_level", fig_smoothing_level),
    "ambient_dim": ("ambient_dim", fig_ambient_dim),
}


def names(experiments=None) -> list[str]:
    """Figure names, optionally only those whose experiment is in ``experiments``."""
    return [k for k, (e, _) in FIGURES.items() if experiments is None or e in experiments]


def render(name: str, df: pd.DataFrame, out_stem: str | os.PathLike) -> list[Path]:
    """Render figure ``name`` from ``df`` to ``<out_stem>.pdf`` and ``.png`` (atomic)."""
    if name not in FIGURES:
        raise ValueError(f"name must be one of {list(FIGURES)}; got {name!r}")
    fig = FIGURES[name][1](df)
    out_stem = Path(out_stem)
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext, kw in ((".pdf", {}), (".png", {"dpi": 130})):
        target = out_stem.with_suffix(ext)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=ext)
        os.close(fd)
        try:
            fig.savefig(tmp, bbox_inches="tight", **kw)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        paths.append(target)
    plt.close(fig)
    return paths
