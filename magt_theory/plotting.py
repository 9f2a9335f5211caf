"""Paper figures from tidy results (seaborn, log-log axes, fitted and predicted slopes drawn).

Each figure function takes the aggregated tidy frame of one experiment and returns a matplotlib
``Figure``; :data:`FIGURES` maps a figure name to ``(experiment, function)``, and
:func:`render` writes ``<out>.pdf`` and ``<out>.png`` atomically. Plotting code reads only the
tidy results; it never recomputes science. Figures are reproducible files: seaborn's bootstrapped
95% bands are seeded (``seed=0``) and PDFs carry no creation date, so rerunning a workflow on the
same results rewrites the same bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from . import analysis  # noqa: E402
from . import experiments as _exps  # noqa: E402
from ._io import atomic_savefig  # noqa: E402

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


def _facet(df, x, hue, col, title, xlabel, ylabel, predicted_fn=None, floor=None, logx=True,
           fit_hue=None):
    """Line plot per facet, log-log, with slopes (``predicted_fn(facet_df) -> slope``).

    The fitted line uses every row of the facet (balanced grids: the mean of the per-hue
    slopes), or only the rows whose ``hue`` equals ``fit_hue``.
    """
    _theme()
    g = sns.relplot(data=df, x=x, y="value", hue=hue, col=col, kind="line", marker="o",
                    errorbar=("ci", 95), seed=0, facet_kws={"sharey": False}, height=2.8,
                    aspect=1.1, palette="viridis" if hue else None)
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
        _slope_lines(ax, facet if fit_hue is None else facet[facet[hue] == fit_hue], x, pred,
                     label_fit="fit" if fit_hue is None else f"fit ({fit_hue})")
        ax.legend(fontsize=6, loc="best")
        lo, hi = ax.get_xlim()
        if logx and hi / lo > 10:  # label decades only: minor labels collide
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
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
    """W2 / sqrt(E_MAG) vs t per perturbation family (tangent / normal / mixed; averaged over
    eps, the ratio being eps-free in linear response): Theorem 1 allows growth up to
    C_PB(t) = O(1/t) as t -> 0."""
    sub = _select(df, "ratio_w2_sqrt_emag").copy()
    hue = "direction" if "direction" in sub.columns else "eps"
    if hue == "eps":
        sub["eps"] = sub["eps"].map(lambda v: f"{v:g}")
    else:
        sub = sub.groupby(["manifold", "direction", "t", "seed"], as_index=False)["value"].mean()
    return _facet(sub, "t", hue, "manifold", "Pull-back ratio W2 / sqrt(E_MAG) vs t",
                  "t", "W2 / sqrt(E_MAG)", predicted_fn=lambda f: -1.0)


def _excess(df: pd.DataFrame, keys=("manifold", "D")) -> pd.DataFrame:
    """``w2(n) - mean_seeds w2(n = oo control)`` per group (finite n; non-positive dropped)."""
    w = df[df["quantity"] == "w2"]
    parts = []
    for _, g in w.groupby(list(keys)):
        ctrl = g[g["n"] == 0]["value"]
        if ctrl.empty:
            continue
        e = g[g["n"] > 0].copy()
        e["value"] = e["value"] - ctrl.mean()
        e["quantity"] = "w2_excess"
        parts.append(e[e["value"] > 0])
    return pd.concat(parts, ignore_index=True) if parts else w.iloc[:0]


def _rate_panel(ax, sub, label, color, fit=True):
    agg = sub.groupby("n")["value"].agg(["mean", "sem"])
    ax.errorbar(agg.index, agg["mean"], yerr=1.96 * agg["sem"].fillna(0), marker="o", ms=3,
                lw=1, color=color, capsize=2, label=label)
    if fit and sub["n"].nunique() >= 3:
        f = analysis.fit_slope(sub["n"].to_numpy(np.float64), sub["value"].to_numpy(np.float64),
                               n_boot=200)
        xs = np.geomspace(sub["n"].min(), sub["n"].max(), 20)
        ax.plot(xs, np.exp(f.intercept) * xs**f.slope, color=color, lw=0.8, ls="--",
                label=f"{label} slope {f.slope:+.2f}")


def _loglog(ax):
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def fig_sample_size(df):
    """One-sample W2 vs n (MAGT, empirical measure, n = oo control, estimator floor), and the
    n-dependent excess over the control with its fitted slope (MAGT Corollary 2)."""
    _theme()
    groups = list(df.groupby(["manifold", "D"]))
    fig, axes = plt.subplots(len(groups), 2, figsize=(7.0, 2.8 * len(groups)), squeeze=False)
    for row, ((manifold, D), g) in zip(axes, groups):
        fin = g[g["n"] > 0]
        _rate_panel(row[0], fin[fin["quantity"] == "w2"], "MAGT", "C0", fit=False)
        _rate_panel(row[0], fin[fin["quantity"] == "w2_empirical"], "empirical measure", "C2")
        ctrl = g[(g["n"] == 0) & (g["quantity"] == "w2")]["value"]
        if not ctrl.empty:
            row[0].axhline(ctrl.mean(), color="C1", lw=1, label="MAGT, n = oo control")
        fl = g[g["quantity"] == "w2_floor"]["value"]
        if not fl.empty:
            row[0].axhline(fl.mean(), color="k", ls=":", lw=1, label="estimator floor")
        row[0].set(xlabel="n", ylabel="W2 to the exact law", title=f"{manifold}, D={D}")
        ex = _excess(g)
        _rate_panel(row[1], ex, "W2(n) - W2(oo)", "C0")
        row[1].set(xlabel="n", ylabel="n-dependent excess", title="excess over the control")
        for ax in row:
            _loglog(ax)
            ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def fig_ambient_dim(df):
    """n-dependent excess of MAGT's W2 vs n for each ambient dimension D (slopes per D)."""
    _theme()
    fig, ax = plt.subplots(figsize=(4.2, 3.2))
    ex = _excess(df)
    for i, (D, g) in enumerate(ex.groupby("D")):
        _rate_panel(ax, g, f"D={D}", f"C{i}")
    _loglog(ax)
    ax.set(xlabel="n", ylabel="W2(n) - W2(oo)",
           title="MAGT excess vs n across ambient dimensions")
    ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def fig_memorisation(df):
    """MAGT (excess over the n = oo control) vs the empirical measure of its n training
    points, one panel per intrinsic dimension d (same one-sample estimator)."""
    _theme()
    groups = list(df.groupby(["manifold", "d", "D"]))
    fig, axes = plt.subplots(1, len(groups), figsize=(3.2 * len(groups), 3.0), squeeze=False)
    for ax, ((manifold, d, D), g) in zip(axes[0], groups):
        fin = g[g["n"] > 0]
        _rate_panel(ax, fin[fin["quantity"] == "w2"], "MAGT W2", "C0", fit=False)
        _rate_panel(ax, _excess(g), "MAGT excess", "C1")
        _rate_panel(ax, fin[fin["quantity"] == "w2_empirical"], "empirical", "C2")
        _loglog(ax)
        ax.set(xlabel="n", ylabel="W2 to the exact law", title=f"{manifold} d={d} (D={D})")
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def fig_smoothing_level(df):
    """W2 and off-manifold rate vs the smoothing level t (interior optimum expected)."""
    _theme()
    sub = df[df["quantity"].isin(["w2", "off_manifold_rate"])]
    g = sns.relplot(data=sub, x="t", y="value", col="quantity", row="manifold", kind="line",
                    marker="o", errorbar=("ci", 95), seed=0, facet_kws={"sharey": False},
                    height=2.6)
    g.set_titles("{row_name}: {col_name}")
    for ax in g.axes.flat:
        ax.set_xscale("log")
    floor = df[df["quantity"] == "w2_floor"]
    for (m, q), ax in g.axes_dict.items():
        if q == "w2" and not floor.empty:
            ax.axhline(floor[floor["manifold"] == m]["value"].mean(), color="k", ls=":",
                       lw=1, label="estimator floor")
            ax.legend(fontsize=6)
    g.figure.suptitle("MAGT across smoothing levels t", y=1.02, fontsize=9)
    return g.figure


# ------------------------------------------------------------------ dynamics (CdC, docs/conventions.md §8)
_ROUNDOFF = 1e-10  # sin theta at or below this is exact alignment (symmetry), not a rate


def _sigma_labels(values) -> list[str]:
    return [f"{v:g}" for v in sorted(pd.unique(values))]


def fig_alignment_gap(df):
    """Spectral gap ``log s_d - log s_{d+1}`` of the oracle flow map vs ``log(sigma_T/sigma_min)``.

    CdC (derived): the gap grows like ``log(sigma_T / sigma_min)`` (dashed: slope 1 through the
    data's centre; solid: least-squares line).
    """
    _theme()
    sub = _select(df, "spectral_gap")
    g = sns.relplot(data=sub, x="log_sigma_ratio", y="value", col="manifold", kind="line",
                    marker="o", errorbar=("ci", 95), seed=0, facet_kws={"sharey": False},
                    height=2.8, aspect=1.1)
    for key, ax in g.axes_dict.items():
        f = sub[sub["manifold"] == key]
        x, y = f["log_sigma_ratio"].to_numpy(), f["value"].to_numpy()
        xs = np.linspace(x.min(), x.max(), 20)
        if np.unique(x).size >= 2:
            slope, icpt = np.polyfit(x, y, 1)
            ax.plot(xs, icpt + slope * xs, color="0.3", lw=1, label=f"fit: {slope:+.2f}")
        ax.plot(xs, y.mean() + (xs - x.mean()), ls="--", color="C3", lw=1,
                label="predicted: +1.00")
        ax.set_title(f"{key} (d={int(f['d'].iloc[0])})", fontsize=8)
        ax.legend(fontsize=6, loc="best")
    g.set_axis_labels("log(sigma_T / sigma_min)", "gap log s_d - log s_{d+1}")
    g.figure.suptitle("Oracle DDIM: spectral gap of the flow map at index d", y=1.03, fontsize=9)
    return g.figure


def fig_alignment_sin_theta(df):
    """Tangent error ``sin theta_max`` of the flow map's top-``d`` singular vectors vs sigma_min.

    Log-log with the fitted slope and the predicted slope 1 [CdC, derived]. Manifolds where the
    alignment is exact to round-off (symmetry) are listed in the title instead of plotted.
    """
    sub = _select(df, "sin_theta_max_svd")
    top = sub.groupby("manifold")["value"].max()
    exact = sorted(top[top <= _ROUNDOFF].index)
    keep = sub[~sub["manifold"].isin(exact)]
    note = f" (exact by symmetry: {', '.join(exact)})" if exact else ""
    title = "Oracle DDIM: tangent error of the top-d flow-map singular vectors" + note
    if keep.empty:
        _theme()
        fig, ax = plt.subplots(figsize=(3.5, 2.8))
        ax.text(0.5, 0.5, "sin theta_max = 0 to round-off\nat every sigma_min", ha="center",
                va="center", transform=ax.transAxes)
        ax.set_axis_off()
        fig.suptitle(title, fontsize=9)
        return fig
    fig = _facet(keep, "sigma_min", None, "manifold", title, "sigma_min",
                 "sin theta_max (SVD)", predicted_fn=lambda f: 1.0)
    for ax in fig.axes:
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    return fig


def fig_alignment_spectra(df):
    """Finite-time exponent spectra (flow-map SVD and Benettin QR), one line per sigma_min.

    Exponents on the clock ``T = log(sigma_T / sigma_min)``: tangent directions near 0, normal
    ones near -1; the dotted line marks the gap between index ``d`` and ``d + 1``.
    """
    _theme()
    sub = df[df["quantity"].isin(["lyapunov_svd", "lyapunov_qr"])].copy()
    if sub.empty:
        raise ValueError("quantities 'lyapunov_svd'/'lyapunov_qr' are absent from the results")
    sub["sigma_min"] = sub["sigma_min"].map(lambda v: f"{v:g}")
    sub["quantity"] = sub["quantity"].map({"lyapunov_svd": "flow-map SVD",
                                           "lyapunov_qr": "Benettin QR"})
    g = sns.relplot(data=sub, x="index", y="value", hue="sigma_min", row="quantity",
                    col="manifold", kind="line", marker="o", errorbar=("ci", 95), seed=0,
                    hue_order=_sigma_labels(df["sigma_min"]), palette="viridis",
                    facet_kws={"sharex": False}, height=2.4, aspect=1.1)
    for (_, manifold), ax in g.axes_dict.items():
        d = int(df.loc[df["manifold"] == manifold, "d"].iloc[0])
        ax.axvline(d + 0.5, color="k", ls=":", lw=1)
        ax.axhline(-1.0, color="0.6", ls="--", lw=0.8)
        ax.axhline(0.0, color="0.6", ls="--", lw=0.8)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    g.set_axis_labels("index j", "exponent (log s_j / T)")
    g.set_titles("{row_name} | {col_name}", size=7)
    g.figure.suptitle("Oracle DDIM: finite-time exponents; gap at index d (dotted)", y=1.02,
                      fontsize=9)
    return g.figure


def fig_robustness(df):
    """Score vs denoiser error injection: normal/tangent ratio and |change of dist(M)| vs sigma_min.

    CdC: score errors are compressed in the normal directions (ratio and distance change fall
    with sigma_min; dashed guide: slope 1), denoiser errors (negative control) are not.
    """
    _theme()
    qs = ["normal_tangent_ratio", "abs_delta_distance"]
    sub = df[df["quantity"].isin(qs) & df["site"].isin(["score", "denoiser"])].copy()
    if sub.empty:
        raise ValueError("quantities 'normal_tangent_ratio'/'abs_delta_distance' are absent")
    sub["eps"] = sub["eps"].map(lambda v: f"{v:g}")
    g = sns.relplot(data=sub, x="sigma_min", y="value", hue="site", style="eps",
                    row="quantity", col="manifold", kind="line", marker="o",
                    errorbar=("ci", 95), seed=0, row_order=qs, hue_order=["score", "denoiser"],
                    facet_kws={"sharey": False}, height=2.6, aspect=1.15)
    for (q, manifold), ax in g.axes_dict.items():
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        sc = sub[(sub["quantity"] == q) & (sub["manifold"] == manifold)
                 & (sub["site"] == "score") & (sub["value"] > 0)]
        if q == "abs_delta_distance" and sc["sigma_min"].nunique() >= 2:
            xs = np.geomspace(sc["sigma_min"].min(), sc["sigma_min"].max(), 20)
            gx = np.exp(np.mean(np.log(sc["sigma_min"])))
            gy = np.exp(np.mean(np.log(sc["value"])))
            ax.plot(xs, gy * xs / gx, ls="--", color="C3", lw=1, label="slope 1")
    g.set_axis_labels("sigma_min", "")
    g.set_titles("{row_name} | {col_name}", size=7)
    g.figure.suptitle("Error injected into the score vs the denoiser (same noise, same field)",
                      y=1.02, fontsize=9)
    return g.figure


def fig_magt_alignment(df):
    """MAGT's one-step generator on the sampler's alignment scale, vs sigma = sqrt(t).

    ``sin theta_max`` of the top-``d`` left singular vectors of ``J_h(u)``, the gap at ``d``
    (latent dimension ``k > d``) and the normal/tangent ratio of parameter perturbations.
    """
    _theme()
    qs = [q for q in ("sin_theta_max_svd", "spectral_gap", "param_normal_tangent_ratio")
          if q in set(df["quantity"])]
    if not qs:
        raise ValueError("no MAGT alignment quantity in the results")
    sub = df[df["quantity"].isin(qs)].copy()
    sub["k - d"] = (sub["latent_dim"] - sub["d"]).astype(int).astype(str)
    g = sns.relplot(data=sub, x="sigma", y="value", hue="manifold", style="k - d", col="quantity",
                    col_order=qs, kind="line", marker="o", errorbar=("ci", 95), seed=0,
                    facet_kws={"sharey": False}, height=2.6, aspect=1.1)
    ticks = sorted(sub["sigma"].unique())
    for q, ax in g.axes_dict.items():
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xticks(ticks, [f"{v:.2g}" for v in ticks])
        if q != "spectral_gap":
            ax.set_yscale("log")
    g.set_axis_labels("sigma = sqrt(t) (training level)", "")
    g.set_titles("{col_name}", size=8)
    g.figure.suptitle("MAGT one-step generator: alignment of J_h with the tangent space",
                      y=1.03, fontsize=9)
    return g.figure



def fig_chargen_euler(df):
    """Characteristic generator: Euler error and W2 to mu_T vs K, per horizon T (slope -1)."""
    _theme()
    sub = df[df["quantity"].isin(["euler_error", "w2"])].copy()
    if sub.empty:
        raise ValueError("quantities euler_error / w2 are absent from the results")
    sub["T"] = sub["T"].map(lambda v: f"{v:g}")
    g = sns.relplot(data=sub, x="K", y="value", hue="quantity", col="T", row="manifold",
                    kind="line", marker="o", errorbar=("ci", 95), seed=0, height=2.6, aspect=1.1,
                    facet_kws={"sharey": False})
    for (m, tl), ax in g.axes_dict.items():
        ax.set_xscale("log")
        ax.set_yscale("log")
        cell = df[(df["manifold"] == m) & (df["T"].map(lambda v: f"{v:g}") == tl)]
        e = cell[cell["quantity"] == "euler_error"].groupby("K")["value"].mean()
        fl = cell[cell["quantity"] == "w2_noise_floor"]["value"].mean()
        if len(e):
            ks = e.index.to_numpy(np.float64)
            gk, ge = np.exp(np.mean(np.log(ks))), np.exp(np.mean(np.log(e.to_numpy())))
            ax.plot(ks, ge * gk / ks, ls="--", color="C3", lw=1, label="slope -1")
        if np.isfinite(fl):
            ax.axhline(fl, color="k", ls=":", lw=1, label="W2 noise floor")
        ax.legend(fontsize=6)
    g.set_axis_labels("Euler steps K", "error")
    g.figure.suptitle("Characteristic generator: Euler error vs K (oracle velocity)", y=1.03,
                      fontsize=9)
    return g.figure


def fig_chargen_n(df):
    """Characteristic generator trained on n points: W2 and the measured error terms vs n."""
    _theme()
    keep = ["w2", "w2_T", "w2_empirical", "err_velocity", "err_euler", "err_fitting",
            "err_horizon"]
    sub = df[df["quantity"].isin(keep)]
    if sub.empty:
        raise ValueError("the chargen_n quantities are absent from the results")
    g = sns.relplot(data=sub, x="n", y="value", hue="quantity", col="manifold", kind="line",
                    marker="o", errorbar=("ci", 95), seed=0, height=2.8, aspect=1.2,
                    facet_kws={"sharey": False})
    floor = df[df["quantity"] == "w2_noise_floor"]
    for m, ax in g.axes_dict.items():
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        fl = floor[floor["manifold"] == m].groupby("n")["value"].mean()
        if len(fl):
            ax.plot(fl.index, fl.values, color="k", ls=":", lw=1)
            ax.text(fl.index[0], fl.values[0], "W2 noise floor", fontsize=6, va="bottom")
    g.set_axis_labels("training points n", "W2 / coupled RMS")
    g.figure.suptitle("Characteristic generator vs n: W2 and its error terms", y=1.03,
                      fontsize=9)
    return g.figure


#: figure name -> (experiment, drawing function), from the experiments' declarations
#: (``SPEC.figures``)
FIGURES = {fig: (exp, globals()[fn]) for fig, (exp, fn) in _exps.figures().items()}


def names(experiments=None) -> list[str]:
    """Figure names, optionally only those whose experiment is in ``experiments``."""
    return list(_exps.figures(experiments))


def render(name: str, df: pd.DataFrame, out_stem: str | os.PathLike) -> list[Path]:
    """Render figure ``name`` from ``df`` to ``<out_stem>.pdf`` and ``.png`` (atomic)."""
    if name not in FIGURES:
        raise ValueError(f"name must be one of {list(FIGURES)}; got {name!r}")
    fig = FIGURES[name][1](df)
    out_stem = Path(out_stem)
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext, kw in ((".pdf", {"metadata": {"CreationDate": None}}), (".png", {"dpi": 130})):
        target = out_stem.with_suffix(ext)
        atomic_savefig(fig, target, bbox_inches="tight", **kw)  # normal permissions (umask)
        paths.append(target)
    plt.close(fig)
    return paths
