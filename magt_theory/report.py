"""The README's verdict table, generated from a committed ``verdicts.csv``, and its provenance.

``magt-theory readme-table results/default/verdicts.csv`` rewrites the part of ``README.md``
between the markers :data:`BEGIN` and :data:`END` with :func:`summary_table` of the file (one
line per claim: experiment, quantity vs swept variable, source, error direction, fitted slopes,
predicted slopes, verdict counts, tight count, negative control); ``--check`` only says whether
the README is up to date (exit status 1 when not). ``--section benchmark`` does the same for the
MAGT §5 claims of ``results/benchmark/verdicts.csv`` between :data:`BENCH_BEGIN` and
:data:`BENCH_END`, as a claim x dataset grid (:func:`benchmark_grid`). The verdicts rule of the workflow writes
:func:`write_provenance` next to ``verdicts.csv``: the git commit and config the table came
from.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import atomic_write_text

__all__ = ["BEGIN", "END", "BENCH_BEGIN", "BENCH_END", "PROVENANCE_NAME", "SECTIONS",
           "summary_table", "benchmark_grid", "render_readme", "update_readme",
           "write_provenance", "provenance_path"]

BEGIN = "<!-- verdicts:begin -->"
END = "<!-- verdicts:end -->"
BENCH_BEGIN = "<!-- benchmark-verdicts:begin -->"
BENCH_END = "<!-- benchmark-verdicts:end -->"
#: README sections a verdict file can fill: name -> (markers, table builder) (set below)
SECTIONS: dict = {}
PROVENANCE_NAME = "verdicts.provenance.json"

_ORDER = ("consistent", "inconsistent", "inconclusive", "exact", "diagnostic")
_KEYS = ["experiment", "quantity", "swept", "source", "claim"]


def _fmt(v: float) -> str:
    return f"{v:.2f}" if np.isfinite(v) else "-"


def _span(values) -> str:
    v = np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return "-"
    lo, hi = float(v.min()), float(v.max())
    return _fmt(lo) if np.isclose(lo, hi, atol=5e-3) else f"{_fmt(lo)} to {_fmt(hi)}"


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def summary_table(verdicts: pd.DataFrame) -> str:
    """One markdown line per claim (rows sharing experiment, quantity, swept, source, claim).

    Parameters
    ----------
    verdicts : pandas.DataFrame
        A ``verdicts.csv`` table (:data:`magt_theory.analysis.VERDICT_COLUMNS`).

    Returns
    -------
    str
        A markdown table ending in a newline; rows in the file's order of first appearance.
    """
    from .analysis import VERDICT_COLUMNS

    missing = sorted(set(VERDICT_COLUMNS) - set(verdicts.columns))
    if missing:
        raise ValueError(f"verdicts lacks column(s) {missing}")
    df = verdicts.copy()
    for col in _KEYS + ["direction", "control", "verdict"]:
        df[col] = df[col].fillna("").astype(str)
    df["tight"] = df["tight"].astype(str).str.lower().isin(["true", "1"])
    lines = ["| experiment | quantity vs swept | source | direction | fitted slopes | predicted "
             "| verdicts | tight | negative control |",
             "|:--|:--|:--|:--|:--|:--|:--|:--|:--|"]
    for _, g in df.groupby(_KEYS, sort=False):
        first = g.iloc[0]
        counts = g["verdict"].value_counts()
        verdict = ", ".join(f"{int(counts[k])} {k}" for k in _ORDER if k in counts)
        judged = g[~g["verdict"].isin(["diagnostic", "exact"])]
        tight = f"{int(judged['tight'].sum())}/{len(judged)}" if len(judged) else "-"
        dirs = ", ".join(sorted({d for d in g["direction"] if d})) or "-"
        ctrl = ", ".join(sorted({c for c in g["control"] if c})) or "-"
        what = first["quantity"] + (f" vs {first['swept']}" if first["swept"] else "")
        lines.append("| " + " | ".join(_cell(c) for c in (
            first["experiment"], what, first["source"], dirs, _span(g["fitted_slope"]),
            _span(g["predicted_slope"]), verdict, tight, ctrl)) + " |")
    return "\n".join(lines) + "\n"


_BENCH_EXPERIMENTS = ("benchmark", "sensitivity")


def benchmark_grid(verdicts: pd.DataFrame) -> str:
    """The MAGT §5 claims as a markdown grid: one line per claim, one column per dataset.

    A claim is a (experiment, quantity, swept) triple of the ``benchmark`` and ``sensitivity``
    rows; its label is the claim text of ``source`` (after the paper reference). Cells are the
    verdicts; the last columns count the datasets where the claim held (``consistent``) and
    name the negative control.
    """
    b = verdicts[verdicts["experiment"].isin(_BENCH_EXPERIMENTS)]
    if b.empty:
        raise ValueError("verdicts has no benchmark or sensitivity rows")
    from .experiments._bench_data import DATASETS  # the paper's order first

    seen = list(dict.fromkeys(b["manifold"]))
    datasets = [m for m in DATASETS if m in seen] + [m for m in seen if m not in DATASETS]
    head = ["claim (MAGT §5)", *datasets, "held", "control"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, g in b.groupby(["experiment", "quantity", "swept"], sort=False):
        label = str(g["source"].iloc[0]).split(": ", 1)[-1]
        cells = {m: v for m, v in zip(g["manifold"], g["verdict"])}
        held = sum(v == "consistent" for v in cells.values())
        row = [_cell(label), *(cells.get(m, "-") for m in datasets),
               f"{held}/{len(cells)}", _cell(g["control"].iloc[0])]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


SECTIONS.update({"verdicts": ((BEGIN, END), summary_table),
                 "benchmark": ((BENCH_BEGIN, BENCH_END), benchmark_grid)})


def render_readme(readme: str, table: str, markers=(BEGIN, END)) -> str:
    """``readme`` with the text between the ``markers`` (default :data:`BEGIN`, :data:`END`)
    replaced by ``table``."""
    begin, end = markers
    if readme.count(begin) != 1 or readme.count(end) != 1:
        raise ValueError(f"README must contain exactly one {begin!r} and one {end!r} marker")
    head, rest = readme.split(begin)
    _, tail = rest.split(end)
    return f"{head}{begin}\n{table}{end}{tail}"


def update_readme(verdicts_csv, readme="README.md", check: bool = False,
                  section: str = "verdicts") -> bool:
    """Regenerate (or, with ``check``, compare) a README table from a verdicts file.

    ``section`` is a key of :data:`SECTIONS`: ``"verdicts"`` (the default run's claim table) or
    ``"benchmark"`` (the MAGT §5 claim x dataset grid).

    Returns
    -------
    bool
        True when the README already matched the file (with ``check``) or was rewritten.
    """
    if section not in SECTIONS:
        raise ValueError(f"section must be one of {sorted(SECTIONS)}; got {section!r}")
    markers, build = SECTIONS[section]
    table = build(pd.read_csv(verdicts_csv))
    text = Path(readme).read_text()
    new = render_readme(text, table, markers)
    if check:
        return new == text
    if new != text:
        atomic_write_text(readme, new)
    return True


def provenance_path(verdicts_csv) -> Path:
    """Where :func:`write_provenance` puts the provenance of ``verdicts_csv``."""
    return Path(verdicts_csv).with_name(PROVENANCE_NAME)


def _git(*args: str, cwd) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                             timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def write_provenance(verdicts_csv, config: str, cwd=None) -> Path:
    """Write ``verdicts.provenance.json`` next to ``verdicts_csv`` (atomically).

    Holds the git commit of the working tree (``commit``; ``dirty`` = uncommitted changes to
    tracked files other than the workflow's own outputs under ``results/`` and
    ``paper_figures/``, which a run rewrites), the config name, and the SHA-256 of the verdicts file, so that a committed
    table says which code and which config produced it.
    """
    path = Path(verdicts_csv)
    cwd = cwd or os.getcwd()
    info = {
        "verdicts": path.name,
        "config": str(config),
        "commit": _git("rev-parse", "HEAD", cwd=cwd) or None,
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no", "--", ".",
                           ":(exclude)results", ":(exclude)paper_figures", cwd=cwd)),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    out = provenance_path(path)
    atomic_write_text(out, json.dumps(info, indent=1, sort_keys=True) + "\n")
    return out


def cmd_readme_table(args: argparse.Namespace) -> int:
    """``readme-table``: regenerate or check the README's verdict table.

    ``args`` holds ``verdicts``, ``readme`` and ``check`` (parsed by :mod:`magt_theory.cli`).
    """
    section = getattr(args, "section", "verdicts")
    ok = update_readme(args.verdicts, args.readme, check=args.check, section=section)
    if args.check and not ok:
        print(f"{args.readme}: {section} table differs from {args.verdicts}; run "
              f"`magt-theory readme-table {args.verdicts} --section {section}`")
        return 1
    return 0
