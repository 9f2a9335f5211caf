"""The benchmark's results table, sample scatter grid and sensitivity figure (MAGT §5).

Reads only the aggregated tidy rows of :mod:`magt_theory.experiments.benchmark`
(``results/<cfg>/benchmark.parquet``) and writes

- ``benchmark_table.csv``: one row per (dataset, method) with, over seeds, the mean, standard
  deviation (``ddof = 1``; NaN for one seed) and 95% Student-t interval of the mean
  (``<q>_ci_low``, ``<q>_ci_high``; infinite for one seed) of ``w2``, ``w2_sq`` (= W2^2: the
  paper does not say which of the two it reports), ``w2_rel`` (W2 over the dataset's
  diameter, comparable across datasets), ``off_manifold_rate``, ``seconds_per_1e4`` and
  ``seconds_train``; the mean W2 floor (the estimator's value at exact samples of the same size),
  ``w2_method`` (``law``: one-sample against the known law; ``exact``: two-sample exact OT),
  ``under_trained`` (``k/n``: seeds whose training had not plateaued), the NFE, ``t_selected``
  and ``time_ratio``: the method's sampling time divided by MAGT's on the same dataset;
- ``benchmark_table.md``: the same as Markdown, followed by the time ratios of every multi-step
  method (NFE > 1) to MAGT per dataset and their geometric mean over datasets;
- ``benchmark_scatter.{pdf,png}``: generated samples, one panel per (dataset, method), on the
  two coordinates of largest variance of that dataset's samples.

:func:`sensitivity_figure` draws the sensitivity experiment
(:mod:`magt_theory.experiments.sensitivity`): W2 against n, K and t, one panel per (parameter,
dataset), MAGT and MAGT + DDIM refinement with 95% seed intervals, the W2 floor dashed, and
under-trained points marked with a cross.

Command line: ``magt-theory benchmark-report RESULTS.parquet [--out-dir DIR] [--figure STEM]
[--reference METHOD]`` (at least one of the first two), or ``magt-theory benchmark-report
SENSITIVITY.parquet --sensitivity STEM`` (:mod:`magt_theory.cli._benchmark`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import atomic_savefig, atomic_write_text
from .experiments.benchmark import DATASETS, METHODS

log = logging.getLogger(__name__)

__all__ = ["scatter_grid", "sensitivity_figure", "summary_table", "time_ratios", "to_markdown",
           "write_report", "write_sensitivity_figure"]

_STATS = ("w2", "w2_sq", "w2_rel", "off_manifold_rate", "seconds_per_1e4", "seconds_train")


def _order(values, preferred):
    vals = list(dict.fromkeys(values))
    return [v for v in preferred if v in vals] + sorted(v for v in vals if v not in preferred)


def _check(df: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame; got {type(df).__name__}")
    need = {"manifold", "method", "seed", "quantity", "value"}
    missing = sorted(need - set(df.columns))
    if missing:
        raise ValueError(f"df lacks the benchmark column(s) {missing}")
    if "experiment" in df.columns:
        df = df[df["experiment"] == "benchmark"]
    if df.empty:
        raise ValueError("df holds no benchmark rows")
    return df


def summary_table(df: pd.DataFrame, reference: str = "magt") -> pd.DataFrame:
    """Mean and std over seeds per (dataset, method), with NFE and the time ratio to ``reference``.

    Returns
    -------
    pandas.DataFrame
        Columns ``manifold, method, n_seeds, nfe, <q>_mean, <q>_std, <q>_ci_low, <q>_ci_high``
        for ``q`` in ``w2, w2_sq, w2_rel, off_manifold_rate, seconds_per_1e4, seconds_train``
        (those present), ``w2_noise_floor``, ``w2_method``, ``under_trained`` (seeds flagged),
        ``t_selected`` (MAGT methods; NaN otherwise) and ``time_ratio`` (``seconds_per_1e4``
        mean over that of ``reference`` on the same dataset; NaN when the reference is absent).
        Rows in the paper's dataset and method order.
    """
    from .benchmark_claims import seed_interval

    df = _check(df)
    df = df[~df["quantity"].str.startswith("sample_")]
    per_seed = df.pivot_table(index=["manifold", "method", "seed"], columns="quantity",
                              values="value", aggfunc="mean")
    g = per_seed.groupby(level=["manifold", "method"])
    out = pd.DataFrame({"n_seeds": g.size()})
    for q in _STATS:
        if q in per_seed:
            out[f"{q}_mean"] = g[q].mean()
            out[f"{q}_std"] = g[q].std(ddof=1)
            ci = g[q].apply(lambda v: seed_interval(v)[1:] if v.notna().any()
                            else (np.nan, np.nan))
            out[f"{q}_ci_low"] = [c[0] for c in ci]
            out[f"{q}_ci_high"] = [c[1] for c in ci]
    for q in ("nfe", "w2_noise_floor", "t_selected"):
        out[q] = g[q].mean() if q in per_seed else np.nan
    out["under_trained"] = g["under_trained"].sum() if "under_trained" in per_seed else np.nan
    if "w2_method_law" in per_seed:
        out["w2_method"] = np.where(g["w2_method_law"].mean() > 0.5, "law", "exact")
    else:
        out["w2_method"] = "exact"
    out = out.reset_index()
    ref = out[out["method"] == reference].set_index("manifold")["seconds_per_1e4_mean"]
    out["time_ratio"] = out["seconds_per_1e4_mean"] / out["manifold"].map(ref)
    out["manifold"] = pd.Categorical(out["manifold"], _order(out["manifold"], DATASETS))
    out["method"] = pd.Categorical(out["method"], _order(out["method"], METHODS))
    out = out.sort_values(["manifold", "method"]).reset_index(drop=True)
    out["manifold"] = out["manifold"].astype(str)
    out["method"] = out["method"].astype(str)
    cols = ["manifold", "method", "n_seeds", "nfe"] + [
        c for c in out.columns if c not in ("manifold", "method", "n_seeds", "nfe")]
    return out[cols]


def time_ratios(table: pd.DataFrame) -> pd.DataFrame:
    """Sampling-time ratio of every multi-step method (NFE > 1) to MAGT, per dataset.

    Rows are datasets plus ``"geometric mean"``; columns are the multi-step methods.
    """
    multi = table[table["nfe"] > 1]
    if multi.empty:
        return pd.DataFrame()
    wide = multi.pivot_table(index="manifold", columns="method", values="time_ratio",
                             aggfunc="mean")
    wide = wide.reindex(index=_order(wide.index, DATASETS),
                        columns=_order(wide.columns, METHODS))
    gm = np.exp(np.log(wide.where(wide > 0)).mean(axis=0))
    wide.loc["geometric mean"] = gm
    wide.index.name = "dataset"
    return wide


def _pm(mean, std, fmt):
    if not np.isfinite(mean):
        return "–"
    return f"{mean:{fmt}}" + (f" ± {std:{fmt}}" if np.isfinite(std) else "")


def _md(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _ci(r, q, fmt):
    m = r.get(f"{q}_mean", np.nan)
    if not np.isfinite(m):
        return "–"
    lo, hi = r.get(f"{q}_ci_low", np.nan), r.get(f"{q}_ci_high", np.nan)
    if np.isfinite(lo) and np.isfinite(hi):
        return f"{m:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"
    return f"{m:{fmt}}"


def to_markdown(table: pd.DataFrame, ratios: pd.DataFrame | None = None,
                title: str = "Benchmark") -> str:
    """Markdown rendering of :func:`summary_table` (and :func:`time_ratios`)."""
    rows = []
    for _, r in table.iterrows():
        under = r.get("under_trained", np.nan)
        rows.append([
            r["manifold"], r["method"], int(r["n_seeds"]),
            _ci(r, "w2", ".3f"), _ci(r, "w2_sq", ".4f"),
            _pm(r.get("w2_rel_mean", np.nan), np.nan, ".3f"),
            f"{r['w2_noise_floor']:.3f} ({r.get('w2_method', 'exact')})",
            _ci(r, "off_manifold_rate", ".3f"),
            f"{r['nfe']:.0f}", _pm(r["seconds_per_1e4_mean"], r["seconds_per_1e4_std"], ".3g"),
            f"{r['time_ratio']:.3g}" if np.isfinite(r["time_ratio"]) else "–",
            f"{r['t_selected']:g}" if np.isfinite(r["t_selected"]) else "",
            f"{int(under)}/{int(r['n_seeds'])}" if np.isfinite(under) else "–",
        ])
    text = [f"## {title}", "",
            "Mean and 95% Student-t interval over seeds. W2 (and W2^2: the paper does not say "
            "which it reports): one-sample against the dataset's known law (`law`) or exact OT "
            "on the documented subsample against clean samples (`exact`); the floor is the "
            "estimator's value at exact samples of the same size (values within it are not "
            "resolved); W2/diam: W2 over the dataset's diameter; off-manifold: fraction of "
            "samples farther than the threshold (0.1) from the manifold; s/1e4: sampling wall "
            "time per 10^4 samples; × MAGT: that time over MAGT's; under-trained: seeds whose "
            "training loss had not plateaued (the benchmark's criterion).", "",
            _md(["dataset", "method", "seeds", "W2 [95% CI]", "W2^2 [95% CI]", "W2/diam",
                 "W2 floor (method)", "off-manifold [95% CI]", "NFE", "s / 1e4 samples",
                 "× MAGT time", "t (MAGT)", "under-trained"], rows)]
    if ratios is not None and not ratios.empty:
        rrows = [[idx] + [f"{v:.3g}" if np.isfinite(v) else "–" for v in r]
                 for idx, r in ratios.iterrows()]
        text += ["", "### Sampling-time ratio: multi-step method / MAGT", "",
                 _md(["dataset"] + list(ratios.columns), rrows)]
    return "\n".join(text) + "\n"


def scatter_grid(df: pd.DataFrame, max_points: int = 1000):
    """Figure of generated samples: rows = datasets, columns = methods (paper-style grid)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = _check(df)
    smp = df[df["quantity"].str.startswith("sample_x")]
    if smp.empty:
        raise ValueError("df holds no sample rows (quantities sample_x0, sample_x1, ...)")
    if "sample_index" not in smp.columns:
        raise ValueError("sample rows need a sample_index column")
    seed0 = smp.groupby(["manifold", "method"])["seed"].transform("min")
    smp = smp[smp["seed"] == seed0]
    wide = smp.pivot_table(index=["manifold", "method", "sample_index"], columns="quantity",
                           values="value")
    datasets = _order(smp["manifold"], DATASETS)
    methods = _order(smp["method"], METHODS)
    fig, axes = plt.subplots(len(datasets), len(methods), squeeze=False,
                             figsize=(1.6 * len(methods), 1.6 * len(datasets)))
    for i, ds in enumerate(datasets):
        block = wide.loc[ds]
        coords = [c for c in block.columns if block[c].notna().any()]
        top = sorted(np.argsort([-np.nanvar(block[c]) for c in coords])[:2])
        cx, cy = coords[top[0]], coords[top[-1]] if len(top) > 1 else coords[top[0]]
        lo = np.nanpercentile(block[[cx, cy]].to_numpy(), 0.5, axis=0)
        hi = np.nanpercentile(block[[cx, cy]].to_numpy(), 99.5, axis=0)
        pad = 0.1 * (hi - lo + 1e-9)
        for j, me in enumerate(methods):
            ax = axes[i, j]
            if me in block.index.get_level_values(0):
                pts = block.loc[me].iloc[:max_points]
                ax.scatter(pts[cx], pts[cy], s=0.6, alpha=0.6, color="C0", linewidths=0)
            ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
            ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(me, fontsize=7)
            if j == 0:
                ax.set_ylabel(f"{ds}\n({cx[-2:]}, {cy[-2:]})", fontsize=7)
    fig.tight_layout(pad=0.3)
    return fig


_AXIS_LABEL = {"n": "training size n", "K": "anchors K", "t": "smoothing level t"}


def sensitivity_figure(df: pd.DataFrame):
    """MAGT's W2 against n, K and t on each dataset (the paper's sensitivity figure).

    Rows: the swept parameter (n, K, t); columns: datasets. Lines: ``method`` (MAGT, MAGT +
    DDIM refinement) with the mean over seeds and its 95% Student-t interval; dashed: the W2
    floor of the estimator at that sample size; crosses: points where some seed was flagged
    ``under_trained``. Log axes for n, K and W2.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    from .benchmark_claims import seed_interval

    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame; got {type(df).__name__}")
    need = {"manifold", "axis", "seed", "quantity", "value", "n", "K", "t"}
    if not need <= set(df.columns):
        raise ValueError(f"df lacks the sensitivity column(s) {sorted(need - set(df.columns))}")
    if "method" not in df.columns:
        df = df.assign(method="magt")
    w2 = df[df["quantity"] == "w2"].copy()
    if w2.empty:
        raise ValueError("df holds no w2 rows")
    w2["x"] = [float(r[r["axis"]]) for _, r in w2.iterrows()]
    under = df[df["quantity"] == "under_trained"].copy()
    under["x"] = [float(r[r["axis"]]) for _, r in under.iterrows()]
    floor = df[df["quantity"] == "w2_noise_floor"].groupby("manifold")["value"].mean()
    axes_ = [a for a in ("n", "K", "t") if a in set(w2["axis"])]
    datasets = _order(w2["manifold"], DATASETS)
    sns.set_theme(context="paper", style="ticks")
    fig, axs = plt.subplots(len(axes_), len(datasets), squeeze=False,
                            figsize=(max(2.3 * len(datasets), 4.0), 2.0 * len(axes_) + 0.4))
    methods = _order(w2["method"], METHODS)
    palette = dict(zip(methods, sns.color_palette(n_colors=len(methods))))
    for i, a in enumerate(axes_):
        for j, ds in enumerate(datasets):
            ax = axs[i, j]
            sub = w2[(w2["axis"] == a) & (w2["manifold"] == ds)]
            if not sub.empty:
                sns.lineplot(data=sub, x="x", y="value", hue="method", hue_order=methods,
                             palette=palette, marker="o", ax=ax, legend=(i == 0 and j == 0),
                             errorbar=lambda v: seed_interval(v)[1:])
                u = under[(under["axis"] == a) & (under["manifold"] == ds)]
                flagged = u[u["value"] > 0].groupby(["method", "x"]).size()
                means = sub.groupby(["method", "x"])["value"].mean()
                for key in flagged.index:
                    if key in means.index:
                        ax.plot(key[1], means[key], "x", color=palette.get(key[0], "k"), ms=7)
            if ds in floor.index:
                ax.axhline(floor[ds], ls="--", color="0.5", lw=0.8,
                           label="W2 floor" if (i == 0 and j == 0) else None)
            if a in ("n", "K"):
                ax.set_xscale("log")
            if not sub.empty:  # ticks at the swept values, no colliding minor labels
                from matplotlib.ticker import FormatStrFormatter, NullFormatter

                ax.set_xticks(sorted(sub["x"].unique()))
                ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
                ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_yscale("log")
            ax.set_xlabel(_AXIS_LABEL[a])
            ax.set_ylabel("W2" if j == 0 else "")
            if i == 0:
                ax.set_title(ds)
    if axs[0, 0].get_legend() is not None:
        axs[0, 0].legend(fontsize=6, title=None)
    fig.suptitle("MAGT sensitivity: mean W2, 95% seed interval\n"
                 "dashed: W2 floor; x: some seed under-trained", fontsize=8)
    fig.tight_layout()
    return fig


def _save(fig, stem) -> dict:
    import matplotlib.pyplot as plt

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = {}
    for ext, kw in ((".pdf", {"metadata": {"CreationDate": None}}), (".png", {"dpi": 150})):
        target = stem.with_suffix(ext)
        atomic_savefig(fig, target, bbox_inches="tight", **kw)
        paths[ext[1:]] = target
    plt.close(fig)
    return paths


def write_report(df: pd.DataFrame, out_dir=None, figure_stem=None,
                 reference: str = "magt") -> dict:
    """Write ``benchmark_table.csv`` / ``.md`` in ``out_dir`` and/or the scatter grid (atomic).

    Either output is skipped when its argument is None. Returns a dict of the written paths.
    """
    from .workflow import atomic_write

    if out_dir is None and figure_stem is None:
        raise ValueError("give out_dir (the table) and/or figure_stem (the scatter grid)")
    paths = {}
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        table = summary_table(df, reference=reference)
        ratios = time_ratios(table)
        paths = {"csv": out_dir / "benchmark_table.csv", "md": out_dir / "benchmark_table.md"}
        atomic_write(table, paths["csv"])
        atomic_write_text(paths["md"], to_markdown(table, ratios))
    if figure_stem is not None:
        paths.update(_save(scatter_grid(df), figure_stem))
    return paths


def write_sensitivity_figure(df: pd.DataFrame, stem) -> dict:
    """Write :func:`sensitivity_figure` of ``df`` to ``<stem>.pdf`` and ``<stem>.png`` (atomic).

    Returns a dict ``{"pdf": path, "png": path}``.
    """
    return _save(sensitivity_figure(df), stem)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit("python -m magt_theory.benchmark_report is now the subcommand "
                     "`magt-theory benchmark-report` (python -m magt_theory benchmark-report)")
